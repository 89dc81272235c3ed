"""The scheduler's domain errors."""

from __future__ import annotations

from core.errors import NotFound


class JobNotFound(NotFound):
    code = "job.not_found"
    message = "没有这个定时任务"


class FlagNotFound(NotFound):
    code = "flag.not_found"
    message = "待办事项不存在或无权查看"
