"""Both channels, from application to publication and listing in the public directory."""

from __future__ import annotations

from piccolo.engine import engine_finder

from tests.providers.helpers import (
    approve,
    directory,
    operator_payload,
    publish_batch,
    register_operator,
    submitted_self_application,
)


async def test_self_nomination_to_public_listing(world, frozen_clock, mailbox):
    operator = await register_operator(
        world, "杭州小橙托育有限公司", "xiaocheng", categories=("childcare", "education")
    )
    application_id = await submitted_self_application(world, "xiaocheng", operator["id"], ("childcare", "education"))

    review = await world.post("city", f"/api/v1/applications/{application_id}/start-review")
    assert review.json()["state"] == "under_review" and review.json()["state_label"] == "审核中"
    await approve(world, application_id)

    batch = await publish_batch(world, frozen_clock, [application_id])
    assert batch["state"] == "published" and batch["state_label"] == "已发布"

    listed = await directory(world)
    assert [o["name"] for o in listed["items"]] == ["杭州小橙托育有限公司"]
    assert listed["items"][0]["categories"] == ["childcare", "education"]
    assert listed["items"][0]["registry_status"] == "listed"

    # The applicant saw every step: draft, submitted, under review, approved.
    detail = (await world.get("xiaocheng", f"/api/v1/applications/{application_id}")).json()
    assert [e["to_state"] for e in detail["events"]] == ["draft", "submitted", "under_review", "approved"]
    assert detail["events"][-1]["reason"] == "材料齐全，业绩符合要求"

    # The batch history is public.
    history = (await world.client.get("/api/v1/public/batches")).json()
    assert [b["title"] for b in history["items"]] == ["2026年第二批"]

    # The operator was emailed about the approval and the publication.
    from core.outbox.service import send_pending

    await send_pending()
    subjects = [m["Subject"] for m in mailbox.to(operator["contact_email"])]
    assert any("通过" in s for s in subjects) and any("已发布" in s for s in subjects)


async def test_recommendation_by_street_to_listing(world, frozen_clock):
    created = await world.post(
        "street_x", "/api/v1/operators", json=operator_payload(world, "富春颐养服务中心", categories=("elderly",))
    )
    assert created.status_code == 201, created.text
    operator_id = created.json()["id"]

    application = await world.post(
        "street_x",
        "/api/v1/applications",
        json={
            "operator_id": operator_id,
            "channel": "recommended",
            "categories": ["elderly"],
            "statement": "街道推荐：居家养老服务口碑好",
        },
    )
    assert application.status_code == 201, application.text
    body = application.json()
    assert body["channel_label"] == "推荐" and body["recommender_org_name"] == "富春街道"
    application_id = body["id"]
    assert (await world.post("street_x", f"/api/v1/applications/{application_id}/submit")).status_code == 200

    # The recommending street follows its recommendation; the neighbouring street does not see it.
    assert (await world.get("street_x", f"/api/v1/applications/{application_id}")).status_code == 200
    assert (await world.get("street_y", f"/api/v1/applications/{application_id}")).status_code == 404

    await approve(world, application_id)
    await publish_batch(world, frozen_clock, [application_id], title="2026年第三批")
    names = [o["name"] for o in (await directory(world, category="elderly"))["items"]]
    assert names == ["富春颐养服务中心"]


async def test_returned_application_is_fixed_and_resubmitted(world, frozen_clock):
    operator = await register_operator(world, "银湖文化传媒", "yinhu", categories=("culture",))
    application_id = await submitted_self_application(world, "yinhu", operator["id"], ("culture",))
    returned = await world.post(
        "city",
        f"/api/v1/applications/{application_id}/decision",
        json={"decision": "return", "reason": "请补充近三年运营业绩材料"},
    )
    assert returned.json()["state"] == "returned"

    fixed = await world.patch(
        "yinhu",
        f"/api/v1/applications/{application_id}",
        json={
            "statement": "补充：近三年运营社区文化家园12个",
            "attachments": [{"name": "业绩清单.pdf", "size_bytes": 20480}],
        },
    )
    assert fixed.status_code == 200, fixed.text
    again = await world.post("yinhu", f"/api/v1/applications/{application_id}/submit")
    assert again.json()["state"] == "submitted"
    await approve(world, application_id)
    states = [
        e["to_state"] for e in (await world.get("yinhu", f"/api/v1/applications/{application_id}")).json()["events"]
    ]
    assert states == ["draft", "submitted", "returned", "submitted", "approved"]


async def test_upheld_objection_takes_the_entry_out(world, frozen_clock):
    good = await register_operator(world, "好邻居物业", "good", categories=("property",))
    doubtful = await register_operator(world, "可疑物业", "doubtful", categories=("property",))
    ids = []
    for username, operator in (("good", good), ("doubtful", doubtful)):
        application_id = await submitted_self_application(world, username, operator["id"], ("property",))
        await approve(world, application_id)
        ids.append(application_id)
    batch = (await world.post("city", "/api/v1/batches", json={"title": "2026年第四批"})).json()
    await world.post("city", f"/api/v1/batches/{batch['id']}/entries", json={"application_ids": ids})
    await world.post("city", f"/api/v1/batches/{batch['id']}/notice", json={})

    objection = await world.post(
        "street_y",
        f"/api/v1/batches/{batch['id']}/objections",
        json={"application_id": ids[1], "text": "该企业去年在我街道的物业服务投诉较多"},
    )
    assert objection.status_code == 201, objection.text
    # Publishing with an open objection is refused, even after the window.
    frozen_clock.advance(days=8)
    blocked = await world.post("city", f"/api/v1/batches/{batch['id']}/publish")
    assert blocked.status_code == 409 and blocked.json()["code"] == "batch.open_objections"

    upheld = await world.post(
        "city",
        f"/api/v1/objections/{objection.json()['id']}/decision",
        json={"upheld": True, "reason": "经核实投诉属实"},
    )
    assert upheld.json()["state"] == "upheld"
    # A decided objection stays decided: a second decision is refused and changes nothing.
    again = await world.post(
        "city",
        f"/api/v1/objections/{objection.json()['id']}/decision",
        json={"upheld": False, "reason": "复核后认为不属实"},
    )
    assert again.status_code == 409 and again.json()["code"] == "objection.decided"
    published = await world.post("city", f"/api/v1/batches/{batch['id']}/publish")
    assert published.status_code == 200
    assert (await directory(world))["total"] == 1
    assert [o["name"] for o in (await directory(world))["items"]] == ["好邻居物业"]
    assert (await world.get("doubtful", f"/api/v1/applications/{ids[1]}")).json()["state"] == "rejected"


async def test_objection_outside_the_window_is_refused(world, frozen_clock):
    operator = await register_operator(world, "晚到物业", "late", categories=("property",))
    application_id = await submitted_self_application(world, "late", operator["id"], ("property",))
    await approve(world, application_id)
    batch = (await world.post("city", "/api/v1/batches", json={"title": "2026年第五批"})).json()
    await world.post("city", f"/api/v1/batches/{batch['id']}/entries", json={"application_ids": [application_id]})
    notice = (await world.post("city", f"/api/v1/batches/{batch['id']}/notice", json={})).json()
    # Monday 23 November 2026 + 5 working days = Monday 30 November.
    assert notice["notice_start"] == "2026-11-23" and notice["objection_deadline"] == "2026-11-30"
    frozen_clock.advance(days=7)
    late = await world.post(
        "street_x",
        f"/api/v1/batches/{batch['id']}/objections",
        json={"application_id": application_id, "text": "公示期已过才提出的异议"},
    )
    assert late.status_code == 409 and late.json()["code"] == "batch.objection_window_closed"


async def test_publishing_writes_listings_once_and_audits(world, frozen_clock):
    operator = await register_operator(world, "审计可查", "audited", categories=("health",))
    application_id = await submitted_self_application(world, "audited", operator["id"], ("health",))
    await approve(world, application_id)
    batch = await publish_batch(world, frozen_clock, [application_id], title="2026年第六批")
    rows = await engine_finder().run_ddl("SELECT valid_from, valid_until FROM provider_listing")
    assert len(rows) == 1
    assert (rows[0]["valid_until"] - rows[0]["valid_from"]).days in (730, 731)
    audit = (
        await world.get("auditor", "/api/v1/audit", params={"entity_type": "batch", "entity_id": str(batch["id"])})
    ).json()
    assert {"batch.create", "batch.add_entries", "batch.open_notice", "batch.publish"} == {
        e["action"] for e in audit["items"]
    }


async def test_a_company_registers_once(world):
    first = operator_payload(world, "重复注册物业")
    created = await world.client.post(
        "/api/v1/public/operator-registrations", json={**first, "username": "dup_first", "password": "operator-pass-1"}
    )
    assert created.status_code == 201, created.text
    # The same credit code again, under another account name: the company already exists.
    again = await world.client.post(
        "/api/v1/public/operator-registrations", json={**first, "username": "dup_second", "password": "operator-pass-1"}
    )
    assert again.status_code == 409 and again.json()["code"] == "operator.credit_code_taken"
    # Another company under a taken account name: nothing of it is kept.
    other = operator_payload(world, "另一家物业")
    taken = await world.client.post(
        "/api/v1/public/operator-registrations", json={**other, "username": "dup_first", "password": "operator-pass-1"}
    )
    assert taken.status_code == 409 and taken.json()["code"] == "user.username_taken"
    names = [o["name"] for o in (await world.get("city", "/api/v1/operators")).json()["items"]]
    assert names == ["重复注册物业"]
