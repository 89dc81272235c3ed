"""The responses the suite provokes: (operationId, status) of every answer the application gives a test.

The tests' clients send their requests through `recording(app)`; the fuzzing run adds what its separate
server answered. tests/test_documented_errors_reached.py, run last, compares this with the OpenAPI document.
"""

from __future__ import annotations

REACHED: set[tuple[str, int]] = set()


def recording(app):
    """`app`, noting the operation and status of each HTTP answer it gives."""

    async def recorded(scope, receive, send):
        status = None

        async def capture(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await app(scope, receive, capture)
        handler = scope.get("route_handler")
        if status is not None and isinstance(getattr(handler, "operation_id", None), str):
            REACHED.add((handler.operation_id, status))

    return recorded
