"""Chinese labels for scheduler codes."""

RUN_STATUS_LABELS = {"running": "运行中", "succeeded": "成功", "failed": "失败"}
FLAG_STATE_LABELS = {"open": "待处理", "resolved": "已办结", "all": "全部"}

ENUM_LABELS = {"RunStatus": RUN_STATUS_LABELS, "FlagState": FLAG_STATE_LABELS}
