"""The outbox delivers to a real SMTP server, keeps mail when the server is down, and never queues twice.
Every message that arrives is parsed with email.policy.strict (tests.servers.parse_strictly)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import aiosmtplib
import pytest
from piccolo.engine import engine_finder

from core.outbox import service as outbox
from core.outbox.service import Attachment


async def _status(email_id: int) -> dict:
    rows = await engine_finder().run_ddl(
        f"SELECT status, attempts, last_error FROM outbox_email WHERE id = {int(email_id)}"
    )
    return rows[0]


async def test_email_arrives_with_chinese_text_and_attachments(app, mailbox, frozen_clock):
    email_id = await outbox.enqueue(
        "jianwei@example.org",
        "2026年10月 运营资金平衡报告",
        "各位领导：本月报告见附件。",
        body_html='<p>本月报告</p><img src="cid:chart@example.org">',
        attachments=[
            Attachment("chart.png", "image/png", b"\x89PNG fake", content_id="chart@example.org"),
            Attachment("报告.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK\x03\x04"),
        ],
    )
    result = await outbox.send_pending()
    assert result.sent == 1

    [message] = mailbox.to("jianwei@example.org")
    assert message["Subject"] == "2026年10月 运营资金平衡报告"
    assert "本月报告见附件" in message.get_body(preferencelist=("plain",)).get_content()
    assert "cid:chart@example.org" in message.get_body(preferencelist=("html",)).get_content()
    assert parsedate_to_datetime(message["Date"]) == frozen_clock.current
    assert str(message["Date"]).endswith("+0800")
    assert message["Message-ID"] == outbox.message_id(email_id, "jianwei@example.org", "2026年10月 运营资金平衡报告")
    parts = {part.get_filename(): part for part in message.walk() if part.get_filename()}
    assert parts["chart.png"]["Content-ID"] == "<chart@example.org>"
    assert parts["chart.png"].get_content_disposition() == "inline"
    assert parts["报告.xlsx"].get_content_disposition() == "attachment"
    assert parts["报告.xlsx"].get_payload(decode=True) == b"PK\x03\x04"
    assert (await _status(email_id))["status"] == "sent"


async def test_every_attempt_is_dated_when_it_is_made_under_the_same_message_id(
    app, smtp_server, mailbox, frozen_clock
):
    smtp_server.stop()
    email_id = await outbox.enqueue("street@example.org", "续签提醒", "租约将于30天后到期")
    assert (await outbox.send_pending()).retried == 1
    smtp_server.start()
    frozen_clock.advance(minutes=1)
    assert (await outbox.send_pending()).sent == 1
    [message] = mailbox.to("street@example.org")
    assert parsedate_to_datetime(message["Date"]) == frozen_clock.current
    assert message["Message-ID"].endswith("@future-community.local>") and f"outbox-{email_id}." in message["Message-ID"]


@pytest.mark.parametrize("content_id", ["chart", "<chart@example.org>", "chart@", "@example.org", "a b@example.org"])
def test_an_inline_part_needs_a_content_id_of_the_form_left_at_right(content_id):
    with pytest.raises(ValueError):
        Attachment("chart.png", "image/png", b"\x89PNG", content_id=content_id)


@pytest.mark.parametrize(
    "defect",
    [
        None,
        "no Date",
        "no Message-ID",
        "two Dates",
        "a Date that is not one",
        "a Content-ID that is not a msg-id",
        "a cid: naming an attachment",
        "a cid: naming nothing",
    ],
)
async def test_the_test_mail_server_refuses_what_a_strict_reader_would(smtp_server, defect):
    headers = {
        "From": "noreply@example.org",
        "To": "x@example.org",
        "Subject": "test",
        "Date": "Mon, 23 Nov 2026 10:00:00 +0800",
        "Message-ID": "<1@example.org>",
    }
    extra, disposition, content_id, cid = "", "inline", "<chart@example.org>", "chart@example.org"
    if defect == "no Date":
        del headers["Date"]
    elif defect == "no Message-ID":
        del headers["Message-ID"]
    elif defect == "two Dates":
        extra = "Date: Mon, 23 Nov 2026 11:00:00 +0800\r\n"
    elif defect == "a Date that is not one":
        headers["Date"] = "2026-11-23 10:00"
    elif defect == "a Content-ID that is not a msg-id":
        content_id, cid = "<chart>", "chart"
    elif defect == "a cid: naming an attachment":
        disposition = "attachment"
    elif defect == "a cid: naming nothing":
        cid = "other@example.org"
    raw = (
        "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + extra
        + (
            'MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary="b"\r\n\r\n'
            '--b\r\nContent-Type: text/html; charset="utf-8"\r\n\r\n'
            f'<img src="cid:{cid}">\r\n'
            f'--b\r\nContent-Type: image/png\r\nContent-Disposition: {disposition}; filename="c.png"\r\n'
            f"Content-ID: {content_id}\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw==\r\n--b--\r\n"
        )
    )
    if not smtp_server.running:
        smtp_server.start()
    smtp_server.mailbox.clear()
    send = aiosmtplib.send(
        raw.encode(),
        sender="noreply@example.org",
        recipients=["x@example.org"],
        hostname="127.0.0.1",
        port=smtp_server.port,
    )
    try:
        if defect is None:
            await send
            assert len(smtp_server.mailbox.messages) == 1, smtp_server.mailbox.malformed
        else:
            with pytest.raises(aiosmtplib.SMTPDataError) as refused:
                await send
            assert refused.value.code == 554, smtp_server.mailbox.malformed
            assert smtp_server.mailbox.messages == [] and len(smtp_server.mailbox.malformed) == 1
    finally:
        smtp_server.mailbox.clear()


async def test_smtp_down_keeps_the_email_and_delivers_later(app, smtp_server, mailbox, frozen_clock):
    smtp_server.stop()
    email_id = await outbox.enqueue("street@example.org", "续签提醒", "租约将于30天后到期")
    first = await outbox.send_pending()
    assert first.sent == 0 and first.retried == 1
    status = await _status(email_id)
    assert status["status"] == "pending" and status["attempts"] == 1 and status["last_error"]

    smtp_server.start()
    # Not due yet: the retry waits for its backoff.
    assert (await outbox.send_pending()).sent == 0
    frozen_clock.advance(minutes=1)
    assert (await outbox.send_pending()).sent == 1
    assert len(mailbox.to("street@example.org")) == 1
    # And it is not sent again.
    frozen_clock.advance(hours=1)
    assert (await outbox.send_pending()).sent == 0
    assert len(mailbox.to("street@example.org")) == 1
    attempts = await engine_finder().run_ddl(
        f"SELECT ok FROM email_delivery_attempt WHERE email = {email_id} ORDER BY id"
    )
    assert [a["ok"] for a in attempts] == [False, True]


async def test_same_dedupe_key_is_queued_once(app, mailbox):
    first = await outbox.enqueue("a@example.org", "审核结果", "已通过", dedupe_key="application-7-approved")
    second = await outbox.enqueue("a@example.org", "审核结果", "已通过", dedupe_key="application-7-approved")
    assert first is not None and second is None
    assert (await outbox.send_pending()).sent == 1
    assert len(mailbox.to("a@example.org")) == 1


def test_backoff_doubles_and_is_capped():
    assert [outbox.backoff(n).total_seconds() for n in range(4)] == [30, 60, 120, 240]
    assert outbox.backoff(30).total_seconds() == 6 * 3600
