"""Chinese labels for market codes."""

COMMUNITY_TYPE_LABELS = {"renovation": "旧改类", "new_build": "新建类"}
COMMUNITY_TIER_LABELS = {"inclusive": "普惠型", "leading": "引领型"}
COMMUNITY_POOL_LABELS = {"creation": "创建型", "reserve": "储备型", "basic": "基础型"}
CREATION_LEVEL_LABELS = {"province": "省级", "city": "市级", "joint": "省市联创", "undecided": "待定"}
COMMUNITY_STATUS_LABELS = {"planning": "规划中", "building": "建设中", "accepted": "已验收", "operating": "运营中"}

NEED_STATUS_LABELS = {"open": "待对接", "matched": "已对接", "closed": "已关闭"}
PRIORITY_LABELS = {1: "高", 2: "中", 3: "低"}

CONTRACT_STATUS_LABELS = {
    "draft": "拟签",
    "active": "履约中",
    "expiring": "即将到期",
    "renewed": "已续签",
    "terminated": "已终止",
}

LEDGER_KIND_LABELS = {
    "rent": "租金收入",
    "service_revenue": "服务收入",
    "subsidy": "补助资金",
    "other_income": "其他收入",
    "staff": "人员成本",
    "utilities": "水电能耗",
    "maintenance": "维护维修",
    "service_fee": "运营服务费",
    "other_cost": "其他成本",
}
INCOME_KINDS = ("rent", "service_revenue", "subsidy", "other_income")
COST_KINDS = ("staff", "utilities", "maintenance", "service_fee", "other_cost")
DIRECTION_LABELS = {"income": "收入", "cost": "成本"}

PLAN_LINE_STATE_LABELS = {"proposed": "待确认", "accepted": "已采纳", "rejected": "未采纳"}
BALANCE_STATUS_LABELS = {"balanced": "平衡", "warning": "预警", "imbalanced": "失衡", "no_data": "暂无收支数据"}
ACCEPTANCE_LEVEL_LABELS = {"none": "未验收", "city": "市级验收", "province": "省级验收"}

REGISTRY_DECISION_LABELS = {"continue": "继续履行至合同期满", "terminate": "终止合同"}

FUND_MOVEMENT_KIND_LABELS = {
    "donation": "社会捐赠",
    "subsidy": "补助资金",
    "grant": "公益资助",
    "points_payout": "积分兑付",
}
FUND_DIRECTION_LABELS = {"in": "收入", "out": "支出"}
CONTRACT_KIND_LABELS = {"service": "服务合同", "franchise": "特许经营"}

ENUM_LABELS = {
    "BalanceStatus": BALANCE_STATUS_LABELS,
    "AcceptanceLevel": ACCEPTANCE_LEVEL_LABELS,
    "CommunityType": COMMUNITY_TYPE_LABELS,
    "CommunityTier": COMMUNITY_TIER_LABELS,
    "CommunityPool": COMMUNITY_POOL_LABELS,
    "CreationLevel": CREATION_LEVEL_LABELS,
    "CommunityStatus": COMMUNITY_STATUS_LABELS,
    "NeedStatus": NEED_STATUS_LABELS,
    "ContractStatus": CONTRACT_STATUS_LABELS,
    "LedgerKind": LEDGER_KIND_LABELS,
    "PlanLineState": PLAN_LINE_STATE_LABELS,
    "RegistryDecision": REGISTRY_DECISION_LABELS,
    "ContractKind": CONTRACT_KIND_LABELS,
    "PlatformLevel": {"city": "市级国企平台", "district": "区级国企平台"},
    "FundInKind": {k: FUND_MOVEMENT_KIND_LABELS[k] for k in ("donation", "subsidy")},
}

PLATFORM_LEVEL_LABELS = {"city": "市级国企平台", "district": "区级国企平台"}
MASTER_CONTRACT_STATUS_LABELS = {"active": "履约中", "ended": "已终止"}
