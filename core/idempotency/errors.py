from core.errors import DomainError


class IdempotencyKeyInvalid(DomainError):
    status_code = 422
    code = "idempotency.key_invalid"
    message = "Idempotency-Key 必须是 1 至 255 个可打印 ASCII 字符，且只能有一个"


class IdempotencyKeyReused(DomainError):
    status_code = 422
    code = "idempotency.key_reused"
    message = "该 Idempotency-Key 已用于另一个请求（路径或请求体不同），请换一个新的键"


class IdempotencyInProgress(DomainError):
    status_code = 409
    code = "idempotency.in_progress"
    message = "使用该 Idempotency-Key 的请求仍在处理中，请稍后重试"
