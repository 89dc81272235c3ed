"""The one mapping from errors to HTTP: every error body is {"code", "message", "detail"}."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import asyncpg
import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    InternalServerException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    TooManyRequestsException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import ExceptionHandlersMap

from core.errors import DomainError, InvalidCharacter
from core.settings import get_settings

log = logging.getLogger("core.http")


def error_response(
    status: int, code: str, message: str, detail: object = None, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        content={"code": code, "message": message, "detail": detail},
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


def handle_domain_error(_: Request, exc: DomainError) -> Response:
    return error_response(exc.status_code, exc.code, exc.message, exc.detail)


TYPE_NAMES = {
    "str": "字符串",
    "int": "整数",
    "float": "数字",
    "decimal": "数字",
    "bool": "布尔值",
    "date": "日期(YYYY-MM-DD)",
    "datetime": "日期时间(RFC 3339)",
    "array": "列表",
    "object": "对象",
    "null": "空值",
}
_BOUND = {">=": "不小于", ">": "大于", "<=": "不超过", "<": "小于"}
# msgspec's messages have a stable shape; each pattern gives the Chinese for what was expected.
MSGSPEC_MESSAGES: list[tuple[re.Pattern, Callable[[re.Match], str]]] = [
    (
        re.compile(r"Expected `(?P<t>[^`]+)`, got `\w+`"),
        lambda m: "应为" + "或".join(TYPE_NAMES.get(t.strip(), t.strip()) for t in m["t"].split("|")),
    ),
    (
        re.compile(r"Expected `(str|array|object)` of length (?P<op>[<>]=?) (?P<n>\d+)"),
        lambda m: f"长度应{_BOUND[m['op']]} {m['n']}",
    ),
    (
        re.compile(r"Expected `(int|float|decimal)` (?P<op>[<>]=?) (?P<n>\S+)"),
        lambda m: f"取值范围：应{_BOUND[m['op']]} {m['n']}",
    ),
    (re.compile(r"Expected `str` matching regex"), lambda m: "格式不正确"),
    (re.compile(r"Invalid enum value"), lambda m: "取值不在允许范围内"),
    (re.compile(r"Invalid RFC3339 encoded date$"), lambda m: "应为日期(YYYY-MM-DD)"),
    (re.compile(r"Invalid RFC3339 encoded datetime"), lambda m: "应为日期时间(RFC 3339)"),
    (re.compile(r"Invalid decimal string"), lambda m: "应为数字"),
]
_FIELD_IN_MESSAGE = re.compile(r"Object (missing required|contains unknown) field `(?P<name>[^`]+)`")


def _aliases(request: Request) -> dict[str, str]:
    """Handler and dependency argument names → the names clients send (`status_filter` → `status`)."""
    handler = request.route_handler
    models = [
        handler.signature_model,
        *(
            p.signature_model
            for p in handler.resolve_dependencies().values()
            if getattr(p, "signature_model", None) is not None
        ),
    ]
    found = {}
    for model in models:
        for name, definition in model._fields.items():
            kwarg = definition.kwarg_definition
            alias = getattr(kwarg, "query", None) or getattr(kwarg, "header", None) or getattr(kwarg, "cookie", None)
            if alias:
                found[name] = alias
    return found


def _allowed_values(request: Request, key: str, source: object) -> list | None:
    """The values an enum field takes: its type found by following `key` from the handler's argument."""
    fields = request.route_handler.signature_model._fields
    name, path = ("data", re.findall(r"\[\d+\]|\w+", key)) if source == "body" else (key, [])
    if name not in fields:
        return None
    info: msgspec.inspect.Type | None = msgspec.inspect.type_info(fields[name].annotation)
    for step in [*path, None]:
        while isinstance(info, msgspec.inspect.Metadata | msgspec.inspect.UnionType):
            info = (
                info.type
                if isinstance(info, msgspec.inspect.Metadata)
                else next((t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)), None)
            )
        if step is None:
            break
        if step.startswith("[") and isinstance(info, msgspec.inspect.ListType | msgspec.inspect.SetType):
            info = info.item_type
        elif isinstance(info, msgspec.inspect.StructType):
            info = next((f.type for f in info.fields if f.encode_name == step), None)
        else:
            return None
    if isinstance(info, msgspec.inspect.EnumType):
        return [member.value for member in info.cls]
    return list(info.values) if isinstance(info, msgspec.inspect.LiteralType) else None


def _problem(raw: dict, aliases: dict[str, str], request: Request) -> dict:
    """One problem Litestar reports ({key, message, source}) as {field, source, message, reason}: the field as
    the client names it (a JSON path in the body), the message in Chinese, msgspec's English kept as reason."""
    reason, key, source = str(raw.get("message", "")), str(raw.get("key", "")), raw.get("source")
    if source == "body" or key == "data":
        source = "body"
        field = "$" if key == "data" else f"$.{key}"
    else:
        field = aliases.get(key, key)
    named = _FIELD_IN_MESSAGE.match(reason)
    if reason == "'data'":  # the body Litestar found no value for
        message = "请求体不能为空"
    elif named:
        field = f"{field}.{named['name']}"
        message = (
            f"缺少必填字段 {named['name']}"
            if named[1] == "missing required"
            else f"不允许的字段 {named['name']}（未知字段）"
        )
    else:
        text = next((say(m) for pattern, say in MSGSPEC_MESSAGES if (m := pattern.match(reason))), "取值不符合要求")
        if reason.startswith("Invalid enum value") and (allowed := _allowed_values(request, key, source)):
            text = "应为以下之一：" + "、".join(map(str, allowed))
        message = f"请求体{text}" if field == "$" else f"{field.removeprefix('$.')}：{text}"
    return {"field": field, "source": source, "message": message, "reason": reason}


_MISSING_PARAMETER = re.compile(r"Missing required (?P<source>\w+) parameter '(?P<name>[^']+)'")


def handle_validation(request: Request, exc: ValidationException) -> Response:
    """Unknown fields are a 400; values of the wrong type or out of range are a 422. Every problem names its
    field and says in Chinese what was expected; the first one is the answer's message."""
    if isinstance(exc.extra, list) and exc.extra:
        aliases = _aliases(request)
        problems = [_problem(p if isinstance(p, dict) else {"message": str(p)}, aliases, request) for p in exc.extra]
    elif missing := _MISSING_PARAMETER.search(str(exc.detail)):
        problems = [
            {
                "field": missing["name"],
                "source": missing["source"],
                "message": f"缺少必填参数 {missing['name']}",
                "reason": str(exc.detail),
            }
        ]
    else:
        problems = [{"field": "$", "source": "body", "message": "请求数据不符合要求", "reason": str(exc.detail)}]
    detail = {**problems[0], "problems": problems}
    if any(p["reason"].startswith("Object contains unknown field") for p in problems):
        return error_response(400, "request.unknown_field", problems[0]["message"], detail)
    return error_response(422, "request.validation_failed", problems[0]["message"], detail)


def _first_nul(value: object, path: str) -> str | None:
    """The JSON path of the first string (or key) in `value` holding a NUL character."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, list):
        return next((found for i, item in enumerate(value) if (found := _first_nul(item, f"{path}[{i}]"))), None)
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return f"{path}.{key}"
            if found := _first_nul(item, f"{path}.{key}"):
                return found
    return None


async def refuse_nul_characters(request: Request) -> None:
    """before_request: PostgreSQL text cannot hold NUL, so a value with one would only fail at the database,
    with no field named. It is refused here, naming the parameter or the body's JSON path."""
    for name, value in [*request.query_params.multi_items(), *request.path_params.items()]:
        if "\x00" in name or (isinstance(value, str) and "\x00" in value):
            raise InvalidCharacter(f"{name}：{InvalidCharacter.message}", detail={"field": name})
    if request.method in ("POST", "PUT", "PATCH") and "json" in request.headers.get("content-type", ""):
        body = await request.body()
        if b"\\u0000" not in body:  # JSON can only carry NUL escaped
            return
        try:
            field = _first_nul(msgspec.json.decode(body), "$")
        except msgspec.DecodeError:
            return  # the body parser answers that
        if field is not None:
            raise InvalidCharacter(
                f"{field.removeprefix('$.')}：{InvalidCharacter.message}", detail={"field": field, "source": "body"}
            )


HTTP_CODES = {
    NotAuthorizedException: (401, "auth.not_authenticated", "请先登录或登录已失效"),
    PermissionDeniedException: (403, "auth.forbidden", "无权执行此操作"),
    NotFoundException: (404, "not_found", "请求的资源不存在"),
    MethodNotAllowedException: (405, "method_not_allowed", "不支持该请求方法"),
    TooManyRequestsException: (429, "rate_limited", "请求过于频繁，请稍后再试"),
    RequestEntityTooLarge: (413, "request.too_large", "请求体超过允许的大小"),
}


def _retry_after(exc: HTTPException) -> dict[str, str]:
    """Seconds until the rate-limit window that refused the request ends (Litestar says it as RateLimit-Reset)."""
    reset = {k.lower(): v for k, v in (exc.headers or {}).items()}.get("ratelimit-reset", "60")
    return {"Retry-After": str(max(1, int(reset)))}


_BODY_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$\.data(?:\.(?P<key>.+))?`)$", re.S)


def _body_problem_taken_for_server_error(exc: HTTPException) -> dict | None:
    """Litestar answers 500 when a body field's error carries the name of a dependency (`{"period": {}}`
    against the `period` dependency): it takes the client's mistake for the server's. Such an error is
    recovered from its cause and answered as the validation error it is."""
    cause = exc.__cause__
    if not isinstance(exc, InternalServerException) or not isinstance(cause, msgspec.ValidationError):
        return None
    found = _BODY_PATH.match(str(cause))
    if found is None:
        return None
    return {"message": found["message"], "key": found["key"] or "data", "source": "body"}


def handle_http(request: Request, exc: HTTPException) -> Response:
    for exc_type, (status, code, message) in HTTP_CODES.items():
        if isinstance(exc, exc_type):
            headers = _retry_after(exc) if status == 429 else None
            detail = {"max_bytes": get_settings().request_max_body_bytes} if status == 413 else None
            return error_response(status, code, message, detail, headers)
    if exc.status_code == 400:
        # Litestar raises a plain 400 when the body cannot be decoded at all.
        return error_response(400, "request.malformed", "请求体无法解析（不是合法的 JSON）", None)
    if exc.status_code >= 500:
        if (problem := _body_problem_taken_for_server_error(exc)) is not None:
            return handle_validation(request, ValidationException(extra=[problem]))
        log.error("HTTP %s: %s", exc.status_code, exc.detail)
        return error_response(exc.status_code, "internal.error", "服务器内部错误，请稍后再试", None)
    return error_response(exc.status_code, "request.invalid", "请求无效", None)


def handle_integrity(_: Request, exc: asyncpg.IntegrityConstraintViolationError) -> Response:
    """A constraint the service did not check first (usually a race): a conflict, never a 500."""
    log.info("constraint violation: %s", exc.__class__.__name__)
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return error_response(409, "conflict.reference", "引用的数据不存在或已被删除", None)
    return error_response(409, "conflict", "与现有数据冲突，请刷新后重试", None)


DATABASE_DOWN = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)
# Client-side state errors of a connection the server cut (also raised on misuse, so logged in full).
DATABASE_CLIENT_STATE = (asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError)


def _raised_in_asyncpg(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__", "").startswith("asyncpg."):
            return True
        tb = tb.tb_next
    return False


def database_unreachable(exc: BaseException) -> bool:
    """Whether the error, or one it was raised while handling (a broken transaction fails again at its
    rollback), is the database being unreachable: restarting, refusing connections, a connection cut."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DATABASE_DOWN + DATABASE_CLIENT_STATE):
            return True
        if isinstance(current, OSError | TimeoutError) and _raised_in_asyncpg(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def handle_data_error(_: Request, exc: asyncpg.DataError) -> Response:
    """A value the database cannot hold (an id or amount beyond its column's range): the input is at fault."""
    log.info("value rejected by the database: %s", exc)
    return error_response(422, "request.value_out_of_range", "数值超出允许范围", None)


def handle_unexpected(_: Request, exc: Exception) -> Response:
    if database_unreachable(exc):
        if isinstance(exc, DATABASE_CLIENT_STATE):
            log.error("database connection unusable", exc_info=exc)
        else:
            log.warning("database unreachable: %s: %s", exc.__class__.__name__, exc)
        return error_response(
            503, "service.database_unavailable", "数据库暂时无法访问，请稍后再试", None, {"Retry-After": "5"}
        )
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal.error", "服务器内部错误，请稍后再试", None)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: handle_domain_error,
    ValidationException: handle_validation,
    HTTPException: handle_http,
    asyncpg.IntegrityConstraintViolationError: handle_integrity,
    asyncpg.DataError: handle_data_error,
    Exception: handle_unexpected,
}
