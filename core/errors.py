"""Domain errors: a stable code, a Chinese message for people, and the HTTP status they map to."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code: int = 400
    code: str = "request.invalid"
    message: str = "请求无效"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        detail: Any = None,
        status_code: int | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.detail = detail
        if status_code is not None:
            self.status_code = status_code
        super().__init__(f"{self.code}: {self.message}")


class ValidationFailed(DomainError):
    status_code = 422
    code = "request.validation_failed"
    message = "提交的数据不符合要求"


class NotAuthenticated(DomainError):
    status_code = 401
    code = "auth.not_authenticated"
    message = "请先登录"


class PermissionDenied(DomainError):
    status_code = 403
    code = "auth.forbidden"
    message = "无权执行此操作"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"
    message = "记录不存在或无权查看"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"
    message = "与现有数据冲突"


class TooManyRequests(DomainError):
    status_code = 429
    code = "rate_limited"
    message = "请求过于频繁，请稍后再试"


class ReasonRequired(DomainError):
    status_code = 422
    code = "decision.reason_required"
    message = "作出决定必须填写理由"


def require_reason(reason: str) -> str:
    """Every decision carries a reason: the text, trimmed, or ReasonRequired."""
    if not reason or not reason.strip():
        raise ReasonRequired()
    return reason.strip()


class DateOutOfRange(DomainError):
    status_code = 422
    code = "request.date_out_of_range"
    message = "日期超出允许范围（2000-01-01 至 2100-12-31）"


class DateRangeInvalid(DomainError):
    status_code = 422
    code = "request.date_range_invalid"
    message = "开始日期必须早于结束日期"


class InvalidCharacter(DomainError):
    status_code = 422
    code = "request.invalid_character"
    message = "不能包含空字符（\\u0000）"
