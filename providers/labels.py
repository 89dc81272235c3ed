"""Chinese labels for registry codes."""

REGISTRY_STATUS_LABELS = {
    "unlisted": "未入库",
    "listed": "在库",
    "warned": "警示",
    "suspended": "暂停",
    "removed": "移出",
    "expired": "过期",
}

CHANNEL_LABELS = {"self": "自荐", "recommended": "推荐"}

APPLICATION_STATE_LABELS = {
    "draft": "草稿",
    "submitted": "已提交",
    "under_review": "审核中",
    "approved": "已通过",
    "rejected": "未通过",
    "returned": "退回修改",
}

BATCH_STATE_LABELS = {"draft": "编制中", "notice": "公示中", "published": "已发布"}

OBJECTION_OUTCOME_LABELS = {"upheld": "异议成立", "dismissed": "异议不成立"}
DECISION_LABELS = {"approve": "通过", "reject": "不通过", "return": "退回修改"}
PROPOSAL_STATE_LABELS = {"open": "待确认", "confirmed": "已确认", "dismissed": "已驳回"}
DIRECTORY_STATUS_LABELS = {"listed": REGISTRY_STATUS_LABELS["listed"], "warned": REGISTRY_STATUS_LABELS["warned"]}
DIRECTORY_SORT_LABELS = {
    "name": "按名称",
    "-name": "按名称倒序",
    "listed_since": "按入库时间",
    "-listed_since": "按入库时间倒序",
    "capacity": "按服务能力",
    "-capacity": "按服务能力倒序",
}

ALLIANCE_STATUS_LABELS = {"proposed": "待市建委批准", "approved": "已批准"}
MEMBER_ROLE_LABELS = {"integrated": "综合运营", "specialist": "专项服务"}

ENUM_LABELS = {
    "DirectoryStatus": DIRECTORY_STATUS_LABELS,
    "DirectorySort": DIRECTORY_SORT_LABELS,
    "ProposalState": PROPOSAL_STATE_LABELS,
    "RegistryStatus": REGISTRY_STATUS_LABELS,
    "Channel": CHANNEL_LABELS,
    "ApplicationState": APPLICATION_STATE_LABELS,
    "BatchState": BATCH_STATE_LABELS,
    "DecisionKind": DECISION_LABELS,
    "AllianceStatus": ALLIANCE_STATUS_LABELS,
    "MemberRole": MEMBER_ROLE_LABELS,
}
