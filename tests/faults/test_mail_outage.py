"""The mail server refusing (down, 4xx, 5xx), then accepting: queued mail is kept, retried with backoff, and
arrives exactly once; a copy whose acceptance was lost on the way carries the same Message-ID."""

from __future__ import annotations

import email
from datetime import date

import pytest
from aiosmtpd.controller import Controller
from piccolo.engine import engine_finder

from core.outbox import service as outbox
from scheduler import jobs
from tests.market.helpers import community, listed_operators, need
from tests.servers import parse_strictly


class ScriptedSmtp:
    """An SMTP server on the test mail port that answers as told, and keeps what it was handed."""

    def __init__(
        self, port: int, *, rcpt: str | None = None, data: str | None = None, drop_after_data: bool = False
    ) -> None:
        self.rcpt, self.data, self.drop_after_data = rcpt, data, drop_after_data
        self.received: list[email.message.EmailMessage] = []
        self.refused = 0
        self._controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt:
            self.refused += 1
            return self.rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data:
            self.refused += 1
            return self.data
        self.received.append(parse_strictly(envelope.content))
        if self.drop_after_data:
            server.transport.close()  # the message is kept, but the sender never hears so
        return "250 Message accepted for delivery"

    def __enter__(self) -> ScriptedSmtp:
        self._controller.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._controller.stop()


@pytest.fixture
def mail_port(smtp_server, mailbox):
    """The test mail server's port, with that server stopped; it is running again afterwards."""
    smtp_server.stop()
    yield smtp_server.port
    if not smtp_server.running:
        smtp_server.start()


async def outbox_rows() -> list[dict]:
    return await engine_finder().run_ddl(
        "SELECT id, to_address, subject, status, attempts FROM outbox_email ORDER BY id"
    )


async def delivery_log() -> dict[int, list[bool]]:
    rows = await engine_finder().run_ddl("SELECT email, ok FROM email_delivery_attempt ORDER BY id")
    log: dict[int, list[bool]] = {}
    for row in rows:
        log.setdefault(row["email"], []).append(row["ok"])
    return log


async def monthly_report_and_a_need_notice(world, frozen_clock) -> None:
    """The October balance report for the city's recipients, and a need announced to a listed operator."""
    await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    jiangbin = await community(world, "street_x", "江滨社区")
    await need(world, "street_x", jiangbin["id"], "childcare")
    assert (await jobs.balance_report(date(2026, 10, 1)))["queued"] == 1


async def test_mail_refused_in_every_way_is_retried_with_backoff_and_arrives_exactly_once(
    world, frozen_clock, smtp_server, mailbox, mail_port
):
    await monthly_report_and_a_need_notice(world, frozen_clock)
    queued = await outbox_rows()
    addresses = sorted(row["to_address"] for row in queued)
    assert "jianwei@example.org" in addresses and len(queued) >= 2

    # Nobody listening.
    first = await outbox.send_pending()
    assert (first.sent, first.retried, first.gave_up) == (0, len(queued), 0)
    # Not hammered: nothing is due again before its backoff.
    assert (await outbox.send_pending()).retried == 0

    refusals = [
        {"data": "451 4.3.0 Mail server temporarily rejecting"},
        {"rcpt": "550 5.7.1 Relaying temporarily denied"},
        {"rcpt": "421 4.7.0 Too many connections, try again later"},
    ]
    for backoff_seconds, refusal in zip((30, 60, 120), refusals, strict=True):
        frozen_clock.advance(seconds=backoff_seconds)
        with ScriptedSmtp(mail_port, **refusal) as refusing:
            result = await outbox.send_pending()
        assert (result.sent, result.retried, result.gave_up) == (0, len(queued), 0)
        assert refusing.received == [] and refusing.refused >= len(queued)
        assert {row["status"] for row in await outbox_rows()} == {"pending"}

    smtp_server.start()
    frozen_clock.advance(seconds=239)
    assert (await outbox.send_pending()).sent == 0  # not due yet
    frozen_clock.advance(seconds=1)
    assert (await outbox.send_pending()).sent == len(queued)
    frozen_clock.advance(days=2)
    assert (await outbox.send_pending()).sent == 0

    delivered = sorted(str(message["To"]) for message in smtp_server.mailbox.messages)
    assert delivered == addresses
    [report] = mailbox.to("jianwei@example.org")
    assert "2026年10月" in report["Subject"]
    assert {part.get_filename() for part in report.walk() if part.get_filename()} == {
        "balance-2026-10.png",
        "未来社区收支平衡月报-2026-10.xlsx",
    }
    assert [(row["status"], row["attempts"]) for row in await outbox_rows()] == [("sent", 5)] * len(queued)
    assert set(map(tuple, (await delivery_log()).values())) == {(False, False, False, False, True)}


async def test_a_delivery_whose_acceptance_is_lost_is_sent_again_under_the_same_message_id(
    world, frozen_clock, smtp_server, mailbox, mail_port
):
    await monthly_report_and_a_need_notice(world, frozen_clock)
    queued = await outbox_rows()

    with ScriptedSmtp(mail_port, drop_after_data=True) as dropping:
        result = await outbox.send_pending()
    assert (result.sent, result.retried) == (0, len(queued))  # the sender cannot know it arrived
    assert len(dropping.received) == len(queued)

    smtp_server.start()
    frozen_clock.advance(seconds=30)
    assert (await outbox.send_pending()).sent == len(queued)
    frozen_clock.advance(days=2)
    assert (await outbox.send_pending()).sent == 0

    # The second copy names itself as the same message, so the recipient's mail system keeps one.
    first_copies = {(str(m["To"]), str(m["Subject"])): m["Message-ID"] for m in dropping.received}
    second_copies = {(str(m["To"]), str(m["Subject"])): m["Message-ID"] for m in smtp_server.mailbox.messages}
    assert len(second_copies) == len(smtp_server.mailbox.messages) == len(queued)
    assert second_copies == first_copies
