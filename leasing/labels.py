"""Chinese labels for leasing codes."""

OWNER_KIND_LABELS = {
    "state_owned": "国有企业",
    "institution": "事业单位",
    "community_collective": "社区集体",
    "government": "政府部门",
}
USE_LABELS = {
    "public_service": "公共服务",
    "commerce": "商业",
    "incubation": "创业孵化",
    "elderly_care": "养老",
    "childcare": "托育",
    "culture": "文化",
    "health": "健康",
}
SPACE_STATUS_LABELS = {"idle": "闲置", "listed": "招租中", "leased": "已出租"}
TRACK_LABELS = {"competitive": "竞争性租赁", "preferential": "公益性协议出租"}
LISTING_STATUS_LABELS = {"open": "招租中", "awarded": "已确定承租方", "cancelled": "已撤销"}
APPLICATION_STATUS_LABELS = {"submitted": "已申请", "awarded": "已中选", "not_awarded": "未中选", "withdrawn": "已撤回"}
LEASE_STATUS_LABELS = {
    "active": "履约中",
    "expiring": "即将到期",
    "renewed": "已续租",
    "terminated": "已提前终止",
    "ended": "已到期",
}
INVOICE_KIND_LABELS = {"rent": "租金", "deposit": "押金", "late_fee": "逾期违约金"}
INVOICE_STATUS_LABELS = {"open": "待缴", "paid": "已缴", "overdue": "逾期", "void": "已作废"}
DEPOSIT_STATUS_LABELS = {"pending": "退还处理中", "refunded": "已退还", "retained": "已扣留", "failed": "退还失败"}
PAYMENT_STATUS_LABELS = {"pending": "处理中", "succeeded": "支付成功", "failed": "支付失败"}
LEVEL_LABELS = {"community": "社区", "street": "街道", "district": "区县", "city": "全市"}

ENUM_LABELS = {
    "FiguresLevel": LEVEL_LABELS,
    "OwnerKind": OWNER_KIND_LABELS,
    "SpaceUse": USE_LABELS,
    "SpaceStatus": SPACE_STATUS_LABELS,
    "ListingTrack": TRACK_LABELS,
    "ListingStatus": LISTING_STATUS_LABELS,
    "LeaseApplicationStatus": APPLICATION_STATUS_LABELS,
    "LeaseStatus": LEASE_STATUS_LABELS,
    "InvoiceStatus": INVOICE_STATUS_LABELS,
    "InvoiceKind": INVOICE_KIND_LABELS,
    "PaymentStatus": PAYMENT_STATUS_LABELS,
    "DepositStatus": DEPOSIT_STATUS_LABELS,
}
