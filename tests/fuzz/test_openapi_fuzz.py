"""Every operation of our OpenAPI document, fuzzed as every role against a real server.

The application runs in its own uvicorn process on the tests' database, with an org tree, one user per
role and a little of every domain object, so small path ids find real records. For each operation,
schemathesis generates valid and invalid requests and each is sent as every role; every answer must be a
documented status with a body matching its documented schema, never a 5xx. Over the whole run, the error
statuses any input can provoke (401, 404 of a path id, 400) must each be seen; the rest of what it provokes
counts towards tests/test_documented_errors_reached.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.leasing.helpers import lease, listing, space
from tests.market.helpers import community, need
from tests.providers.helpers import register_operator, submitted_self_application
from tests.reached import REACHED
from tests.servers import free_port, port_open
from tests.world import World, build_world

# Role → the user who plays it (None: no token). The operator is a registered company with a profile.
ROLES = {
    "anonymous": None,
    "operator": "fuzz_operator",
    "street": "street_x",
    "district": "district",
    "city": "city",
    "owner": "owner",
    "auditor": "auditor",
    "resident": "resident",  # holds the role without a resident record: their own routes answer 404
    "surveyor": "surveyor",  # a third-party surveyor of district A
}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 8))  # per operation; each is sent as every role
SEED_IDS = [1, 2]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Login is fuzzed anonymously, last: a generated username may be a real one and get locked.
LOGIN = "POST /api/v1/auth/login"


def start_server(port: int, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env={**os.environ, "DB_POOL_MAX": "8"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while not port_open(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the API server did not start")
        time.sleep(0.1)
    return process


@pytest.fixture
async def api(table_names, smtp_server, localstripe, tmp_path):
    port = free_port()
    log = tmp_path / "server.log"
    process = start_server(port, log)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            world = await build_world(client)
            await seed(world)
            yield base, world, log
    finally:
        process.terminate()
        process.wait(timeout=30)


async def seed(world: World) -> None:
    """Two of each kind of record, so ids 1 and 2 mostly exist."""
    operators = []
    for username in ("fuzz_operator", "fuzz_operator_b"):
        operators.append(await register_operator(world, f"{username}运营有限公司", username))
        await submitted_self_application(world, username, operators[-1]["id"])
    communities = [await community(world, "street_x", "江滨社区"), await community(world, "street_y", "彩虹社区")]
    for c, street in zip(communities, ("street_x", "street_y"), strict=True):
        await need(world, street, c["id"], "childcare")
    spaces = [await space(world, community_id=communities[0]["id"]) for _ in range(3)]
    for s in spaces[:2]:
        await listing(world, s["id"])
    await lease(world, spaces[2]["id"], operators[0]["id"])


@dataclass
class Run:
    examples: int = 0
    waiting: float = 0.0
    observed: set[tuple[str, int]] = field(default_factory=set)
    statuses: Counter = field(default_factory=Counter)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)


# Dates outside 2000-2100 are refused before any handler runs (tests/security/test_date_edges.py walks
# those); half the generated dates fall inside, so the handlers' own answers (a 404 above all) are reached.
schemathesis.openapi.format(
    "date",
    st.one_of(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)), st.dates()).map(date.isoformat),
)


def cases(operation) -> st.SearchStrategy:
    """Valid and invalid requests, and valid ones aimed at the seeded records."""
    strategies = [operation.as_strategy(generation_mode=mode) for mode in GenerationMode]
    id_params = [p.name for p in operation.path_parameters if p.definition.get("schema", {}).get("type") == "integer"]
    if id_params:
        strategies.append(
            st.sampled_from(SEED_IDS).flatmap(
                lambda i: operation.as_strategy(path_parameters=dict.fromkeys(id_params, i))
            )
        )
    return st.one_of(strategies)


def fuzz(
    run: Run, base: str, session: requests.Session, operation, roles: dict[str, str | None], examples: int
) -> None:
    """Each generated request is sent once as every role."""
    label = operation.label

    @given(case=cases(operation))
    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def exercise(case):
        for role, token in roles.items():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            sent = time.monotonic()
            response = case.call(base_url=base, session=session, headers=headers, timeout=30)
            run.waiting += time.monotonic() - sent
            run.examples += 1
            run.observed.add((label, response.status_code))
            run.statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except FailureGroup as failure:
                run.failures.setdefault((label, role), str(failure)[:1500])

    exercise()
    if operation.body:
        probe_unparsable_body(run, base, session, operation, roles)


def probe_unparsable_body(run: Run, base: str, session: requests.Session, operation, roles: dict) -> None:
    """A body that is not JSON at all, which the generated (always well-formed) bodies never are."""
    declared = set(map(int, operation.definition.raw["responses"]))
    path = re.sub(r"{[^}]+}", "1", operation.path)
    for role, token in roles.items():
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        response = session.request(operation.method.upper(), base + path, data=b'{"unterminated', headers=headers)
        run.examples += 1
        run.observed.add((operation.label, response.status_code))
        run.statuses[response.status_code] += 1
        if response.status_code not in declared or set(response.json()) != {"code", "message", "detail"}:
            run.failures.setdefault((operation.label, role), f"unparsable body: {response.status_code} {response.text}")


def without_idempotency_key(document: dict) -> dict:
    """The document with the optional Idempotency-Key header left out of what is generated: a generated key
    repeats across examples, and a repeated key is answered before the handler runs (the first answer again,
    or key_reused). Each request is sent with a key of its own instead (FreshKeys), so every answer still
    passes through the keys' claim and store. The keys themselves are tested in tests/core/test_idempotency.py."""
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "parameters" in operation:
                operation["parameters"] = [p for p in operation["parameters"] if p["name"] != "Idempotency-Key"]
                if not operation["parameters"]:
                    del operation["parameters"]
    return document


class FreshKeys(requests.Session):
    """A session that sends every request with an Idempotency-Key of its own."""

    def request(self, method, url, *args, headers=None, **kwargs):
        return super().request(
            method, url, *args, headers={"Idempotency-Key": str(uuid.uuid4()), **(headers or {})}, **kwargs
        )


def test_every_operation_answers_every_role_within_its_documented_responses(api):
    base, world, log = api
    schema = schemathesis.openapi.from_dict(without_idempotency_key(httpx.get(f"{base}/schema/openapi.json").json()))
    operations = [result.ok() for result in schema.get_all_operations()]
    tokens = {role: world.tokens[user] if user else None for role, user in ROLES.items()}
    session = FreshKeys()
    run = Run()
    started = time.monotonic()
    for operation in sorted(operations, key=lambda o: o.label == LOGIN):
        players = {"anonymous": None} if operation.label == LOGIN else tokens
        fuzz(run, base, session, operation, players, EXAMPLES)
    print(
        f"\nfuzzed {len(operations)} operations × {len(ROLES)} roles: {run.examples} requests in "
        f"{time.monotonic() - started:.0f}s ({run.waiting:.0f}s waiting for answers), statuses {dict(sorted(run.statuses.items()))}"
    )

    operation_ids = {operation.label: operation.definition.raw["operationId"] for operation in operations}
    REACHED.update((operation_ids[label], status) for label, status in run.observed)
    # Statuses any input can provoke: the login wall, a missing path id, a body that is not JSON. The rest
    # (403, 409, 422 and 404 of a referenced id) need records in a given state: the suite's other tests
    # provoke them (tests/test_documented_errors_reached.py).
    missed = sorted(
        (operation.label, status)
        for operation in operations
        for status in {401} | ({404} if operation.path_parameters else set()) | ({400} if operation.body else set())
        if str(status) in operation.definition.raw["responses"] and (operation.label, status) not in run.observed
    )

    assert not run.failures, "\n\n".join(
        [f"{label} as {role}:\n{text}" for (label, role), text in run.failures.items()]
        + [f"server log (end):\n{log.read_text(errors='replace')[-4000:]}"]
    )
    assert not missed, "documented but never answered:\n" + "\n".join(f"{o} {s}" for o, s in missed)
