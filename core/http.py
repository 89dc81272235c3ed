"""The one mapping from errors to HTTP: every error body is {"code", "message", "detail"}."""

from __future__ import annotations

import logging

import asyncpg
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    TooManyRequestsException,
    ValidationException,
)

from core.errors import DomainError

log = logging.getLogger("core.http")


def error_response(status: int, code: str, message: str, detail: object = None) -> Response:
    return Response(
        content={"code": code, "message": message, "detail": detail},
        status_code=status,
        media_type=MediaType.JSON,
    )


def handle_domain_error(_: Request, exc: DomainError) -> Response:
    return error_response(exc.status_code, exc.code, exc.message, exc.detail)


def handle_validation(_: Request, exc: ValidationException) -> Response:
    """Unknown fields are a 400; values of the wrong type or out of range are a 422."""
    problems = exc.extra if isinstance(exc.extra, list) else None
    if problems and any("unknown field" in str(p.get("message", "")) for p in problems):
        return error_response(400, "request.unknown_field", "请求中包含未知字段", problems)
    return error_response(422, "request.validation_failed", "请求数据不符合要求", problems or str(exc.detail))


HTTP_CODES = {
    NotAuthorizedException: (401, "auth.not_authenticated", "请先登录或登录已失效"),
    PermissionDeniedException: (403, "auth.forbidden", "无权执行此操作"),
    NotFoundException: (404, "not_found", "请求的资源不存在"),
    MethodNotAllowedException: (405, "method_not_allowed", "不支持该请求方法"),
    TooManyRequestsException: (429, "rate_limited", "请求过于频繁，请稍后再试"),
}


def handle_http(_: Request, exc: HTTPException) -> Response:
    for exc_type, (status, code, message) in HTTP_CODES.items():
        if isinstance(exc, exc_type):
            return error_response(status, code, message, None)
    if exc.status_code == 400:
        # Litestar raises a plain 400 when the body cannot be decoded at all.
        return error_response(400, "request.malformed", "请求体无法解析（不是合法的 JSON）", None)
    if exc.status_code >= 500:
        log.error("HTTP %s: %s", exc.status_code, exc.detail)
        return error_response(exc.status_code, "internal.error", "服务器内部错误，请稍后再试", None)
    return error_response(exc.status_code, "request.invalid", "请求无效", None)


def handle_integrity(_: Request, exc: asyncpg.IntegrityConstraintViolationError) -> Response:
    """A constraint the service did not check first (usually a race): a conflict, never a 500."""
    log.info("constraint violation: %s", exc.__class__.__name__)
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return error_response(409, "conflict.reference", "引用的数据不存在或已被删除", None)
    return error_response(409, "conflict", "与现有数据冲突，请刷新后重试", None)


def handle_unexpected(_: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal.error", "服务器内部错误，请稍后再试", None)


EXCEPTION_HANDLERS = {
    DomainError: handle_domain_error,
    ValidationException: handle_validation,
    HTTPException: handle_http,
    asyncpg.IntegrityConstraintViolationError: handle_integrity,
    Exception: handle_unexpected,
}
