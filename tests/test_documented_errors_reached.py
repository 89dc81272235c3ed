"""Every error status our OpenAPI document declares is one some test has provoked, or is listed here with why.

The document promises clients what each operation may answer; a declared status nothing can provoke is a
false promise, and one a test never provokes is an untested rule. Every answer the application gives a test
is recorded (tests/reached.py), including the fuzzing run's. This test runs last, and only when the whole
suite has run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reached import REACHED

TESTS = Path(__file__).parent
METHODS = ("get", "post", "put", "patch", "delete")

# Declared statuses the application's own test client cannot provoke, with why ("*": every operation).
NOT_PROVOKED_HERE: dict[tuple[str, int], str] = {
    (
        "*",
        503,
    ): "数据库不可用时由统一的异常处理返回；tests/faults/test_database_restart.py 在真实服务器上重启数据库验证",
}


def whole_suite_ran(session: pytest.Session) -> bool:
    collected = {item.path for item in session.items}
    options = session.config.option
    return set(TESTS.rglob("test_*.py")) <= collected and not options.keyword and not options.markexpr


def declared_errors(document: dict) -> set[tuple[str, int]]:
    return {
        (operation["operationId"], int(status))
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in METHODS
        for status in operation["responses"]
        if int(status) >= 400
    }


def test_every_documented_error_status_is_provoked_by_some_test(app, request):
    if not whole_suite_ran(request.session):
        pytest.skip("compares the requests of the whole suite")
    declared = declared_errors(app.openapi_schema.to_schema())
    explained = {
        (operation, status)
        for operation, status in declared
        if ("*", status) in NOT_PROVOKED_HERE or (operation, status) in NOT_PROVOKED_HERE
    }
    missing = sorted(declared - REACHED - explained, key=lambda pair: (pair[1], pair[0]))
    assert not missing, f"{len(missing)} declared error statuses no test provokes:\n" + "\n".join(
        f"  {status} {operation}" for operation, status in missing
    )
    stale = sorted(pair for pair in NOT_PROVOKED_HERE if pair[0] != "*" and (pair not in declared or pair in REACHED))
    assert not stale, f"listed as not provoked, but provoked or no longer declared: {stale}"
