"""What must never happen in the registry."""

from __future__ import annotations

import asyncio
import csv
import io

import pytest
from openpyxl import load_workbook

from tests.providers.helpers import (
    approve,
    directory,
    listed_operator,
    publish_batch,
    register_operator,
    submitted_self_application,
)


@pytest.mark.parametrize("user", ["street_x", "district", "operator_a", "owner", "auditor"])
async def test_only_city_reviewers_decide(world, user):
    operator = await register_operator(world, "待审企业", "waiting")
    application_id = await submitted_self_application(world, "waiting", operator["id"])
    response = await world.post(
        user, f"/api/v1/applications/{application_id}/decision", json={"decision": "approve", "reason": "我觉得可以"}
    )
    assert response.status_code in (403, 404)
    assert (await world.get("city", f"/api/v1/applications/{application_id}")).json()["state"] == "submitted"


@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
@pytest.mark.parametrize("decision", ["approve", "reject", "return"])
async def test_a_decision_needs_a_reason(world, decision, reason):
    operator = await register_operator(world, "无理由企业", "noreason")
    application_id = await submitted_self_application(world, "noreason", operator["id"])
    response = await world.post(
        "city", f"/api/v1/applications/{application_id}/decision", json={"decision": decision, "reason": reason}
    )
    assert response.status_code == 422 and response.json()["code"] == "decision.reason_required"
    assert (await world.get("city", f"/api/v1/applications/{application_id}")).json()["state"] == "submitted"


async def test_a_published_batch_never_changes(world, frozen_clock):
    operator = await register_operator(world, "已发布企业", "published", categories=("health", "culture"))
    first = await submitted_self_application(world, "published", operator["id"], ("health",))
    await approve(world, first)
    batch = await publish_batch(world, frozen_clock, [first])
    second = await submitted_self_application(world, "published", operator["id"], ("culture",))
    await approve(world, second)

    attempts = [
        ("entries", {"application_ids": [second]}),
        ("notice", {}),
        ("publish", None),
    ]
    for action, body in attempts:
        response = await world.post("city", f"/api/v1/batches/{batch['id']}/{action}", json=body)
        assert response.status_code == 409, (action, response.text)
        assert response.json()["code"] == "batch.published"
    after = (await world.get("city", f"/api/v1/batches/{batch['id']}")).json()
    assert [e["application_id"] for e in after["entries"]] == [first]


async def test_suspended_operator_leaves_the_directory_and_returns_when_reinstated(world, frozen_clock):
    operator = await listed_operator(world, frozen_clock, "问题托育", "problem")
    await listed_operator(world, frozen_clock, "正常托育", "normal")
    assert (await directory(world))["total"] == 2

    no_reason = await world.post(
        "city", f"/api/v1/operators/{operator['id']}/status", json={"status": "suspended", "reason": ""}
    )
    assert no_reason.status_code == 422
    suspended = await world.post(
        "city",
        f"/api/v1/operators/{operator['id']}/status",
        json={"status": "suspended", "reason": "发生安全事故，暂停整改"},
    )
    assert suspended.status_code == 200 and suspended.json()["registry_status_label"] == "暂停"
    assert [o["name"] for o in (await directory(world))["items"]] == ["正常托育"]
    assert [o["name"] for o in (await directory(world, status="listed"))["items"]] == ["正常托育"]

    reinstated = await world.post(
        "city", f"/api/v1/operators/{operator['id']}/status", json={"status": "listed", "reason": "整改完成，恢复在库"}
    )
    assert reinstated.status_code == 200
    assert (await directory(world))["total"] == 2


async def test_removed_operator_is_gone_and_warned_is_marked(world, frozen_clock):
    removed = await listed_operator(world, frozen_clock, "移出企业", "removed")
    warned = await listed_operator(world, frozen_clock, "警示企业", "warned")
    await world.post("city", f"/api/v1/operators/{removed['id']}/status", json={"status": "removed", "reason": "违规"})
    await world.post("city", f"/api/v1/operators/{warned['id']}/status", json={"status": "warned", "reason": "投诉多"})
    items = (await directory(world))["items"]
    assert [(o["name"], o["registry_status"]) for o in items] == [("警示企业", "warned")]


async def test_expired_listing_is_no_longer_listed(world, frozen_clock):
    await listed_operator(world, frozen_clock, "到期企业", "expiring")
    assert (await directory(world))["total"] == 1
    frozen_clock.advance(days=365 * 2 - 10)
    assert (await directory(world))["total"] == 1
    frozen_clock.advance(days=15)
    assert (await directory(world))["total"] == 0


async def test_operator_cannot_read_another_operators_application(world):
    mine = await register_operator(world, "甲方企业", "alpha")
    theirs = await register_operator(world, "乙方企业", "beta")
    my_application = await submitted_self_application(world, "alpha", mine["id"])
    await submitted_self_application(world, "beta", theirs["id"])

    assert (await world.get("beta", f"/api/v1/applications/{my_application}")).status_code == 404
    listed = (await world.get("beta", "/api/v1/applications")).json()
    assert {a["operator_name"] for a in listed["items"]} == {"乙方企业"}
    # Nor apply, edit or submit on its behalf.
    forged = await world.post(
        "beta", "/api/v1/applications", json={"operator_id": mine["id"], "channel": "self", "categories": ["culture"]}
    )
    assert forged.status_code in (403, 404)
    assert (await world.get("beta", f"/api/v1/operators/{mine['id']}")).status_code == 404


async def test_one_open_application_per_category_even_when_racing(world):
    operator = await register_operator(world, "重复申请企业", "twice", categories=("childcare", "elderly"))
    body = {"operator_id": operator["id"], "channel": "self", "categories": ["childcare"]}
    responses = await asyncio.gather(*(world.post("twice", "/api/v1/applications", json=body) for _ in range(10)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 9, codes
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"application.duplicate_open"}
    other = await world.post("twice", "/api/v1/applications", json={**body, "categories": ["elderly"]})
    assert other.status_code == 201


async def test_concurrent_decisions_leave_one_outcome(world):
    operator = await register_operator(world, "并发审核企业", "racing")
    application_id = await submitted_self_application(world, "racing", operator["id"])
    decisions = ["approve", "reject", "return"] * 4
    responses = await asyncio.gather(
        *(
            world.post(
                "city", f"/api/v1/applications/{application_id}/decision", json={"decision": d, "reason": f"决定{i}"}
            )
            for i, d in enumerate(decisions)
        )
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 11
    events = (await world.get("city", f"/api/v1/applications/{application_id}")).json()["events"]
    assert len([e for e in events if e["from_state"] == "submitted"]) == 1


async def test_evaluations_propose_and_reviewer_confirms(world, frozen_clock):
    operator = await listed_operator(world, frozen_clock, "评价低企业", "lowscore")
    for month, score in ((1, 55), (2, 50), (3, 58)):
        response = await world.post(
            "city",
            "/api/v1/evaluations",
            json={
                "operator_id": operator["id"],
                "score": score,
                "satisfaction": "62.5",
                "complaints": 3,
                "period_start": f"2026-0{month}-01",
                "period_end": f"2026-0{month + 1}-01",
                "reason": "季度考核",
            },
        )
        assert response.status_code == 201, response.text
    assert (
        await world.post(
            "operator_a",
            "/api/v1/evaluations",
            json={
                "operator_id": operator["id"],
                "score": 100,
                "satisfaction": "100",
                "complaints": 0,
                "period_start": "2026-01-01",
                "period_end": "2026-02-01",
            },
        )
    ).status_code == 403

    run = await world.post("city", "/api/v1/registry/proposals/run")
    assert run.json() == {"created": 1}
    assert (await world.post("city", "/api/v1/registry/proposals/run")).json() == {"created": 0}
    [proposal] = (await world.get("city", "/api/v1/registry/proposals", params={"state": "open"})).json()["items"]
    assert proposal["proposed_status"] == "suspended" and proposal["evidence"]["average_score"] == "54.3"
    # Nothing changes until a reviewer confirms, with a reason.
    assert (await directory(world))["total"] == 1
    confirmed = await world.post(
        "city", f"/api/v1/registry/proposals/{proposal['id']}/confirm", json={"reason": "连续三期评价不合格"}
    )
    assert confirmed.status_code == 200
    assert (await directory(world))["total"] == 0
    # Once decided, neither a second confirmation nor a dismissal is taken.
    for verb in ("confirm", "dismiss"):
        again = await world.post(
            "city", f"/api/v1/registry/proposals/{proposal['id']}/{verb}", json={"reason": "再次处理"}
        )
        assert again.status_code == 409 and again.json()["code"] == "proposal.decided"
    # An evaluation of a company that does not exist is refused as unknown.
    unknown = await world.post(
        "city",
        "/api/v1/evaluations",
        json={
            "operator_id": operator["id"] + 1000,
            "score": 90,
            "satisfaction": "90",
            "complaints": 0,
            "period_start": "2026-04-01",
            "period_end": "2026-05-01",
            "reason": "季度考核",
        },
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "operator.not_found"


async def test_renewal_reuses_the_previous_application(world, frozen_clock):
    operator = await register_operator(world, "续期企业", "renewing", categories=("culture",))
    first = await submitted_self_application(world, "renewing", operator["id"], ("culture",))
    await approve(world, first)
    await publish_batch(world, frozen_clock, [first])
    renewal = await world.post("renewing", f"/api/v1/applications/{first}/renewal")
    assert renewal.status_code == 201, renewal.text
    body = renewal.json()
    assert body["renewal_of"] == first and body["state"] == "draft"
    assert body["categories"] == ["culture"] and body["statement"].startswith("我们运营托育机构")


async def test_exports_hold_the_same_rows_as_the_json_list(world, frozen_clock):
    await listed_operator(world, frozen_clock, "乙导出企业", "export_b", categories=("health",))
    await listed_operator(world, frozen_clock, "甲导出企业", "export_a", categories=("childcare",))
    listed = await directory(world, sort="name")

    xlsx = await world.client.get("/api/v1/public/operators.xlsx", params={"sort": "name"})
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("序号", "运营商名称", "统一社会信用代码", "名录状态")
    assert [(r[1], r[2]) for r in rows[1:]] == [(o["name"], o["credit_code"]) for o in listed["items"]]
    assert {r[4] for r in rows[1:]} == {"健康", "托育"}

    csv_response = await world.client.get("/api/v1/public/operators.csv", params={"sort": "name"})
    csv_rows = list(csv.reader(io.StringIO(csv_response.content.decode("utf-8-sig"))))
    assert [(r[1], r[2]) for r in csv_rows[1:]] == [(o["name"], o["credit_code"]) for o in listed["items"]]


async def test_directory_filters_sorts_and_pages(world, frozen_clock):
    await listed_operator(
        world, frozen_clock, "A富阳托育", "fuyang1", categories=("childcare",), districts=("district_a",)
    )
    await listed_operator(
        world, frozen_clock, "B西湖托育", "xihu1", categories=("childcare",), districts=("district_b",)
    )
    await listed_operator(world, frozen_clock, "C西湖养老", "xihu2", categories=("elderly",), districts=("district_b",))
    assert [o["name"] for o in (await directory(world, district_id=world.org_id("district_b")))["items"]] == [
        "B西湖托育",
        "C西湖养老",
    ]
    assert [o["name"] for o in (await directory(world, category="childcare", sort="-name"))["items"]] == [
        "B西湖托育",
        "A富阳托育",
    ]
    assert [o["name"] for o in (await directory(world, q="养老"))["items"]] == ["C西湖养老"]
    page = await directory(world, limit=2, offset=2)
    assert page["total"] == 3 and [o["name"] for o in page["items"]] == ["C西湖养老"]
    assert "contact_phone" not in page["items"][0] and "contact_email" not in page["items"][0]


async def test_an_application_for_an_operator_that_does_not_exist_is_404(world):
    for unknown in (0, -735, 999_999):
        response = await world.post(
            "street_x",
            "/api/v1/applications",
            json={"operator_id": unknown, "channel": "recommended", "categories": ["culture"]},
        )
        assert response.status_code == 404 and response.json()["code"] == "operator.not_found", (unknown, response.text)


async def _evaluate(world, operator_id: int, score: int, satisfaction: str, complaints: int) -> None:
    for month in (1, 2, 3):
        response = await world.post(
            "city",
            "/api/v1/evaluations",
            json={
                "operator_id": operator_id,
                "score": score,
                "satisfaction": satisfaction,
                "complaints": complaints,
                "period_start": f"2026-0{month}-01",
                "period_end": f"2026-0{month + 1}-01",
                "reason": "季度考核",
            },
        )
        assert response.status_code == 201, response.text


async def test_low_satisfaction_and_many_complaints_each_propose_a_warning(world, frozen_clock):
    unhappy = await listed_operator(world, frozen_clock, "满意度低企业", "unhappy")
    complained = await listed_operator(world, frozen_clock, "投诉多企业", "complained")
    fine = await listed_operator(world, frozen_clock, "表现良好企业", "fine")
    edge = await listed_operator(world, frozen_clock, "投诉未达线企业", "edge")
    await _evaluate(world, unhappy["id"], 90, "79.5", 0)  # good scores, residents unhappy
    await _evaluate(world, complained["id"], 90, "95", 4)  # 12 complaints over the window
    await _evaluate(world, fine["id"], 90, "80", 3)  # satisfaction on the line, 9 complaints: nothing
    await _evaluate(world, edge["id"], 88, "96", 3)

    assert (await world.post("city", "/api/v1/registry/proposals/run")).json() == {"created": 2}
    proposals = (await world.get("city", "/api/v1/registry/proposals", params={"state": "open"})).json()["items"]
    by_operator = {p["operator_id"]: p for p in proposals}
    assert set(by_operator) == {unhappy["id"], complained["id"]}
    assert (by_operator[unhappy["id"]]["proposed_status"], by_operator[unhappy["id"]]["rule"]) == (
        "warned",
        "satisfaction_below_warn",
    )
    assert by_operator[unhappy["id"]]["evidence"]["average_satisfaction"] == "79.5"
    assert (by_operator[complained["id"]]["proposed_status"], by_operator[complained["id"]]["rule"]) == (
        "warned",
        "complaints_at_or_above_warn",
    )
    assert by_operator[complained["id"]]["evidence"]["complaints"] == 12


def test_evaluations_without_a_survey_do_not_count_towards_satisfaction():
    from datetime import date
    from decimal import Decimal

    from providers import rules
    from providers.tables import RegistryStatus

    computed = [rules.EvaluationFacts(90, None, 0, date(2026, 3 * i, 28)) for i in (1, 2)]
    surveyed = rules.EvaluationFacts(90, Decimal(70), 0, date(2026, 9, 30))
    assert rules.propose(RegistryStatus.listed, computed, rules.Thresholds()) is None
    proposal = rules.propose(RegistryStatus.listed, [*computed, surveyed], rules.Thresholds())
    assert proposal is not None and proposal.rule == "satisfaction_below_warn"
    assert proposal.evidence["average_satisfaction"] == "70.0"
