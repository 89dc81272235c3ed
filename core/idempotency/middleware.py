"""The ASGI side of idempotency: which requests take part, their body read once, the answer kept or replayed.

It runs after authentication (innermost of the application's middleware), so the user is known. Only POSTs
of a logged-in user that carry Idempotency-Key take part: an anonymous POST (login, the public operator
registration, payment webhooks) has no user to keep the key for, and runs each time as without the header.
No database transaction is open while the handler runs: the claim and the stored answer are one statement each.
"""

from __future__ import annotations

import asyncio

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from core.accounts.principal import Principal
from core.idempotency import service
from core.settings import get_settings

HEADER = b"idempotency-key"
REPLAYED = (b"idempotent-replayed", b"true")


async def _read_body(receive: Receive, limit: int) -> tuple[bytes | None, Receive]:
    """The whole body (None if it is over `limit` or the client left), and a receive that hands the handler
    the same messages again."""
    messages: list[ReceiveMessage] = []
    chunks: list[bytes] = []
    size = 0
    complete = False
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            break
        if not message.get("more_body", False):
            complete = True
            break
    pending = iter(messages)

    async def replayed() -> ReceiveMessage:
        return next(pending, None) or await receive()

    return (b"".join(chunks) if complete else None), replayed


async def _replay(answer: service.StoredAnswer, send: Send) -> None:
    await send({"type": "http.response.start", "status": answer.status, "headers": [*answer.headers, REPLAYED]})
    await send({"type": "http.response.body", "body": answer.body, "more_body": False})


def idempotent_posts(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        keys = (
            [value for name, value in scope.get("headers", ()) if name == HEADER]
            if (scope["type"] == ScopeType.HTTP and scope["method"] == "POST")
            else []
        )
        principal = scope.get("user") if keys else None
        if not isinstance(principal, Principal):
            await app(scope, receive, send)
            return
        key = service.checked_key(keys)
        body, receive = await _read_body(receive, get_settings().request_max_body_bytes)
        if body is None:  # the handler refuses a body over the limit without running
            await app(scope, receive, send)
            return
        fingerprint = service.fingerprint(
            "POST", scope.get("root_path", "") + scope["path"], scope.get("query_string", b""), body
        )
        found = await service.begin(principal.user_id, key, fingerprint)
        if isinstance(found, service.StoredAnswer):
            await _replay(found, send)
            return

        start: dict | None = None
        chunks: list[bytes] = []
        complete = False

        async def capture(message: Message) -> None:
            nonlocal start, complete
            if message["type"] == "http.response.start":
                start = {"status": message["status"], "headers": list(message.get("headers", ()))}
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                complete = not message.get("more_body", False)
            await send(message)

        try:
            await app(scope, receive, capture)
        finally:
            # Shielded: a request cancelled because its client left must still free the key.
            if start is not None and complete:
                await asyncio.shield(service.finish(found, start["status"], start["headers"], b"".join(chunks)))
            else:
                await asyncio.shield(service.abandon(found))

    return middleware
