"""The outbox delivers to a real SMTP server, keeps mail when the server is down, and never queues twice."""

from __future__ import annotations

from piccolo.engine import engine_finder

from core.outbox import service as outbox
from core.outbox.service import Attachment


async def _status(email_id: int) -> dict:
    rows = await engine_finder().run_ddl(
        f"SELECT status, attempts, last_error FROM outbox_email WHERE id = {int(email_id)}"
    )
    return rows[0]


async def test_email_arrives_with_chinese_text_and_attachments(app, mailbox):
    email_id = await outbox.enqueue(
        "jianwei@example.org",
        "2026年10月 运营资金平衡报告",
        "各位领导：本月报告见附件。",
        body_html='<p>本月报告</p><img src="cid:chart">',
        attachments=[
            Attachment("chart.png", "image/png", b"\x89PNG fake", content_id="chart"),
            Attachment("报告.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK\x03\x04"),
        ],
    )
    result = await outbox.send_pending()
    assert result.sent == 1

    [message] = mailbox.to("jianwei@example.org")
    assert message["Subject"] == "2026年10月 运营资金平衡报告"
    assert "本月报告见附件" in message.get_body(preferencelist=("plain",)).get_content()
    assert 'cid:chart' in message.get_body(preferencelist=("html",)).get_content()
    parts = {part.get_filename(): part for part in message.walk() if part.get_filename()}
    assert parts["chart.png"]["Content-ID"] == "<chart>"
    assert parts["报告.xlsx"].get_payload(decode=True) == b"PK\x03\x04"
    assert (await _status(email_id))["status"] == "sent"


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
