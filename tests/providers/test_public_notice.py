"""The public notice (公示): anyone sees a batch on notice, anyone may object without an account, batches are
numbered per year when published, and a published batch cannot be changed, not even in the database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest

from core.outbox.service import send_pending
from tests.providers.helpers import approve, operator_payload, register_operator, submitted_self_application
from tests.security.test_abuse_limits import app_with

PHONE = "13812341234"


async def recommended_application(world, name: str) -> int:
    created = await world.post("street_x", "/api/v1/operators", json=operator_payload(world, name))
    assert created.status_code == 201, created.text
    application = await world.post(
        "street_x",
        "/api/v1/applications",
        json={
            "operator_id": created.json()["id"],
            "channel": "recommended",
            "categories": ["childcare"],
            "statement": "街道推荐：社区托育服务口碑好",
        },
    )
    assert application.status_code == 201, application.text
    application_id = application.json()["id"]
    assert (await world.post("street_x", f"/api/v1/applications/{application_id}/submit")).status_code == 200
    await approve(world, application_id)
    return application_id


async def batch_with(world, application_ids: list[int], title: str) -> int:
    batch = await world.post("city", "/api/v1/batches", json={"title": title})
    assert batch.status_code == 201, batch.text
    added = await world.post(
        "city", f"/api/v1/batches/{batch.json()['id']}/entries", json={"application_ids": application_ids}
    )
    assert added.status_code == 200, added.text
    return batch.json()["id"]


async def on_notice(world, application_ids: list[int], title: str = "2026年第二批") -> int:
    batch_id = await batch_with(world, application_ids, title)
    opened = await world.post("city", f"/api/v1/batches/{batch_id}/notice", json={})
    assert opened.status_code == 200, opened.text
    return batch_id


def objection(application_id: int, **changes) -> dict:
    return {
        "name": "王五",
        "phone": PHONE,
        "email": "wangwu@example.org",
        "application_id": application_id,
        "text": "该企业托育场所去年曾被投诉，请核实。",
        **changes,
    }


async def test_the_public_sees_a_batch_from_its_notice_on_with_its_entries(world, frozen_clock):
    operator = await register_operator(world, "杭州小橙托育有限公司", "xiaocheng")
    own = await submitted_self_application(world, "xiaocheng", operator["id"])
    await approve(world, own)
    recommended = await recommended_application(world, "富春托育服务中心")
    batch_id = await batch_with(world, [own, recommended], "2026年第二批")

    # While the city composes it, nobody outside sees it.
    assert (await world.client.get("/api/v1/public/batches")).json()["total"] == 0
    hidden = await world.client.get(f"/api/v1/public/batches/{batch_id}")
    assert hidden.status_code == 404 and hidden.json()["code"] == "batch.not_found"

    assert (await world.post("city", f"/api/v1/batches/{batch_id}/notice", json={})).status_code == 200
    listed = (await world.client.get("/api/v1/public/batches", params={"limit": 10})).json()
    assert listed["total"] == 1 and listed["limit"] == 10
    [summary] = listed["items"]
    assert summary["state"] == "notice" and summary["state_label"] == "公示中"
    assert summary["notice_start"] == "2026-11-23" and summary["objection_deadline"] == "2026-11-30"
    assert summary["number_label"] is None

    detail = await world.client.get(f"/api/v1/public/batches/{batch_id}")
    assert detail.status_code == 200, detail.text
    entries = {e["application_id"]: e for e in detail.json()["entries"]}
    assert entries[own]["operator_name"] == "杭州小橙托育有限公司"
    assert entries[own]["credit_code"] == operator["credit_code"]
    assert entries[own]["channel_label"] == "自荐" and entries[own]["recommender_org_name"] is None
    assert entries[recommended]["channel_label"] == "推荐"
    assert entries[recommended]["recommender_org_name"] == "富春街道"
    assert entries[recommended]["categories"] == ["childcare"]

    frozen_clock.advance(days=8)
    published = await world.post("city", f"/api/v1/batches/{batch_id}/publish")
    assert published.json()["number_label"] == "2026年第1批"
    listed = (await world.client.get("/api/v1/public/batches")).json()
    assert [(b["state"], b["number_label"]) for b in listed["items"]] == [("published", "2026年第1批")]


async def test_the_public_operations_are_in_the_api_document_without_login(client):
    document = (await client.get("/schema/openapi.json")).json()
    operations = {
        operation["operationId"]: operation
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in ("get", "post")
    }
    for name in ("publicBatches", "publicBatch", "filePublicObjection"):
        assert operations[name]["tags"] == ["公开名录"]
        assert operations[name]["security"] == [{}]
    assert "/api/v1/public/batches/{batch_id}/objections" in document["paths"]
    assert "429" in operations["filePublicObjection"]["responses"]


async def test_anyone_objects_without_an_account_and_hears_the_decision_by_email(world, frozen_clock, mailbox):
    application = await recommended_application(world, "富春托育服务中心")
    other = await recommended_application(world, "银湖托育服务中心")
    batch_id = await on_notice(world, [application])
    url = f"/api/v1/public/batches/{batch_id}/objections"

    filed = await world.client.post(url, json=objection(application))
    assert filed.status_code == 201, filed.text
    body = filed.json()
    assert body["objector_name"] == "王五" and body["objector_phone"] == "138****1234"
    assert body["objector_email"] is None and body["state"] == "open"

    # A logged-in objection works as before, and its answer shows no one's phone in full.
    logged_in = await world.post(
        "street_y",
        f"/api/v1/batches/{batch_id}/objections",
        json={"application_id": application, "text": "资质存疑请核实"},
    )
    assert logged_in.status_code == 201, logged_in.text
    assert logged_in.json()["objector_phone"] is None

    # The city's reviewers, who decide, see the phone in full.
    listed = (await world.get("city", f"/api/v1/batches/{batch_id}/objections")).json()
    assert [(o["objector_phone"], o["objector_email"]) for o in listed] == [
        (PHONE, "wangwu@example.org"),
        (None, None),
    ]

    # Wrong input is refused with a code and nothing is stored.
    for bad, field in (
        (objection(application, phone="12812341234"), "phone"),
        (objection(application, phone="1381234123"), "phone"),
        (objection(application, phone="13812341234\n"), "phone"),
        (objection(application, email="not-an-email"), "email"),
        (objection(application, text=""), "text"),
        (objection(application, text="长" * 2001), "text"),
    ):
        refused = await world.client.post(url, json=bad)
        assert refused.status_code == 422 and refused.json()["code"] == "request.validation_failed", refused.text
        assert field in refused.json()["message"] + str(refused.json()["detail"])
    not_in_batch = await world.client.post(url, json=objection(other))
    assert not_in_batch.status_code == 404 and not_in_batch.json()["code"] == "batch.entry_not_found"
    missing = await world.client.post("/api/v1/public/batches/999/objections", json=objection(application))
    assert missing.status_code == 404 and missing.json()["code"] == "batch.not_found"
    assert len((await world.get("city", f"/api/v1/batches/{batch_id}/objections")).json()) == 2

    decided = await world.post(
        "city",
        f"/api/v1/objections/{body['id']}/decision",
        json={"upheld": False, "reason": "经核实，投诉已于去年整改完毕"},
    )
    assert decided.status_code == 200 and decided.json()["objector_phone"] == PHONE
    await send_pending()
    [mail] = mailbox.to("wangwu@example.org")
    assert "异议不成立" in mail["Subject"] and "2026年第二批" in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()
    assert "经核实，投诉已于去年整改完毕" in text and "王五" in text

    # After the window closes, nobody may object any more.
    frozen_clock.advance(days=7)
    late = await world.client.post(url, json=objection(application))
    assert late.status_code == 409 and late.json()["code"] == "batch.objection_window_closed"


async def test_a_draft_batch_takes_no_public_objection(world, frozen_clock):
    application = await recommended_application(world, "富春托育服务中心")
    batch_id = await batch_with(world, [application], "2026年第二批")
    refused = await world.client.post(f"/api/v1/public/batches/{batch_id}/objections", json=objection(application))
    assert refused.status_code == 404 and refused.json()["code"] == "batch.not_found"


async def test_one_phone_files_at_most_five_objections_an_hour(world, frozen_clock):
    application = await recommended_application(world, "富春托育服务中心")
    batch_id = await on_notice(world, [application])
    url = f"/api/v1/public/batches/{batch_id}/objections"
    for _ in range(5):
        assert (await world.client.post(url, json=objection(application))).status_code == 201
    refused = await world.client.post(url, json=objection(application))
    assert refused.status_code == 429
    assert refused.json()["code"] == "objection.too_many_from_phone" and "手机号" in refused.json()["message"]
    # Another phone has its own budget; an hour later this one has again.
    assert (await world.client.post(url, json=objection(application, phone="13912345678"))).status_code == 201
    frozen_clock.advance(hours=1, minutes=1)
    assert (await world.client.post(url, json=objection(application))).status_code == 201


async def test_one_address_files_a_limited_number_of_objections_an_hour(world, frozen_clock):
    application = await recommended_application(world, "富春托育服务中心")
    batch_id = await on_notice(world, [application])
    url = f"/api/v1/public/batches/{batch_id}/objections"
    async with app_with("10.0.0.7", OBJECTION_PER_ADDRESS_PER_HOUR="2") as (_, client):
        for phone in ("13900000001", "13900000002"):
            assert (await client.post(url, json=objection(application, phone=phone))).status_code == 201
        refused = await client.post(url, json=objection(application, phone="13900000003"))
        assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
        assert refused.json()["message"] == "请求过于频繁，请稍后再试"
        # Reading the notice is not part of that budget.
        assert (await client.get(f"/api/v1/public/batches/{batch_id}")).status_code == 200


async def test_two_batches_published_at_once_get_numbers_one_and_two(world, frozen_clock):
    first = await on_notice(world, [await recommended_application(world, "富春托育服务中心")], "甲批次")
    second = await on_notice(world, [await recommended_application(world, "银湖托育服务中心")], "乙批次")
    frozen_clock.advance(days=8)
    answers = await asyncio.gather(
        world.post("city", f"/api/v1/batches/{first}/publish"), world.post("city", f"/api/v1/batches/{second}/publish")
    )
    assert [a.status_code for a in answers] == [200, 200]
    assert sorted(a.json()["number_label"] for a in answers) == ["2026年第1批", "2026年第2批"]

    # A new year starts again at 1.
    third = await on_notice(world, [await recommended_application(world, "文新托育服务中心")], "丙批次")
    frozen_clock.current = datetime(2027, 1, 11, 2, 0, tzinfo=UTC)
    published = await world.post("city", f"/api/v1/batches/{third}/publish")
    assert published.json()["number_label"] == "2027年第1批"
    labels = [b["number_label"] for b in (await world.get("auditor", "/api/v1/batches")).json()["items"]]
    assert sorted(labels) == ["2026年第1批", "2026年第2批", "2027年第1批"]


async def test_the_database_refuses_to_change_a_published_batch(world, frozen_clock, owner_connection):
    application = await recommended_application(world, "富春托育服务中心")
    waiting = await recommended_application(world, "银湖托育服务中心")
    batch_id = await on_notice(world, [application])
    frozen_clock.advance(days=8)
    assert (await world.post("city", f"/api/v1/batches/{batch_id}/publish")).status_code == 200

    for statement in (
        f"UPDATE provider_batch SET title = '改过的名称' WHERE id = {batch_id}",
        f"UPDATE provider_batch SET number_seq = 9 WHERE id = {batch_id}",
        f"DELETE FROM provider_batch WHERE id = {batch_id}",
        f"UPDATE provider_batch_entry SET status = 'withdrawn' WHERE batch = {batch_id}",
        f"DELETE FROM provider_batch_entry WHERE batch = {batch_id}",
        f"INSERT INTO provider_batch_entry (batch, application, status) VALUES ({batch_id}, {waiting}, 'included')",
    ):
        with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="published"):
            await owner_connection.execute(statement)

    batch = (await world.get("city", f"/api/v1/batches/{batch_id}")).json()
    assert batch["title"] == "2026年第二批" and batch["number_label"] == "2026年第1批"
    assert [e["status"] for e in batch["entries"]] == ["included"]


async def test_the_demo_has_a_batch_on_notice_with_a_public_objection(client):
    from core.demo import load_demo
    from core.settings import get_settings
    from tests.world import login

    await load_demo()
    public = (await client.get("/api/v1/public/batches")).json()["items"]
    assert sorted((b["state"], b["number_label"]) for b in public) == [
        ("notice", None),
        ("published", "2025年第1批"),
        ("published", "2026年第1批"),
    ]
    [notice] = [b for b in public if b["state"] == "notice"]
    detail = (await client.get(f"/api/v1/public/batches/{notice['id']}")).json()
    assert len(detail["entries"]) == 2

    token = (await login(client, "city_admin", get_settings().demo_password)).json()["access_token"]
    objections = (
        await client.get(f"/api/v1/batches/{notice['id']}/objections", headers={"Authorization": f"Bearer {token}"})
    ).json()
    assert [(o["objector_name"], o["objector_phone"]) for o in objections] == [("陈女士", "13857112345")]
