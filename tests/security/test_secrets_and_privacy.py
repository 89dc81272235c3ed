"""Secrets never reach logs, answers or the audit log; operators' contact data never reaches the public."""

from __future__ import annotations

import dataclasses
import io
import json
import logging

import httpx
import pytest
from openpyxl import load_workbook
from piccolo.engine import engine_finder

from core.outbox import service as outbox
from core.payments import PaymentsClient
from core.payments.errors import PaymentServerUnavailable
from core.settings import get_settings
from tests.leasing.helpers import lease, space
from tests.leasing.test_payments import DECLINED_CARD, GOOD_CARD, signed_event
from tests.market.helpers import listed_operators
from tests.servers import free_port
from tests.world import PASSWORD, login

WRONG_PASSWORD = "Wr0ng-Pa55word-Guess"
LONG_PASSWORD = "Too-Long-Secret-" + "q" * 150
REGISTRATION_PASSWORD = "Reg-Secret-Pass-77"
SMTP_PASSWORD = "smtp-Secret-Pass-42"


def _assert_nothing_secret(text: str, secrets: list[str], where: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{where} contains a secret ({secret[:6]}…)"


async def test_secrets_stay_out_of_logs_answers_and_the_audit_log(
    world, frozen_clock, localstripe, smtp_server, caplog
):
    caplog.set_level(logging.DEBUG)
    settings = get_settings()
    answers: list[httpx.Response] = []

    # Logins: good, wrong, locked, and bodies that fail validation in every way the schema can.
    token = (await login(world.client, "street_y")).json()["access_token"]
    for _ in range(settings.login_max_failures + 1):
        answers.append(await login(world.client, "street_x", WRONG_PASSWORD))
    assert answers[-1].json()["code"] == "auth.locked"
    answers.append(await login(world.client, "city", LONG_PASSWORD))
    for body in (
        {"username": "city", "password": WRONG_PASSWORD, "otp": WRONG_PASSWORD},
        {"username": ["city"], "password": WRONG_PASSWORD},
        {"password": WRONG_PASSWORD},
    ):
        answers.append(await world.client.post("/api/v1/auth/login", json=body))
    answers.append(
        await world.client.post("/api/v1/auth/login", content=f'{{"username": "city", "password": "{WRONG_PASSWORD}"')
    )
    assert [a.status_code for a in answers[-5:]] == [422, 400, 422, 422, 400]

    # Passwords in other forms: a self-registration refused, a user whose password is too long.
    from tests.providers.helpers import operator_payload

    answers.append(
        await world.client.post(
            "/api/v1/public/operator-registrations",
            json={
                **operator_payload(world, "秘密测试运营公司"),
                "contact_email": "not-an-email",
                "username": "secret_tester",
                "password": REGISTRATION_PASSWORD,
            },
        )
    )
    answers.append(
        await world.post(
            "city",
            "/api/v1/users",
            json={
                "username": "clerk",
                "password": LONG_PASSWORD,
                "email": "clerk@example.org",
                "grants": [{"role": "street", "org_id": world.org_id("street_x")}],
            },
        )
    )
    assert [a.status_code for a in answers[-2:]] == [422, 422]

    # Payments: a paid invoice, a declined card, a forged and a genuine webhook, the payment server down.
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    room = await space(world)
    await lease(world, room["id"], operators["tot"]["id"], starts_on="2026-12-01", monthly_rent=120_000)
    from leasing import service as leasing

    await leasing.generate_invoices()
    invoice = (await world.get("tot", "/api/v1/rent-invoices")).json()["items"][0]
    answers.append(
        await world.post(
            "tot", f"/api/v1/rent-invoices/{invoice['id']}/payments", json={"payment_method": DECLINED_CARD}
        )
    )
    answers.append(
        await world.post("tot", f"/api/v1/rent-invoices/{invoice['id']}/payments", json={"payment_method": GOOD_CARD})
    )
    assert [a.status_code for a in answers[-2:]] == [422, 201]
    payload, signature = signed_event("evt_secret_test", "pi_does_not_exist")
    answers.append(
        await world.client.post(
            "/api/v1/webhooks/payments",
            content=payload,
            headers={"Stripe-Signature": signature.replace("v1=", "v1=00")},
        )
    )
    answers.append(
        await world.client.post("/api/v1/webhooks/payments", content=payload, headers={"Stripe-Signature": signature})
    )
    async with PaymentsClient(
        base_url=f"http://127.0.0.1:{free_port()}", max_retries=2, backoff_seconds=0
    ) as unreachable:
        with pytest.raises(PaymentServerUnavailable):
            await unreachable.retrieve_payment_intent("pi_anything")

    # Email through a server that offers no login: the delivery fails, the password stays ours.
    await outbox.enqueue("someone@example.org", "测试", "正文")
    result = await outbox.send_pending(
        settings=dataclasses.replace(settings, smtp_username="mailer", smtp_password=SMTP_PASSWORD)
    )
    assert result.sent == 0 and result.errors

    secrets = [
        PASSWORD,
        WRONG_PASSWORD,
        LONG_PASSWORD,
        REGISTRATION_PASSWORD,
        SMTP_PASSWORD,
        token,
        token.split(".")[2],
        settings.secret_key,
        settings.stripe_api_key,
        settings.stripe_webhook_secret,
        world.tokens["city"],
        world.tokens["tot"],
    ]
    _assert_nothing_secret(caplog.text, secrets, "the log")
    assert any(r.levelno >= logging.WARNING for r in caplog.records), "the failures above were logged"
    for answer in answers:
        _assert_nothing_secret(answer.text, secrets, f"the answer to {answer.request.url.path}")
    stored = await engine_finder().run_ddl(
        "SELECT (SELECT coalesce(json_agg(a), '[]') FROM audit_log a)::text AS audit, "
        "(SELECT coalesce(json_agg(o), '[]') FROM outbox_email o)::text AS outbox"
    )
    _assert_nothing_secret(stored[0]["audit"] + stored[0]["outbox"], secrets, "the database")
    # Nor any password hash.
    assert "pbkdf2" not in stored[0]["audit"].lower()


async def test_a_refused_login_body_does_not_echo_the_password(world):
    refused = await world.client.post("/api/v1/auth/login", json={"username": "city", "password": LONG_PASSWORD})
    assert refused.status_code == 422
    assert refused.json()["detail"]["field"] == "$.password"
    assert LONG_PASSWORD not in refused.text and "q" * 20 not in refused.text


# Operators' contact data -----------------------------------------------------------------------

CONTACTS = {
    "tot": {
        "legal_representative": "王法人",
        "contact_name": "赵联系",
        "contact_phone": "13900001111",
        "contact_email": "zhao.private@tot.example.org",
    },
    "care": {
        "legal_representative": "钱法人",
        "contact_name": "孙联系",
        "contact_phone": "0571-66668888",
        "contact_email": "sun.private@care.example.org",
    },
}


def _xlsx_text(content: bytes) -> str:
    sheet = load_workbook(io.BytesIO(content)).active
    return "\n".join(" ".join("" if v is None else str(v) for v in row) for row in sheet.iter_rows(values_only=True))


async def test_public_answers_and_exports_hold_no_contact_data(world, frozen_clock):
    operators = await listed_operators(
        world,
        frozen_clock,
        {
            "tot": {"categories": ("childcare",), **CONTACTS["tot"]},
            "care": {"categories": ("childcare", "elderly"), **CONTACTS["care"]},
        },
    )
    for username, operator in operators.items():
        added = await world.post(
            username,
            f"/api/v1/operators/{operator['id']}/certificates",
            json={"name": "托育机构备案", "number": f"CERT-{username}-0001"},
        )
        assert added.status_code == 201, added.text
    batch_id = (await world.client.get("/api/v1/public/batches")).json()["items"][0]["id"]

    texts = []
    for url in [
        "/api/v1/public/operators",
        "/api/v1/public/operators?sort=-listed_since",
        "/api/v1/public/operators?q=运营&category=childcare",
        "/api/v1/public/operators.csv",
        "/api/v1/public/batches",
        f"/api/v1/public/batches/{batch_id}",
        "/api/v1/public/categories",
        *[f"/api/v1/public/operators/{o['id']}/listings" for o in operators.values()],
    ]:
        response = await world.client.get(url)
        assert response.status_code == 200, (url, response.text)
        texts.append(response.content.decode("utf-8-sig"))
    xlsx = await world.client.get("/api/v1/public/operators.xlsx")
    texts.append(_xlsx_text(xlsx.content))

    everything = "\n".join(texts)
    assert all(o["name"] in everything for o in operators.values()), "the public does see who is listed"
    private = [value for contact in CONTACTS.values() for value in contact.values()]
    private += ["CERT-tot-0001", "CERT-care-0001"]
    for value in private:
        assert value not in everything, value
    # Officials still see them.
    profile = (await world.get("city", f"/api/v1/operators/{operators['tot']['id']}")).json()
    assert profile["contact_phone"] == CONTACTS["tot"]["contact_phone"]


async def test_the_public_part_of_the_api_document_declares_no_contact_fields(world):
    schema = (await world.client.get("/schema/openapi.json")).json()
    public = {
        path: item for path, item in schema["paths"].items() if path.startswith("/api/v1/public/") and "get" in item
    }
    assert public

    def referenced(node, seen: set[str]) -> set[str]:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref and ref not in seen:
                seen.add(ref)
                referenced(schema["components"]["schemas"][ref.rsplit("/", 1)[1]], seen)
            for value in node.values():
                referenced(value, seen)
        elif isinstance(node, list):
            for value in node:
                referenced(value, seen)
        return seen

    names = set()
    for ref in referenced([item["get"]["responses"] for item in public.values()], set()):
        names |= set(schema["components"]["schemas"][ref.rsplit("/", 1)[1]].get("properties", {}))
    assert names and not names & {
        "contact_name",
        "contact_phone",
        "contact_email",
        "legal_representative",
        "number",
        "email",
    }, json.dumps(sorted(names))
