"""Outside development the server and the scheduler refuse to start with development secrets or DEBUG, and say
which settings to change."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.servers import free_port, port_open

FCOM = str(Path(sys.executable).with_name("fcom"))
SECRETS = {
    "SECRET_KEY": "a-deployment-secret-of-enough-length",
    "STRIPE_API_KEY": "sk_live_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
}


def _production_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"APP_ENV", "DEBUG", *SECRETS}}
    return {**env, "APP_ENV": "production", **overrides}


def _refused(command: list[str], env: dict[str, str]) -> str:
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert completed.returncode != 0
    return completed.stderr


def test_the_server_names_every_development_setting_it_refuses():
    said = _refused([FCOM, "serve", "--port", str(free_port())], _production_env(DEBUG="1"))
    for name in ("SECRET_KEY", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "DEBUG=1"):
        assert name in said
    assert "拒绝以生产模式启动" in said


def test_only_what_is_still_unsafe_is_named():
    said = _refused([FCOM, "serve", "--port", str(free_port())], _production_env(SECRET_KEY=SECRETS["SECRET_KEY"]))
    assert "STRIPE_API_KEY" in said and "STRIPE_WEBHOOK_SECRET" in said
    assert "SECRET_KEY 仍是" not in said and "DEBUG" not in said


def test_the_scheduler_refuses_too():
    said = _refused([sys.executable, "-m", "scheduler"], _production_env())
    assert "SECRET_KEY" in said and "STRIPE_API_KEY" in said


def test_the_application_refuses_however_it_is_started():
    """Run by uvicorn directly (as a container or a process manager might), the application does not start."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "app.app:create_app", "--factory", "--port", str(port)]
    said = _refused(command, _production_env())
    assert "SECRET_KEY" in said and not port_open(port)


def test_with_its_own_secrets_the_production_server_starts():
    port = free_port()
    server = subprocess.Popen(
        [FCOM, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=_production_env(**SECRETS, DEBUG="0"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not port_open(port):
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as answer:
            assert answer.status == 200
    finally:
        server.terminate()
        server.wait(timeout=20)
