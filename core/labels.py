"""Chinese labels shown to people for codes stored in English."""

ROLE_LABELS = {
    "operator": "运营商",
    "street": "街道/乡镇",
    "district": "区县（市）",
    "city": "市建委",
    "owner": "国有产权单位",
    "auditor": "审计（只读）",
    "resident": "居民",
    "surveyor": "第三方测评机构",
}

ORG_KIND_LABELS = {
    "city": "市",
    "district": "区县（市）",
    "street": "街道/乡镇",
    "community": "社区",
    "operator": "运营企业",
    "owner": "国有产权单位",
}

DAY_KIND_LABELS = {"holiday": "放假", "workday": "调休上班"}

# Enum class name → labels, for the API document.
ENUM_LABELS = {"Role": ROLE_LABELS, "OrgKind": ORG_KIND_LABELS, "DayKind": DAY_KIND_LABELS}
