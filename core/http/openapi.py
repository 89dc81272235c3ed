"""The API document: error answers, optional bodies, enum labels and idempotency keys, as the API behaves."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields

from litestar import MediaType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Parameter,
    Reference,
    Schema,
)

from core.schemas import ErrorBody

# Every error answer is the one body of core/http/exceptions.py. Statuses that follow from an operation's
# shape are declared here for all operations; those that follow from its rules (403, 409, a 404 for an id
# in the body) are declared on the route with `responses=errors(...)`.
ERROR_DESCRIPTIONS = {
    400: "请求体无法解析，或包含未知字段",
    401: "未登录或登录已失效",
    403: "无权执行此操作",
    404: "请求的资源不存在或无权查看",
    409: "与现有数据或当前状态冲突",
    413: "请求体超过允许的大小",
    422: "请求数据不符合要求",
    429: "请求过于频繁或账户暂时锁定",
    503: "数据库暂时无法访问",
}
ERROR_BODY_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["code", "message"],
    properties={
        "code": Schema(type=OpenAPIType.STRING),
        "message": Schema(type=OpenAPIType.STRING),
        "detail": Schema(),
    },
)


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    """Error statuses a route answers because of its rules, for its `responses=`."""
    return {
        status: ResponseSpec(data_container=ErrorBody, generate_examples=False, description=ERROR_DESCRIPTIONS[status])
        for status in statuses
    }


def _error_response(status: int) -> OpenAPIResponse:
    return OpenAPIResponse(
        description=ERROR_DESCRIPTIONS[status],
        content={MediaType.JSON: OpenAPIMediaType(schema=Reference(ref="#/components/schemas/ErrorBody"))},
    )


def _is_error_body(response: OpenAPIResponse | Reference) -> bool:
    media = (getattr(response, "content", None) or {}).get(MediaType.JSON)
    return media is not None and isinstance(media.schema, Reference) and media.schema.ref.endswith("/ErrorBody")


@dataclass
class LabelledSchema(Schema):
    """An enum's schema with the Chinese label of each value, as the extension x-enum-labels."""

    enum_labels: dict[str, str] | None = field(default=None, metadata={"alias": "x-enum-labels"})


def document_enum_labels(document: OpenAPI, labels: dict[str, dict]) -> None:
    """Every enum (a component named after its class) carries the labels people see, as x-enum-labels and in
    its description. `labels` maps an enum's class name to {value: label}."""
    schemas = document.components.schemas
    for name, schema in list(schemas.items()):
        if not isinstance(schema, Schema) or not schema.enum or (found := labels.get(schema.title or name)) is None:
            continue
        values = [value for value in schema.enum if value is not None]
        labelled = LabelledSchema(
            **{f.name: getattr(schema, f.name) for f in fields(Schema) if f.init},
            enum_labels={value: found[value] for value in values},
        )
        labelled.description = "；".join(f"{value}：{found[value]}" for value in values)
        schemas[name] = labelled


def document_optional_bodies(document: OpenAPI) -> None:
    """A body the handler takes as `X | None = None` may be left out (the request then carries none), but
    Litestar marks every body as required: such bodies, whose schema admits null, are declared optional."""
    for item in (document.paths or {}).values():
        for method in ("post", "put", "patch"):
            operation = getattr(item, method)
            body = operation.request_body if operation is not None else None
            if body is None or isinstance(body, Reference):
                continue
            media = (body.content or {}).get(MediaType.JSON)
            schema = media.schema if media is not None else None
            if isinstance(schema, Schema) and any(
                isinstance(option, Schema) and option.type == OpenAPIType.NULL for option in schema.one_of or []
            ):
                body.required = False


def _is_public(path: str) -> bool:
    from core.auth import PUBLIC_PATHS

    return any(re.match(pattern, path) for pattern in PUBLIC_PATHS)


def document_error_responses(document: OpenAPI) -> None:
    """Declare, on every operation, the errors its shape implies: 401 behind the login, 400/413/422 for a
    body, 422 for query parameters, 404 and 422 (beyond the range) for a numeric path id, 429 where a rate limit
    applies, 503 when the database is down. Public operations are marked as needing no credentials."""
    from core.limits import LOGIN_PATH, PUBLIC_PREFIX

    document.components.schemas["ErrorBody"] = ERROR_BODY_SCHEMA
    for path, item in (document.paths or {}).items():
        public = _is_public(path)
        for method in ("get", "post", "put", "patch", "delete"):
            operation = getattr(item, method)
            if operation is None:
                continue
            params = [p for p in operation.parameters or [] if isinstance(p, Parameter)]
            statuses = {503}
            if public:
                operation.security = [{}]
            else:
                statuses.add(401)
            if operation.request_body is not None:
                statuses |= {400, 413, 422}
            if any(p.param_in == "query" for p in params):
                statuses.add(422)
            if any(
                p.param_in == "path" and isinstance(p.schema, Schema) and p.schema.type == OpenAPIType.INTEGER
                for p in params
            ):
                statuses |= {404, 422}
            if path.startswith(PUBLIC_PREFIX) or path.rstrip("/") == LOGIN_PATH:
                statuses.add(429)
            responses = operation.responses if operation.responses is not None else {}
            # Litestar documents a 400 with its own error body for any input; ours replaces it, or it goes.
            if "400" in responses and not _is_error_body(responses["400"]):
                del responses["400"]
            for status in sorted(statuses):
                responses.setdefault(str(status), _error_response(status))
            operation.responses = responses


IDEMPOTENCY_KEY_SCHEMA = Schema(type=OpenAPIType.STRING, min_length=1, max_length=255, pattern="^[ -~]{1,255}$")
IDEMPOTENCY_KEY_TEXT = (
    "幂等键（1 至 255 个可打印 ASCII 字符，建议用 UUID）。同一用户 24 小时内用同一个键重发同一请求（路径与请求体相同），"
    "返回第一次的应答（含 4xx）并带 `Idempotent-Replayed: true`，不会再执行一次；同一个键用于不同的请求为 422 "
    "`idempotency.key_reused`；第一次请求仍在处理时，重发的请求最多等待几秒，仍未完成则为 409 "
    "`idempotency.in_progress`；格式不符为 422 `idempotency.key_invalid`。5xx 应答不保存，可用同一个键重试。"
)
IDEMPOTENCY_KEY_PUBLIC_TEXT = "无需登录的操作不保存幂等键（没有可归属的用户）：带上此头也会照常执行每一次请求。"


def document_idempotency(document: OpenAPI) -> None:
    """Declare the Idempotency-Key header on every POST (core/idempotency): for a logged-in user's, the
    statuses it may answer (409 still in progress; 422 key reused or malformed) and the replay header."""
    replayed = OpenAPIHeader(
        schema=LabelledSchema(type=OpenAPIType.STRING, enum=["true"], enum_labels={"true": "重放的应答"}),
        description="该应答是同一幂等键第一次请求的应答的重放",
    )
    for path, item in (document.paths or {}).items():
        operation = item.post
        if operation is None:
            continue
        public = _is_public(path)
        operation.parameters = [
            *(operation.parameters or []),
            Parameter(
                name="Idempotency-Key",
                param_in="header",
                required=False,
                schema=IDEMPOTENCY_KEY_SCHEMA,
                description=IDEMPOTENCY_KEY_PUBLIC_TEXT if public else IDEMPOTENCY_KEY_TEXT,
            ),
        ]
        if public:
            continue
        responses = operation.responses if operation.responses is not None else {}
        for status, response in responses.items():
            if status.startswith("2") and isinstance(response, OpenAPIResponse):
                response.headers = {**(response.headers or {}), "Idempotent-Replayed": replayed}
        for code in (409, 422):
            responses.setdefault(str(code), _error_response(code))
        operation.responses = responses
