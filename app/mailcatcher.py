"""Development mail: an SMTP server that keeps every message it is sent, and pages that show them.

`make run` points the application's mail at this catcher, so a new user sees the monthly report and every
notice the system sends instead of an outbox that never empties. The pages exist only in development
(APP_ENV=development); a production server has no such routes.
"""

from __future__ import annotations

import html
import re
import secrets
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from litestar import Controller, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import Parameter

from core.settings import get_settings

PAGE_SIZE = 50
_MESSAGE_NAME = re.compile(r"^\d{19}-[0-9a-f]{8}$")
# Inline styles only; an email's own HTML is shown in a sandboxed frame, its images only from this server.
_PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
_STYLE = (
    "body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:16px;color:#1f2328}"
    "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #d0d7de;padding:6px;text-align:left}"
    "a{color:#0a58ca}dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px}dt{color:#57606a}"
    "iframe{width:100%;height:70vh;border:1px solid #d0d7de}pre{white-space:pre-wrap}"
)


class MailStore:
    """One .eml file per message, named by arrival time so the newest sort last."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def save(self, content: bytes) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():019d}-{secrets.token_hex(4)}"
        partial = self.directory / f".{name}.tmp"
        partial.write_bytes(content)
        partial.rename(self.directory / f"{name}.eml")  # a reader never sees half a message
        return name

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted((p.stem for p in self.directory.glob("*.eml")), reverse=True)

    def load(self, name: str) -> EmailMessage:
        path = self.directory / f"{name}.eml"
        if not _MESSAGE_NAME.match(name) or not path.is_file():
            raise NotFoundException("没有这封邮件")
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert isinstance(message, EmailMessage)
        return message


class CatchingHandler:
    """aiosmtpd's handler: every message is kept, whoever it is for."""

    def __init__(self, store: MailStore) -> None:
        self.store = store

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook
        self.store.save(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def start_catcher(host: str, port: int, directory: Path) -> Any:
    """Starts the catcher in a thread of this process; the caller stops it with `.stop()`."""
    from aiosmtpd.controller import Controller as SmtpController

    controller = SmtpController(CatchingHandler(MailStore(directory)), hostname=host, port=port)
    controller.start()
    return controller


@dataclass
class _Attachment:
    index: int
    filename: str
    content_type: str
    size: int


def _attachments(message: EmailMessage) -> list[tuple[_Attachment, EmailMessage]]:
    found = []
    for index, part in enumerate(message.iter_attachments()):
        assert isinstance(part, EmailMessage)
        payload = part.get_payload(decode=True) or b""
        assert isinstance(payload, bytes)
        name = part.get_filename() or f"附件{index + 1}"
        found.append((_Attachment(index, name, part.get_content_type(), len(payload)), part))
    return found


def _inline_parts(message: EmailMessage) -> dict[str, EmailMessage]:
    parts = {}
    for part in message.walk():
        content_id = part.get("Content-ID")
        if content_id and isinstance(part, EmailMessage):
            parts[content_id.strip("<>")] = part
    return parts


def _page(title: str, body: str) -> Response[str]:
    document = (
        "<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )
    return Response(document, media_type="text/html", headers={"content-security-policy": _PAGE_CSP})


def _header(message: EmailMessage, name: str) -> str:
    return str(message.get(name, ""))


class DevMailController(Controller):
    path = "/dev/mail"
    include_in_schema = False
    opt = {"exclude_from_auth": True}

    @property
    def store(self) -> MailStore:
        return MailStore(get_settings().dev_mail_dir)

    @get("/", name="dev-mail-list")
    async def list_messages(self, page_number: int = Parameter(query="page", default=1, ge=1)) -> Response[str]:
        page = page_number
        names = self.store.names()
        shown = names[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        rows = []
        for name in shown:
            message = self.store.load(name)
            rows.append(
                f"<tr><td>{html.escape(_header(message, 'Date'))}</td><td>{html.escape(_header(message, 'To'))}</td>"
                f"<td><a href='/dev/mail/{name}'>{html.escape(_header(message, 'Subject')) or '（无主题）'}</a></td>"
                f"<td>{len(_attachments(message))}</td></tr>"
            )
        pages = (len(names) + PAGE_SIZE - 1) // PAGE_SIZE
        paging = " ".join(
            f"<a href='/dev/mail?page={n}'>{n}</a>" if n != page else f"<strong>{n}</strong>"
            for n in range(1, pages + 1)
        )
        body = (
            f"<h1>开发邮箱</h1><p>本机发出的全部邮件（共 {len(names)} 封），仅开发模式可见。</p>"
            "<table><thead><tr><th>时间</th><th>收件人</th><th>主题</th><th>附件</th></tr></thead>"
            f"<tbody>{''.join(rows) or '<tr><td colspan=4>还没有邮件</td></tr>'}</tbody></table><p>{paging}</p>"
        )
        return _page("开发邮箱", body)

    @get("/{name:str}", name="dev-mail-message")
    async def show_message(self, name: str) -> Response[str]:
        message = self.store.load(name)
        attachments = "".join(
            f"<li><a href='/dev/mail/{name}/attachments/{a.index}' download>{html.escape(a.filename)}</a> "
            f"（{html.escape(a.content_type)}，{a.size:,} 字节）</li>"
            for a, _ in _attachments(message)
        )
        html_part = message.get_body(preferencelist=("html",))
        text_part = message.get_body(preferencelist=("plain",))
        if html_part is not None:
            content = f"<iframe title='邮件正文' sandbox src='/dev/mail/{name}/body.html'></iframe>"
        elif text_part is not None:
            content = f"<pre>{html.escape(text_part.get_content())}</pre>"
        else:
            content = "<p>（无正文）</p>"
        fields = "".join(
            f"<dt>{label}</dt><dd>{html.escape(_header(message, header))}</dd>"
            for label, header in (("发件人", "From"), ("收件人", "To"), ("主题", "Subject"), ("时间", "Date"))
        )
        body = (
            f"<p><a href='/dev/mail'>← 全部邮件</a></p><h1>{html.escape(_header(message, 'Subject'))}</h1>"
            f"<dl>{fields}</dl>{f'<h2>附件</h2><ul>{attachments}</ul>' if attachments else ''}<h2>正文</h2>{content}"
        )
        return _page(_header(message, "Subject") or "邮件", body)

    @get("/{name:str}/body.html", name="dev-mail-body")
    async def message_body(self, name: str) -> Response[str]:
        message = self.store.load(name)
        part = message.get_body(preferencelist=("html",))
        if part is None:
            raise NotFoundException("这封邮件没有 HTML 正文")
        # Pictures the message carries (the report's chart) are referenced by Content-ID.
        document = re.sub(r"cid:([^\"'\s>]+)", lambda m: f"/dev/mail/{name}/parts/{m.group(1)}", part.get_content())
        return Response(document, media_type="text/html", headers={"content-security-policy": _PAGE_CSP})

    @get("/{name:str}/parts/{content_id:str}", name="dev-mail-part")
    async def inline_part(self, name: str, content_id: str) -> Response[bytes]:
        part = _inline_parts(self.store.load(name)).get(content_id)
        if part is None:
            raise NotFoundException("没有这个内嵌内容")
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        return Response(payload, media_type=part.get_content_type())

    @get("/{name:str}/attachments/{index:int}", name="dev-mail-attachment")
    async def attachment(self, name: str, index: int) -> Response[bytes]:
        found = _attachments(self.store.load(name))
        if not 0 <= index < len(found):
            raise NotFoundException("没有这个附件")
        described, part = found[index]
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        return Response(
            payload,
            media_type=described.content_type,
            headers={"content-disposition": f"attachment; filename*=UTF-8''{_quote(described.filename)}"},
        )


def _quote(filename: str) -> str:
    from urllib.parse import quote

    return quote(filename)
