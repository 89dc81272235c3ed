"""Sending one-time codes by SMS. There is no SMS gateway here: the development sender writes the message to
the log and queues it in the outbox (addressed to the number at sms.invalid), where it can be read."""

from __future__ import annotations

import logging
from typing import Protocol

from core.outbox import service as outbox

log = logging.getLogger(__name__)


class SmsSender(Protocol):
    async def send(self, phone: str, text: str) -> None:
        """Queue `text` for `phone`; called inside the transaction that stores the code."""


class DevelopmentSender:
    async def send(self, phone: str, text: str) -> None:
        log.info("SMS to %s: %s", phone, text)
        await outbox.enqueue(sms_address(phone), "【未来社区】短信验证码", text)


def sms_address(phone: str) -> str:
    return f"{phone}@sms.invalid"


SENDER: SmsSender = DevelopmentSender()
