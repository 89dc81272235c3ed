"""Chinese labels for residents' codes."""

POLL_STATE_LABELS = {"open": "进行中", "closed": "已结束"}
OPTION_KIND_LABELS = {"operator": "运营商", "package": "服务套餐"}

SURVEY_STATE_LABELS = {"open": "进行中", "closed": "已结束"}

ENUM_LABELS = {
    "PollState": POLL_STATE_LABELS,
    "OptionKind": OPTION_KIND_LABELS,
    "SurveyState": SURVEY_STATE_LABELS,
}
