"""Chinese labels for residents' codes."""

POLL_STATE_LABELS = {"open": "进行中", "closed": "已结束"}
OPTION_KIND_LABELS = {"operator": "运营商", "package": "服务套餐"}


ACCOUNT_KIND_LABELS = {
    "resident": "居民积分",
    "pool": "社区积分池",
    "clearing": "运营商待结算积分",
    "expired": "过期积分",
    "time": "时间银行",
    "time_pool": "社区时间银行",
    "time_used": "已支取时长",
}
ACTIVITY_KIND_LABELS = {"ordinary": "志愿服务（积分）", "elderly_care": "养老服务（时间银行）"}
REDEMPTION_STATE_LABELS = {"redeemed": "已兑换待服务", "delivered": "已服务", "cancelled": "已取消"}
WITHDRAWAL_STATE_LABELS = {"requested": "待确认", "confirmed": "已确认"}
SURVEY_STATE_LABELS = {"open": "进行中", "closed": "已结束"}

ENUM_LABELS = {
    "PollState": POLL_STATE_LABELS,
    "OptionKind": OPTION_KIND_LABELS,
    "AccountKind": ACCOUNT_KIND_LABELS,
    "ActivityKind": ACTIVITY_KIND_LABELS,
    "RedemptionState": REDEMPTION_STATE_LABELS,
    "WithdrawalState": WITHDRAWAL_STATE_LABELS,
    "SurveyState": SURVEY_STATE_LABELS,
}
