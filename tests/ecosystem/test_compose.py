"""compose.yaml as Compose would read it, and each service's own command and health check run here for real:
against a fresh database on the tests' PostgreSQL, with the ports moved to free ones."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import jsonschema
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import APP_DATABASE_URL, OWNER_DATABASE_URL
from tests.servers import free_port, port_open

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
SCHEMA = Path(__file__).parent / "compose_spec" / "compose-spec.json"
BIN = Path(sys.executable).parent
DATABASE = "fcom_compose"

# What an operator would put in the environment (compose.yaml refuses to start without the secrets).
OPERATOR_ENV = {
    "DB_OWNER_PASSWORD": "owner-secret",
    "DB_APP_PASSWORD": "app-secret",
    "SECRET_KEY": "a-deployment-secret-of-enough-length",
    "STRIPE_API_KEY": "sk_live_compose",
    "STRIPE_WEBHOOK_SECRET": "whsec_compose",
    "METRICS_TOKEN": "scrape-token",
    "WEB_WORKERS": "2",
}
_VARIABLE = re.compile(r"\$\$|\$\{([A-Z_]+)(?::([-?])([^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's own rules: ${X:-default}, ${X:?message} (an error when unset), $$ for a literal $."""

    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, kind, rest = match.groups()
        if env.get(name):
            return env[name]
        if kind == "?":
            raise ValueError(f"{name}: {rest}")
        return rest or ""

    return _VARIABLE.sub(one, value)


def _resolve(node, env: dict[str, str]):
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_resolve(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _resolve(value, env) for key, value in node.items()}
    return node


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_compose_file_follows_the_compose_specification(compose):
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert problems == []
    assert set(compose["services"]) == {"db", "migrate", "web", "scheduler", "mail"}
    # Each long-running service has the health check that fits what it runs; the migration is one-shot.
    for name in ("db", "web", "scheduler", "mail"):
        assert compose["services"][name]["healthcheck"]["test"][0] == "CMD"
    assert compose["services"]["migrate"]["restart"] == "no"
    assert compose["services"]["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_the_secrets_must_be_given(compose):
    with pytest.raises(ValueError, match="SECRET_KEY"):
        _resolve(compose["services"]["web"], {k: v for k, v in OPERATOR_ENV.items() if k != "SECRET_KEY"})


class Stack:
    """The services' commands as processes here: ports and host names mapped onto this machine."""

    def __init__(self, compose: dict, tmp: Path, database_url: str, migration_url: str) -> None:
        self.services = {name: _resolve(spec, OPERATOR_ENV) for name, spec in compose["services"].items()}
        self.ports = {"8000": str(free_port()), "1025": str(free_port()), "8025": str(free_port())}
        self.tmp = tmp
        self.database_url, self.migration_url = database_url, migration_url
        self.processes: list[subprocess.Popen] = []

    def _mapped(self, argument: str) -> str:
        for inside, outside in self.ports.items():
            argument = re.sub(rf"(?<![0-9]){inside}(?![0-9])", outside, argument)
        return argument.replace("/home/app/mail", str(self.tmp / "mail"))

    def command(self, name: str) -> list[str]:
        return [self._mapped(a) for a in self.services[name]["command"]]

    def health_check(self, name: str) -> list[str]:
        test = self.services[name]["healthcheck"]["test"]
        assert test[0] == "CMD"
        return [self._mapped(a) for a in test[1:]]

    def env(self, name: str) -> dict[str, str]:
        environment = {key: str(value) for key, value in self.services[name].get("environment", {}).items()}
        environment.update(
            DATABASE_URL=self.database_url,
            MIGRATION_DATABASE_URL=self.migration_url,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=self.ports["1025"],
            SCHEDULER_HEARTBEAT_FILE=str(self.tmp / "heartbeat"),
            SCHEDULER_POLL_SECONDS="0.5",
        )
        inherited = {
            k: v for k, v in os.environ.items() if k not in {"APP_ENV", "DEV_MAIL_DIR"} and k not in environment
        }
        return {**inherited, **environment, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}

    def run(self, name: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(name), env=self.env(name), capture_output=True, text=True, timeout=120)

    def start(self, name: str) -> subprocess.Popen:
        log = (self.tmp / f"{name}.log").open("wb")
        process = subprocess.Popen(self.command(name), env=self.env(name), stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def healthy(self, name: str, within: float = 60) -> subprocess.CompletedProcess:
        deadline = time.monotonic() + within
        while True:
            check = subprocess.run(self.health_check(name), env=self.env(name), capture_output=True, text=True)
            if check.returncode == 0 or time.monotonic() > deadline:
                return check
            time.sleep(0.5)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
async def fresh_database() -> Iterator[tuple[str, str]]:
    owner = await asyncpg.connect(OWNER_DATABASE_URL)
    await owner.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    await owner.execute(f"CREATE DATABASE {DATABASE}")
    test_database = OWNER_DATABASE_URL.split("/")[-1].split("?")[0]
    yield (
        APP_DATABASE_URL.replace(f"/{test_database}?", f"/{DATABASE}?"),
        OWNER_DATABASE_URL.replace(f"/{test_database}?", f"/{DATABASE}?"),
    )
    await owner.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    await owner.close()


def _scrape(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        text = answer.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_each_service_runs_its_command_and_passes_its_health_check(compose, fresh_database, tmp_path):
    stack = Stack(compose, tmp_path, *fresh_database)
    try:
        migrated = stack.run("migrate")
        assert migrated.returncode == 0, migrated.stderr[-2000:]

        stack.start("mail")
        web = stack.start("web")
        stack.start("scheduler")
        for name in ("mail", "web", "scheduler"):
            check = stack.healthy(name)
            assert check.returncode == 0, f"{name}: {shlex.join(stack.health_check(name))}\n{check.stderr[-2000:]}"
        assert web.poll() is None

        # Two web workers: whichever answers the scrape, the counts are every worker's.
        base = f"http://127.0.0.1:{stack.ports['8000']}"
        for _ in range(10):
            urllib.request.urlopen(f"{base}/api/v1/public/categories", timeout=10).close()
        samples = _scrape(f"{base}/metrics", OPERATOR_ENV["METRICS_TOKEN"])
        counted = sum(
            value
            for (name, labels), value in samples.items()
            if name == "fcom_requests_total" and ("route", "/api/v1/public/categories") in labels
        )
        assert counted == 10
    finally:
        stack.stop()
    assert not port_open(int(stack.ports["8000"]))
