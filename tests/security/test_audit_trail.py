"""Every decision the system takes leaves an audit row naming who, why, and what it was before and after;
and no one can change or remove those rows: not through the API, not through the admin, not in SQL."""

from __future__ import annotations

import ast
import asyncio
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from piccolo.engine import engine_finder

from core import clock
from core.audit import service as audit
from core.audit.tables import AuditLog
from core.pagination import MAX_PAGE_SIZE
from leasing import service as leasing
from scheduler import engine
from scheduler.jobs import job_named
from tests.leasing.helpers import lease, listing, space
from tests.leasing.test_payments import GOOD_CARD
from tests.market.helpers import community, contract, listed_operators, need
from tests.providers.helpers import (
    approve,
    listed_operator,
    operator_payload,
    publish_batch,
    register_operator,
    submitted_self_application,
)
from tests.world import PASSWORD

ROOT = Path(__file__).resolve().parents[2]

# What each recorded action must carry. A decision is taken by a person, for a stated reason, and changes a
# state: actor, reason, before and after. A change of state taken without a stated reason (the API asks for
# none): actor, before and after. A creation: actor and what was created. System actions (nightly jobs, the
# payment server's answer, a company registering itself) name no user.
DECISION, CHANGE, CREATION, SYSTEM = "decision", "change", "creation", "system"
EXPECTED = {
    # Registry
    "category.create": CREATION,
    "operator.create": CREATION,
    "operator.update": CHANGE,
    "certificate.add": CREATION,
    "application.create": CREATION,
    "application.update": CHANGE,
    "application.submit": CHANGE,
    "application.start_review": CHANGE,
    "application.approve": DECISION,
    "application.reject": DECISION,
    "application.return": DECISION,
    "batch.create": CREATION,
    "batch.add_entries": CREATION,
    "batch.open_notice": CHANGE,
    "objection.file": CREATION,
    "objection.file_public": SYSTEM,  # anyone, without an account: the objector's name is in `after`
    "objection.upheld": DECISION,
    "objection.dismissed": DECISION,
    "batch.publish": DECISION,
    "evaluation.create": CREATION,
    "proposal.create": CREATION,
    "proposal.confirmed": DECISION,
    "proposal.dismissed": DECISION,
    "operator.status.warned": DECISION,
    "operator.status.suspended": DECISION,
    "operator.status.listed": DECISION,
    "operator.status.removed": DECISION,
    "operator.status.expired": SYSTEM,
    "operator.status.relisted": DECISION,
    # Market
    "community.create": CREATION,
    "community.update": CHANGE,
    "need.create": CREATION,
    "need.close": DECISION,
    "fund.open": CREATION,
    "fund.contribution": CREATION,
    "fund.grant": DECISION,
    "fund.pay": SYSTEM,
    "franchise.invoice": CREATION,
    "alliance.propose": CREATION,
    "fee_payment.record": CREATION,
    "alliance.approve": DECISION,
    "alliance.member_add": DECISION,
    "alliance.member_leave": DECISION,
    "platform.designate": DECISION,
    "platform.assign": DECISION,
    "platform.master_contract": DECISION,
    "allocation.create": CREATION,
    "allocation.accept": DECISION,
    "allocation.reject": DECISION,
    "contract.create": CREATION,
    "contract.update": CHANGE,
    "contract.sign": DECISION,
    "contract.renew": DECISION,
    "contract.terminate": DECISION,
    "contract.expiring": SYSTEM,
    "contract.performance_evaluated": SYSTEM,
    "contract.registry_continue": DECISION,
    "contract.registry_terminate": DECISION,
    "complaint.file": CREATION,
    "ledger.post": CREATION,
    "ledger.operator_report": CREATION,
    # Leasing
    "space.create": CREATION,
    "space.update": CHANGE,
    "listing.create": CREATION,
    "listing.cancel": DECISION,
    "lease_application.create": CREATION,
    "lease_application.score": CREATION,
    "listing.award": DECISION,
    "lease.create": CREATION,
    "lease.renew": DECISION,
    "lease.terminate": DECISION,
    "invoice.pay": CREATION,
    "invoice.paid": SYSTEM,
    "invoice.paid_after_void": SYSTEM,
    "deposit.settle": CHANGE,
    "deposit.refunded": SYSTEM,
    # Residents (ballots are secret: no audit row says who voted for what)
    "resident.sign_up": SYSTEM,
    "resident.delete": CHANGE,
    "household.confirm": DECISION,
    "household.register_import": DECISION,
    "poll.open": CREATION,
    "poll.close": SYSTEM,
    "poll.decide": DECISION,
    "poll.signing_decision": DECISION,
    # Residents' points and the time bank (the resident's own steps are recorded too)
    "points.activity_create": CREATION,
    "points.hours_confirm": DECISION,
    "points.service_publish": CREATION,
    "points.redeem": CREATION,
    "points.redemption_deliver": CHANGE,
    "points.redemption_cancel": CHANGE,
    "timebank.withdrawal_request": CREATION,
    "timebank.withdrawal_confirm": DECISION,
    "timebank.transfer": CREATION,
    "survey.open": SYSTEM,
    "survey.close": SYSTEM,
    "survey.offline_upload": CREATION,
    "acceptance.grant": DECISION,
    # Scheduler, accounts
    "flag.acknowledge": CHANGE,
    "flag.resolve": DECISION,
    "job.run_now": CREATION,
    "report.resend": CREATION,
    "org.create": CREATION,
    "user.create": CREATION,
    # Working calendar
    "calendar.add": CREATION,
    "calendar.change": CHANGE,
    "calendar.delete": CHANGE,
}


def recorded_actions_in_source() -> set[str]:
    """Every action name the code hands to the audit: the second argument of audit.record(_many), or an
    `action` passed on to the helper that records it. Computed names come back as their f-string source."""
    names = set()
    for package in ("core", "providers", "market", "leasing", "residents", "scheduler"):
        for path in (ROOT / package).rglob("*.py"):
            for call in ast.walk(ast.parse(path.read_text())):
                if not isinstance(call, ast.Call):
                    continue
                candidates = [k.value for k in call.keywords if k.arg == "action"]
                if (
                    isinstance(call.func, ast.Attribute)
                    and call.func.attr in ("record", "record_many")
                    and isinstance(call.func.value, ast.Name)
                    and call.func.value.id == "audit"
                    and len(call.args) >= 2
                ):
                    candidates.append(call.args[1])
                if isinstance(call.func, ast.Name) and call.func.id == "_change_status" and len(call.args) == 5:
                    candidates.append(call.args[4])
                for action in candidates:
                    if isinstance(action, ast.Constant):
                        names.add(action.value)
                    elif isinstance(action, ast.JoinedStr):
                        names.add(ast.unparse(action))
    return names


def test_every_action_the_code_records_is_covered_here():
    recorded = recorded_actions_in_source()
    literal = {a for a in recorded if not re.match(r"f['\"]", a)}
    assert literal - set(EXPECTED) == set(), "a new audited action needs an entry (and a scenario) here"
    # The computed ones: application decisions, objection and proposal outcomes, registry statuses, and the
    # decisions on contracts of suspended or removed operators.
    prefixes = {re.match(r"f['\"]([a-z_.]+)\{", a).group(1) for a in recorded - literal}
    assert prefixes == {"application.", "objection.", "proposal.", "operator.status.", "contract.registry_"}
    for prefix in prefixes:
        assert any(name.startswith(prefix) for name in EXPECTED)


async def audit_rows(world) -> list[dict]:
    rows, offset = [], 0
    while True:
        page = (await world.get("auditor", "/api/v1/audit", params={"limit": MAX_PAGE_SIZE, "offset": offset})).json()
        rows += page["items"]
        offset += MAX_PAGE_SIZE
        if offset >= page["total"]:
            return rows


async def assert_complete(rows: list[dict], actions: set[str]) -> None:
    """Each action happened, and every row of it carries what its kind requires."""
    user_ids = {r["id"] for r in await engine_finder().run_ddl("SELECT id FROM account_user")}
    seen = {r["action"] for r in rows}
    assert actions - seen == set(), f"decisions without an audit row: {sorted(actions - seen)}"
    for row in rows:
        kind = EXPECTED[row["action"]]
        where = f"{row['action']} #{row['id']}"
        assert row["at"] and row["entity_type"] and row["entity_id"], where
        if kind == SYSTEM:
            continue
        if kind in (DECISION, CHANGE):
            assert row["actor_id"] is not None and row["actor_name"] != "system", f"{where}: no actor"
            assert row["before"] not in (None, {}), f"{where}: nothing recorded as before"
        assert row["after"] not in (None, {}, []), f"{where}: nothing recorded as after"
        if kind == DECISION:
            assert row["reason"].strip(), f"{where}: no reason"
        if row["actor_id"] is not None:
            assert row["actor_id"] in user_ids, f"{where}: an unknown actor"


async def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


# Scenarios -------------------------------------------------------------------------------------


async def test_every_registry_decision_is_audited_with_actor_reason_before_and_after(world, frozen_clock):
    await ok(await world.post("city", "/api/v1/categories", json={"code": "sports", "name": "体育"}), 201)
    await ok(await world.post("district", "/api/v1/operators", json=operator_payload(world, "区登记运营公司")), 201)
    tot = await register_operator(world, "审计托育公司", "tot")
    weak = await register_operator(world, "审计养老公司", "weak", categories=("elderly",))
    doubt = await register_operator(world, "存疑企业", "doubt")
    bad = await register_operator(world, "不合格企业", "bad")
    await ok(await world.patch("tot", f"/api/v1/operators/{tot['id']}", json={"capacity": 5}))
    await ok(
        await world.post(
            "tot", f"/api/v1/operators/{tot['id']}/certificates", json={"name": "托育机构备案", "number": "T-001"}
        ),
        201,
    )

    # One application edited, returned, resubmitted and approved; others approved or rejected.
    draft = await ok(
        await world.post(
            "tot",
            "/api/v1/applications",
            json={"operator_id": tot["id"], "channel": "self", "categories": ["childcare"]},
        ),
        201,
    )
    await ok(await world.patch("tot", f"/api/v1/applications/{draft['id']}", json={"statement": "五年托育经验"}))
    await ok(await world.post("tot", f"/api/v1/applications/{draft['id']}/submit"))
    await ok(await world.post("city", f"/api/v1/applications/{draft['id']}/start-review"))
    await ok(
        await world.post(
            "city",
            f"/api/v1/applications/{draft['id']}/decision",
            json={"decision": "return", "reason": "请补充业绩证明"},
        )
    )
    await ok(await world.post("tot", f"/api/v1/applications/{draft['id']}/submit"))
    await approve(world, draft["id"])
    weak_app = await submitted_self_application(world, "weak", weak["id"], ("elderly",))
    await approve(world, weak_app)
    doubt_app = await submitted_self_application(world, "doubt", doubt["id"])
    await approve(world, doubt_app)
    bad_app = await submitted_self_application(world, "bad", bad["id"])
    await ok(
        await world.post(
            "city", f"/api/v1/applications/{bad_app}/decision", json={"decision": "reject", "reason": "资质不符"}
        )
    )

    # A batch with its notice; one objection upheld, one dismissed; then published.
    batch = await ok(await world.post("city", "/api/v1/batches", json={"title": "审计批次"}), 201)
    await ok(
        await world.post(
            "city",
            f"/api/v1/batches/{batch['id']}/entries",
            json={"application_ids": [draft["id"], weak_app, doubt_app]},
        )
    )
    await ok(await world.post("city", f"/api/v1/batches/{batch['id']}/notice", json={}))
    public = {"name": "王五", "phone": "13812341234", "application_id": draft["id"], "text": "服务质量差"}
    filed = await ok(await world.client.post(f"/api/v1/public/batches/{batch['id']}/objections", json=public), 201)
    await ok(
        await world.post(
            "city", f"/api/v1/objections/{filed['id']}/decision", json={"upheld": False, "reason": "经核实不属实"}
        )
    )
    for application_id, upheld in ((doubt_app, True), (draft["id"], False)):
        objection = await ok(
            await world.post(
                "street_x",
                f"/api/v1/batches/{batch['id']}/objections",
                json={"application_id": application_id, "text": "群众反映服务质量差"},
            ),
            201,
        )
        await ok(
            await world.post(
                "city",
                f"/api/v1/objections/{objection['id']}/decision",
                json={"upheld": upheld, "reason": "经核实" + ("属实" if upheld else "不属实")},
            )
        )
    frozen_clock.advance(days=8)
    await ok(await world.post("city", f"/api/v1/batches/{batch['id']}/publish"))

    # Poor evaluations make proposals: one confirmed, one dismissed. Then every status by hand.
    for operator in (tot, weak):
        for month, score in ((1, 55), (2, 50), (3, 58)):
            await ok(
                await world.post(
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
                ),
                201,
            )
    assert (await ok(await world.post("city", "/api/v1/registry/proposals/run")))["created"] == 2
    proposals = (await ok(await world.get("city", "/api/v1/registry/proposals", params={"state": "open"})))["items"]
    by_operator = {p["operator_id"]: p for p in proposals}
    await ok(
        await world.post(
            "city",
            f"/api/v1/registry/proposals/{by_operator[tot['id']]['id']}/confirm",
            json={"reason": "连续三期评价不合格"},
        )
    )
    await ok(
        await world.post(
            "city",
            f"/api/v1/registry/proposals/{by_operator[weak['id']]['id']}/dismiss",
            json={"reason": "评价期间社区改造，不予采纳"},
        )
    )
    for status in ("warned", "suspended", "listed", "removed"):
        await ok(
            await world.post(
                "city",
                f"/api/v1/operators/{weak['id']}/status",
                json={"status": status, "reason": f"复核后决定：{status}"},
            )
        )
    # A listing left to lapse expires the operator (the nightly job); a published renewal lists it again.
    lapsing = await listed_operator(world, frozen_clock, "到期企业", "lapsing")
    frozen_clock.advance(days=365 * 2 + 5)
    await ok(await world.post("city", "/api/v1/jobs/registry_rules/run", json={"period": f"{clock.today()}"}))
    renewal = await submitted_self_application(world, "lapsing", lapsing["id"])
    await approve(world, renewal)
    await publish_batch(world, frozen_clock, [renewal], title="续期批次")

    rows = await audit_rows(world)
    registry = {
        a
        for a, kind in EXPECTED.items()
        if a.split(".")[0]
        in ("category", "operator", "certificate", "application", "batch", "objection", "evaluation", "proposal")
    }
    await assert_complete(rows, registry)
    # The rules were run by a reviewer, who is named.
    assert {r["actor_name"] for r in rows if r["action"] == "proposal.create"} == {"city"}
    status = next(r for r in rows if r["action"] == "operator.status.removed")
    assert (status["before"], status["after"]) == ({"registry_status": "listed"}, {"registry_status": "removed"})


async def test_every_market_decision_is_audited_with_actor_reason_before_and_after(world, frozen_clock):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    tot = operators["tot"]
    home = await community(world, "street_x", "江滨社区")
    other = await community(world, "street_x", "滨江社区")
    await ok(await world.patch("street_x", f"/api/v1/communities/{home['id']}", json={"households": 3300}))
    closing = await need(world, "street_x", home["id"], "elderly")
    await ok(await world.post("street_x", f"/api/v1/needs/{closing['id']}/close", json={"reason": "已由社区自办"}))
    await need(world, "street_x", home["id"], "childcare")
    await need(world, "street_x", other["id"], "childcare")
    third = await community(world, "street_x", "湖畔社区")
    await need(world, "street_x", third["id"], "childcare")

    # Accepting and signing take a reason when one is given; without one the row states the decision itself.
    plan = await ok(
        await world.post("district", "/api/v1/allocation-plans", json={"district_id": world.org_id("district_a")}), 201
    )
    first, second, explained = [line for line in plan["lines"] if line["operator_id"] is not None][:3]
    lines = f"/api/v1/allocation-plans/{plan['id']}/lines"
    accepted = await ok(await world.post("district", f"{lines}/{first['id']}/accept"))
    await ok(await world.post("district", f"{lines}/{second['id']}/reject", json={"reason": "另行招募"}))
    explained_view = await ok(
        await world.post(
            "district",
            f"{lines}/{explained['id']}/accept",
            json={"annual_fee": 50_000_000, "reason": "该运营商在邻近社区评价最好"},
        )
    )
    assert (explained_view["reason"], accepted["reason"]) == ("该运营商在邻近社区评价最好", "")
    await ok(
        await world.post(
            "street_x", f"/api/v1/contracts/{accepted['contract_id']}/sign", json={"reason": "双方已就服务内容达成一致"}
        )
    )

    # Ends while the operator is listed (until 2028-12-01), so the renewal below starts listed.
    draft = await contract(world, "street_x", other["id"], tot["id"], sign=False, ends_on="2028-06-01")
    await ok(await world.patch("street_x", f"/api/v1/contracts/{draft['id']}", json={"kpis": "满意度不低于90%"}))
    signed = await ok(await world.post("street_x", f"/api/v1/contracts/{draft['id']}/sign"))
    await ok(
        await world.post(
            "street_x",
            f"/api/v1/communities/{home['id']}/ledger",
            json={"month": "2026-10-01", "kind": "staff", "amount": 500_000, "reference": "凭证2026-10-001"},
        ),
        201,
    )
    await ok(
        await world.post(
            "tot",
            f"/api/v1/contracts/{signed['id']}/monthly-reports",
            json={"month": "2026-10-01", "service_revenue": 1_200_000, "costs": {"staff": 700_000}},
        ),
        201,
    )
    successor = await ok(
        await world.post(
            "street_x",
            f"/api/v1/contracts/{signed['id']}/renew",
            json={"ends_on": "2032-01-01", "reason": "服务评价良好，续签三年"},
        ),
        201,
    )
    await ok(
        await world.post(
            "street_x", f"/api/v1/contracts/{successor['id']}/terminate", json={"reason": "社区调整运营模式"}
        )
    )
    complaint = {"received_on": "2026-11-20", "text": "居民反映服务响应慢"}
    await ok(await world.post("street_x", f"/api/v1/contracts/{signed['id']}/complaints", json=complaint), 201)
    # The operator is suspended: the street decides on each contract it holds.
    late = await contract(world, "street_x", third["id"], tot["id"], ends_on="2028-06-01")
    await ok(
        await world.post(
            "city", f"/api/v1/operators/{tot['id']}/status", json={"status": "suspended", "reason": "整改"}
        )
    )
    for contract_id, decision in ((accepted["contract_id"], "continue"), (late["id"], "terminate")):
        await ok(
            await world.post(
                "street_x",
                f"/api/v1/contracts/{contract_id}/registry-decision",
                json={"decision": decision, "reason": f"运营商暂停在库，决定{decision}"},
            )
        )

    rows = await audit_rows(world)
    market = {
        a
        for a, kind in EXPECTED.items()
        if a.split(".")[0] in ("community", "need", "allocation", "contract", "ledger", "complaint") and kind != SYSTEM
    }
    await assert_complete(rows, market)
    rejected = next(r for r in rows if r["action"] == "allocation.reject")
    assert rejected["before"] == {"state": "proposed"} and rejected["after"]["state"] == "rejected"
    reasons = {(r["action"], r["entity_id"]): r["reason"] for r in rows}
    assert reasons[("allocation.accept", str(first["id"]))] == (
        f"采纳分配建议：{first['community_name']}{first['category_name']}由{tot['name']}承接"
    )
    assert reasons[("allocation.accept", str(explained["id"]))] == "该运营商在邻近社区评价最好"
    assert reasons[("contract.sign", str(accepted["contract_id"]))] == "双方已就服务内容达成一致"
    assert reasons[("contract.sign", str(draft["id"]))] == (
        f"签署服务合同：滨江社区 × {tot['name']}，{draft['starts_on']}至{draft['ends_on']}"
    )
    assert reasons[("contract.renew", str(signed["id"]))] == "服务评价良好，续签三年"


async def test_every_leasing_and_flag_decision_is_audited_with_actor_reason_before_and_after(
    world, frozen_clock, localstripe
):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    tot = operators["tot"]
    room = await space(world)
    await ok(await world.patch("street_x", f"/api/v1/spaces/{room['id']}", json={"condition": "已简装"}))
    cancelled = await listing(world, room["id"])
    await ok(
        await world.post(
            "street_x", f"/api/v1/space-listings/{cancelled['id']}/cancel", json={"reason": "产权单位收回自用"}
        )
    )
    offer = await listing(world, room["id"], closes_on="2026-12-02")
    application = await ok(
        await world.post(
            "tot",
            f"/api/v1/space-listings/{offer['id']}/applications",
            json={"proposed_use": "childcare", "term_months": 36, "proposed_rent_per_m2_month": 4_600},
        ),
        201,
    )
    frozen_clock.advance(days=1)  # the window has closed: the panel scores, then the street awards
    await ok(
        await world.post(
            "street_x",
            f"/api/v1/space-listings/{offer['id']}/applications/{application['id']}/scores",
            json={"scores": {"plan": 85}, "comment": "方案完整"},
        ),
        201,
    )
    awarded = await ok(
        await world.post(
            "street_x",
            f"/api/v1/space-listings/{offer['id']}/award",
            json={"application_id": application["id"], "reason": "方案最优"},
        ),
        201,
    )

    second_room = await space(world, community_id=room["community_id"], address="江滨路 9 号")
    agreed = await lease(world, second_room["id"], tot["id"])
    await ok(
        await world.post(
            "street_x",
            f"/api/v1/leases/{agreed['id']}/renew",
            json={"ends_on": "2028-09-01", "reason": "承租方运营良好，续租一年"},
        ),
        201,
    )
    await ok(
        await world.post("street_x", f"/api/v1/leases/{awarded['id']}/terminate", json={"reason": "承租方经营调整"})
    )

    await leasing.generate_invoices()
    invoices = (await ok(await world.get("tot", "/api/v1/rent-invoices")))["items"]
    await ok(
        await world.post(
            "tot", f"/api/v1/rent-invoices/{invoices[0]['id']}/payments", json={"payment_method": GOOD_CARD}
        ),
        201,
    )
    frozen_clock.advance(days=15)
    await engine.run_due(job_named("overdue_invoices"))
    flag = (await ok(await world.get("street_x", "/api/v1/flags", params={"kind": "invoice_overdue"})))["items"][0]
    await ok(await world.post("street_x", f"/api/v1/flags/{flag['id']}/acknowledge"))
    await ok(await world.post("street_x", f"/api/v1/flags/{flag['id']}/resolve", json={"reason": "已电话催缴"}))

    rows = await audit_rows(world)
    wanted = {
        a
        for a, kind in EXPECTED.items()
        if a.split(".")[0] in ("space", "listing", "lease_application", "lease", "invoice", "flag")
        and a != "invoice.paid_after_void"
    }
    await assert_complete(rows, wanted)
    cancel = next(r for r in rows if r["action"] == "listing.cancel")
    assert (cancel["before"], cancel["after"]) == ({"status": "open"}, {"status": "cancelled"})
    renewal = next(r for r in rows if r["action"] == "lease.renew")
    assert (renewal["entity_id"], renewal["reason"]) == (str(agreed["id"]), "承租方运营良好，续租一年")


async def test_every_residents_decision_is_audited_and_no_row_names_a_phone_or_a_choice(world, frozen_clock):
    from residents import jobs as residents_jobs
    from tests.residents.helpers import confirm, open_poll, poll_scene, sign_up

    scene = await poll_scene(world, frozen_clock)
    cx = scene["community"]["id"]
    resident = await sign_up(world, "wang", cx, phone="13612345678")
    await confirm(world, resident["household_id"])
    await ok(await world.post("street_x", f"/api/v1/households/register/{cx}", json={"csv": "楼栋,单元,室\n8,1,101\n"}))
    poll = await open_poll(world, scene, frozen_clock)
    await ok(
        await world.post("wang", f"/api/v1/polls/{poll['id']}/ballots", json={"option_id": poll["options"][1]["id"]})
    )
    frozen_clock.advance(days=8)
    await residents_jobs.close_polls()
    await ok(
        await world.post(
            "street_x", f"/api/v1/polls/{poll['id']}/decision", json={"follows": True, "reason": "采纳居民选择"}
        )
    )
    # A contract for the need with the operator the vote did not choose: its reason becomes the decision.
    await ok(
        await world.post(
            "street_x",
            "/api/v1/contracts",
            json={
                "community_id": cx,
                "operator_id": poll["options"][0]["operator_id"],
                "categories": ["childcare"],
                "starts_on": "2027-01-01",
                "ends_on": "2030-01-01",
                "need_ids": [scene["need"]["id"]],
                "reason": "得票第一的运营商退出本区",
            },
        ),
        201,
    )
    assert (await world.client.delete("/api/v1/residents/me", headers=world.headers("wang"))).status_code == 204

    rows = await audit_rows(world)
    wanted = {a for a in EXPECTED if a.split(".")[0] in ("resident", "household", "poll")}
    await assert_complete(rows, wanted)
    written = str(rows)
    assert "13612345678" not in written and "王小明" not in written
    close = next(r for r in rows if r["action"] == "poll.close")
    assert close["after"]["votes"] == {str(o["id"]): int(i == 1) for i, o in enumerate(poll["options"])}
    assert "option_id" not in str([r for r in rows if r["action"] in ("resident.delete", "resident.sign_up")])


async def test_every_points_and_time_bank_decision_is_audited_without_a_phone(world, frozen_clock):
    from tests.residents.helpers import sign_up
    from tests.residents.points_helpers import earn, publish, scene

    s = await scene(world, frozen_clock)
    cy = await community(world, "street_y", "彩虹社区")
    await sign_up(world, "family", cy["id"], phone="13700000009", room="501")
    await earn(world, s, frozen_clock, "wang", "4")
    await earn(world, s, frozen_clock, "wang", "2", kind="elderly_care", points_per_hour=None)
    offered = await publish(world, s, frozen_clock)
    delivered = await ok(await world.post("wang", f"/api/v1/points/services/{offered['id']}/redemptions"), 201)
    await ok(await world.post("op_a", f"/api/v1/points/redemptions/{delivered['id']}/deliver"))
    cancelled = await ok(await world.post("wang", f"/api/v1/points/services/{offered['id']}/redemptions"), 201)
    await ok(await world.post("wang", f"/api/v1/points/redemptions/{cancelled['id']}/cancel"))
    withdrawal = await ok(await world.post("wang", "/api/v1/time-bank/withdrawals", json={"hours": "1"}), 201)
    await ok(
        await world.post(
            "street_x", f"/api/v1/time-bank/withdrawals/{withdrawal['id']}/confirm", json={"note": "已上门助餐"}
        )
    )
    await ok(
        await world.post(
            "wang",
            "/api/v1/time-bank/transfers",
            json={"recipient_phone": "13700000009", "hours": "0.5", "request_id": "audit-gift-1"},
        )
    )

    rows = await audit_rows(world)
    await assert_complete(rows, {a for a in EXPECTED if a.split(".")[0] in ("points", "timebank")})
    written = str([r for r in rows if r["action"].split(".")[0] in ("points", "timebank")])
    assert "13700000001" not in written and "13700000009" not in written and "王小明" not in written
    confirmed = next(r for r in rows if r["action"] == "timebank.withdrawal_confirm")
    assert confirmed["reason"] == "已上门助餐" and confirmed["after"]["state"] == "confirmed"


async def test_every_survey_decision_is_audited_and_no_row_names_an_answer(world, frozen_clock):
    from residents import jobs as residents_jobs
    from tests.residents.helpers import confirm, sign_up
    from tests.residents.survey_helpers import closed_survey, sheet, survey_scene, surveyor

    scene = await survey_scene(world, frozen_clock)
    cx, survey = scene["community"]["id"], scene["survey"]
    resident = await sign_up(world, "li", cx, phone="13612345679")
    await confirm(world, resident["household_id"])
    answer = {"overall": 5, "attitude": 5, "responsiveness": 4, "quality": 5, "price": 4, "comment": "保洁很认真"}
    await ok(await world.post("li", f"/api/v1/surveys/{survey['id']}/answers", json=answer))
    await surveyor(world, "surveyor_a", "district_a")
    await ok(
        await world.post(
            "surveyor_a",
            f"/api/v1/surveys/{survey['id']}/offline-uploads",
            json={"file_name": "线下.csv", "csv": sheet([(4, 4, 4, 4, 4)])},
        ),
        201,
    )
    await closed_survey(cx, scene["contract"]["id"], scene["operators"]["op_a"]["id"], satisfied=9, total=10)
    await ok(await world.post("street_x", f"/api/v1/communities/{cx}/acceptance", json={"reason": "满意度达标"}))
    frozen_clock.advance(days=60)
    await residents_jobs.close_surveys()

    rows = await audit_rows(world)
    await assert_complete(rows, {"survey.open", "survey.close", "survey.offline_upload", "acceptance.grant"})
    assert "保洁很认真" not in str(rows) and "13612345679" not in str(rows)
    accepted = next(r for r in rows if r["action"] == "acceptance.grant")
    assert accepted["after"]["satisfaction"] == "90.00" and accepted["reason"] == "满意度达标"


async def test_org_and_user_changes_are_audited_with_their_actor(world):
    org = await ok(
        await world.post(
            "street_x",
            "/api/v1/orgs",
            json={"name": "新社区", "kind": "community", "parent_id": world.org_id("street_x")},
        ),
        201,
    )
    user = await ok(
        await world.post(
            "city",
            "/api/v1/users",
            json={
                "username": "new_clerk",
                "password": "long-enough-pass",
                "email": "clerk@example.org",
                "grants": [{"role": "street", "org_id": world.org_id("street_x")}],
            },
        ),
        201,
    )
    rows = await audit_rows(world)
    await assert_complete(rows, {"org.create", "user.create"})
    by_entity = {(r["action"], r["entity_id"]): r for r in rows}
    assert by_entity[("org.create", str(org["id"]))]["actor_id"] == world.user_ids["street_x"]
    assert by_entity[("user.create", str(user["id"]))]["actor_id"] == world.user_ids["city"]


# Immutability ----------------------------------------------------------------------------------


async def _some_audit_row(world) -> dict:
    await world.post("city", "/api/v1/categories", json={"code": "sports", "name": "体育"})
    rows = await audit_rows(world)
    assert rows
    return rows[0]


@pytest.mark.parametrize("method", ["PATCH", "PUT", "DELETE", "POST"])
async def test_the_api_offers_no_way_to_change_or_remove_audit_rows(world, method):
    row = await _some_audit_row(world)
    for url in ("/api/v1/audit", f"/api/v1/audit/{row['id']}"):
        response = await world.client.request(
            method, url, headers=world.headers("city"), json={"reason": "edited", "action": "forged"}
        )
        assert response.status_code in (404, 405), (method, url, response.text)
        assert response.json()["code"] in ("not_found", "method_not_allowed")
    after = await audit_rows(world)
    assert next(r for r in after if r["id"] == row["id"]) == row


async def admin_session(world, username: str) -> dict[str, str]:
    """Logs in to the admin like its login page does; returns the headers its API calls then carry."""
    await world.client.get("/admin/")
    csrf = world.client.cookies.get("csrftoken")
    assert csrf, "the admin hands out a CSRF cookie"
    headers = {"X-CSRFToken": csrf}
    login = await world.client.post(
        "/admin/public/login/", json={"username": username, "password": PASSWORD}, headers=headers
    )
    assert login.status_code == 200, login.text
    return headers


async def test_the_admin_neither_lists_nor_writes_the_audit_log(world):
    row = await _some_audit_row(world)
    count = len(await audit_rows(world))
    headers = await admin_session(world, "city")
    try:
        tables = await world.client.get("/admin/api/tables/", headers=headers)
        assert tables.status_code == 200, tables.text
        assert "organisation" in tables.json() and "audit_log" not in tables.json()
        attempts = [
            await world.client.patch(
                f"/admin/api/tables/audit_log/{row['id']}/", json={"reason": "edited"}, headers=headers
            ),
            await world.client.delete(f"/admin/api/tables/audit_log/{row['id']}/", headers=headers),
            await world.client.post(
                "/admin/api/tables/audit_log/", json={"action": "forged", "reason": "x"}, headers=headers
            ),
        ]
        assert all(400 <= a.status_code < 500 for a in attempts), [a.status_code for a in attempts]
    finally:
        world.client.cookies.clear()
    after = await audit_rows(world)
    assert len(after) == count and next(r for r in after if r["id"] == row["id"]) == row
    assert not any(r["action"] == "forged" for r in after)


async def admin_table_rows(table: str) -> list[dict]:
    """The rows as they are, but for the time of a user's last login (logging in to the admin sets it)."""
    rows = await engine_finder().run_ddl(f"SELECT * FROM {table} ORDER BY id")
    return [{k: v for k, v in r.items() if k != "last_login"} for r in rows]


# Every table the admin offers holds rows whose change the audit must see: who may log in and act for which
# organisation (users, grants, the org tree) and what mail goes out to whom (the outbox). A new one needs a
# row here.
ADMIN_WRITES = {
    "account_user": lambda world: {
        "username": "intruder",
        "password": "long-enough-pass",
        "email": "i@example.org",
        "display_name": "x",
        "active": True,
        "admin": True,
        "superuser": True,
    },
    "role_grant": lambda world: {
        "user": world.user_ids["operator_a"],
        "role": "city",
        "org": world.org_id("city"),
        "created_at": "2026-11-23T00:00:00Z",
    },
    "organisation": lambda world: {
        "name": "后台新建机构",
        "kind": "street",
        "parent": world.org_id("district_a"),
        "path": "/",
        "code": None,
        "created_at": "2026-11-23T00:00:00Z",
    },
    "outbox_email": lambda world: {
        "to_address": "attacker@example.org",
        "subject": "x",
        "body_text": "x",
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": "2026-11-23T00:00:00Z",
    },
}


async def test_every_table_in_the_admin_is_covered_here(world):
    headers = await admin_session(world, "city")
    try:
        tables = await world.client.get("/admin/api/tables/", headers=headers)
    finally:
        world.client.cookies.clear()
    assert set(tables.json()) == set(ADMIN_WRITES)


@pytest.mark.parametrize("table", sorted(ADMIN_WRITES))
async def test_the_admin_shows_accounts_orgs_and_mail_but_changes_none_of_them(world, table):
    """An operator cannot be promoted to a city role (nor an org or a mail changed) behind the audit's back:
    the admin reads, and changes go through the API's audited services."""
    await world.post(
        "city", "/api/v1/orgs", json={"name": "新社区", "kind": "community", "parent_id": world.org_id("street_x")}
    )
    before, audit_before = await admin_table_rows(table), await audit_rows(world)
    headers = await admin_session(world, "city")
    try:
        listed = await world.client.get(f"/admin/api/tables/{table}/", headers=headers)
        assert listed.status_code == 200, listed.text
        assert len(listed.json()["rows"]) == min(len(before), 15)
        some_id = before[0]["id"] if before else 1
        values = ADMIN_WRITES[table](world)
        attempts = [
            await world.client.post(f"/admin/api/tables/{table}/", json=values, headers=headers),
            await world.client.patch(f"/admin/api/tables/{table}/{some_id}/", json=values, headers=headers),
            await world.client.put(f"/admin/api/tables/{table}/{some_id}/", json=values, headers=headers),
            await world.client.delete(f"/admin/api/tables/{table}/{some_id}/", headers=headers),
            await world.client.delete(f"/admin/api/tables/{table}/", params={"id": some_id}, headers=headers),
        ]
    finally:
        world.client.cookies.clear()
    assert [a.status_code for a in attempts] == [405] * len(attempts), [a.text for a in attempts]
    assert await admin_table_rows(table) == before
    assert await audit_rows(world) == audit_before


# What the application's own role (DATABASE_URL, the pool every request uses) might try on the audit log.
AS_THE_APPLICATION = [
    "UPDATE audit_log SET reason = 'edited'",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log CASCADE",
    "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
    "ALTER TABLE audit_log DISABLE TRIGGER ALL",
    "DROP TRIGGER audit_log_append_only ON audit_log",
    "ALTER TABLE audit_log ALTER COLUMN reason DROP DEFAULT",
    "ALTER TABLE audit_log OWNER TO CURRENT_USER",
    "DROP TABLE audit_log CASCADE",
    "CREATE OR REPLACE FUNCTION audit_log_is_append_only() RETURNS trigger AS $$ BEGIN RETURN NEW; END $$ "
    "LANGUAGE plpgsql",
    "SELECT audit_log_seal_pending()",
]


@pytest.mark.parametrize("statement", AS_THE_APPLICATION)
async def test_the_applications_database_role_can_only_read_and_append_audit_rows(world, statement):
    row = await _some_audit_row(world)
    before = await chain()
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await engine_finder().run_ddl(statement)
    assert await chain() == before
    assert (await AuditLog.select(AuditLog.reason).where(AuditLog.id == row["id"]).first())["reason"] == row["reason"]
    assert (await audit.verify_chain()).broken_id is None


async def test_the_owner_may_empty_the_audit_log_as_restoring_a_test_database_does(world, owner_connection):
    await _some_audit_row(world)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await AuditLog.delete().where(AuditLog.id > 0)
    await owner_connection.execute("TRUNCATE audit_log CASCADE")
    assert await AuditLog.count() == 0


# Hash chain ------------------------------------------------------------------------------------


def owner_url() -> str:
    return os.environ["MIGRATION_DATABASE_URL"]


async def as_owner_bypassing_the_guard(statement: str) -> None:
    """What someone holding the owner's or a superuser's password could do: switch the guard off and edit."""
    connection = await asyncpg.connect(owner_url())
    try:
        async with connection.transaction():
            await connection.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
            await connection.execute(statement)
            await connection.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    finally:
        await connection.close()


async def chain() -> list[dict]:
    return [dict(r) for r in await engine_finder().run_ddl("SELECT id, seq, hash FROM audit_log ORDER BY seq")]


async def five_audited_orgs(world) -> list[dict]:
    for n in range(5):
        await ok(
            await world.post(
                "street_x",
                "/api/v1/orgs",
                json={"name": f"链上社区{n}", "kind": "community", "parent_id": world.org_id("street_x")},
            ),
            201,
        )
    return await chain()


def fcom_audit_verify() -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app", "audit", "verify"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ.copy(),
        timeout=120,
    )


async def test_each_audit_row_is_sealed_into_one_chain_at_commit(world):
    rows = await five_audited_orgs(world)
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert all(len(r["hash"]) == 64 for r in rows) and len({r["hash"] for r in rows}) == len(rows)
    check = await audit.verify_chain()
    assert (check.broken_id, check.rows, check.head) == (None, len(rows), rows[-1]["hash"])


async def test_an_insert_cannot_choose_its_own_place_or_hash_in_the_chain(world):
    await five_audited_orgs(world)
    await engine_finder().run_ddl(
        "INSERT INTO audit_log (at, actor_name, action, entity_type, entity_id, reason, seq, hash) "
        "VALUES (now(), 'system', 'forged', 'x', '1', '', 1, repeat('0', 64))"
    )
    rows = await chain()
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert (await audit.verify_chain()).broken_id is None


# Each edit is made on the middle row; the row named is where the recomputed chain first differs.
TAMPERING = {
    "reason": ("UPDATE audit_log SET reason = 'edited' WHERE id = {id}", 0),
    "after": ("UPDATE audit_log SET after = '{{}}'::jsonb WHERE id = {id}", 0),
    "time": ("UPDATE audit_log SET at = at - interval '1 day' WHERE id = {id}", 0),
    "actor": ("UPDATE audit_log SET actor = NULL, actor_name = 'system' WHERE id = {id}", 0),
    "action": ("UPDATE audit_log SET action = 'org.update' WHERE id = {id}", 0),
    "hash": ("UPDATE audit_log SET hash = repeat('0', 64) WHERE id = {id}", 0),
    "order": ("UPDATE audit_log SET seq = -seq WHERE id = {id}", 1),
    "deleted": ("DELETE FROM audit_log WHERE id = {id}", 1),
    "unsealed": ("UPDATE audit_log SET seq = NULL, hash = NULL WHERE id = {id}", 1),
}


@pytest.mark.parametrize("edit", sorted(TAMPERING))
async def test_verify_names_the_first_row_an_edit_behind_the_guard_broke(world, edit):
    rows = await five_audited_orgs(world)
    middle = len(rows) - 3  # the third of the five orgs' rows; the world's own rows come first
    statement, offset = TAMPERING[edit]
    await as_owner_bypassing_the_guard(statement.format(id=rows[middle]["id"]))
    check = await audit.verify_chain()
    assert check.broken_id == rows[middle + offset]["id"], check
    assert (check.rows, check.head) == (middle, rows[middle - 1]["hash"])


async def test_fcom_audit_verify_names_the_first_broken_row_and_exits_non_zero(world):
    rows = await five_audited_orgs(world)
    intact = fcom_audit_verify()
    assert intact.returncode == 0, intact.stderr
    assert f"{len(rows)} rows, head {rows[-1]['hash']}" in intact.stdout
    edited = rows[-2]
    await as_owner_bypassing_the_guard(f"UPDATE audit_log SET reason = 'edited' WHERE id = {edited['id']}")
    broken = fcom_audit_verify()
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert f"audit_log id {edited['id']} (seq {edited['seq']})" in broken.stdout


async def test_concurrent_audited_writes_still_chain(world):
    """Twenty requests at once, each writing its audit row among other writes, and a nightly-style batch."""

    async def org(n: int):
        return await world.post(
            "street_x",
            "/api/v1/orgs",
            json={"name": f"并发社区{n}", "kind": "community", "parent_id": world.org_id("street_x")},
        )

    async def batch():
        from core.db import transaction

        async with transaction():
            await audit.record_many(None, "contract.expiring", "contract", [(n, {"n": n}) for n in range(50)])

    results = await asyncio.gather(*(org(n) for n in range(20)), batch(), batch())
    assert [r.status_code for r in results[:20]] == [201] * 20
    rows = await chain()
    assert len(rows) == len(world.user_ids) + len(world.orgs) + 120
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    check = await audit.verify_chain(page_size=7)
    assert (check.broken_id, check.rows) == (None, len(rows))


async def test_every_fund_decision_is_audited_with_actor_reason_before_and_after(world, frozen_clock):
    from market import service as market
    from tests.market.helpers import community

    target = await community(world, "street_x", "江滨社区")
    base = f"/api/v1/communities/{target['id']}/fund"
    await ok(await world.post("street_x", base, json={"name": "江滨社区基金"}), 201)
    donation = {"kind": "donation", "amount": 500_000, "counterparty": "商会", "reference": "JZ-1"}
    await ok(await world.post("street_x", f"{base}/contributions", json=donation), 201)
    grant = {"amount": 100_000, "purpose": "重阳节敬老活动", "counterparty": "老年协会", "reference": "FP-1"}
    await ok(await world.post("district", f"{base}/grants", json=grant), 201)
    await market.fund_pay(target["id"], 50_000, "points_redemption", 7, "积分兑付")

    rows = await audit_rows(world)
    await assert_complete(rows, {a for a in EXPECTED if a.startswith("fund.")})
    granted = next(r for r in rows if r["action"] == "fund.grant")
    assert (granted["actor_name"], granted["reason"]) == ("district", "重阳节敬老活动")
    assert (granted["before"], granted["after"]["balance"]) == ({"balance": 500_000}, 400_000)


async def test_a_franchise_invoice_is_audited_with_its_actor_and_figures(world, frozen_clock):
    from tests.market.helpers import community, contract, listed_operators

    operators = await listed_operators(world, frozen_clock, {"energy": {"categories": ("property",)}})
    target = await community(world, "street_x", "江滨社区")
    franchise = await contract(
        world,
        "street_x",
        target["id"],
        operators["energy"]["id"],
        ("property",),
        kind="franchise",
        scope="社区综合能源供应",
        franchise_fee=1_200_000,
    )
    await ok(
        await world.post(
            "street_x", f"/api/v1/contracts/{franchise['id']}/franchise-invoices", json={"month": "2026-10-01"}
        ),
        201,
    )
    rows = await audit_rows(world)
    await assert_complete(rows, {"franchise.invoice"})
    invoice = next(r for r in rows if r["action"] == "franchise.invoice")
    assert (invoice["actor_name"], invoice["after"]["fee"]) == ("street_x", 100_000)


async def test_every_platform_decision_is_audited_with_actor_reason_before_and_after(world, frozen_clock):
    from tests.market.helpers import community

    platform = await ok(
        await world.post(
            "city",
            "/api/v1/platforms",
            json={
                "org_id": world.org_id("owner"),
                "level": "district",
                "district_id": world.org_id("district_a"),
                "reason": "区级国企平台试点",
            },
        ),
        201,
    )
    target = await community(world, "street_x", "江滨社区")
    await ok(
        await world.post(
            "city",
            f"/api/v1/platforms/{platform['id']}/communities",
            json={"community_id": target["id"], "starts_on": "2026-12-01", "reason": "纳入统一运营"},
        ),
        201,
    )
    await ok(
        await world.post(
            "city",
            f"/api/v1/platforms/{platform['id']}/master-contract",
            json={"starts_on": "2026-12-01", "ends_on": "2029-12-01", "reason": "总运营合同"},
        ),
        201,
    )
    rows = await audit_rows(world)
    await assert_complete(rows, {a for a in EXPECTED if a.startswith("platform.")})
    assigned = next(r for r in rows if r["action"] == "platform.assign")
    assert (assigned["entity_id"], assigned["reason"]) == (str(target["id"]), "纳入统一运营")
    assert assigned["after"]["platform_id"] == platform["id"]


async def test_every_alliance_decision_is_audited_with_actor_reason_before_and_after(world, frozen_clock):
    from tests.market.helpers import community, contract, listed_operators

    ops = await listed_operators(
        world,
        frozen_clock,
        {"lead": {"categories": ("integrated",)}, "care": {"categories": ("elderly",)}},
    )
    proposed = await ok(
        await world.post(
            "lead",
            "/api/v1/alliances",
            json={
                "name": "富春产业联盟",
                "lead_operator_id": ops["lead"]["id"],
                "charter_ref": "章程1号",
                "members": [
                    {"operator_id": ops["lead"]["id"], "role": "integrated"},
                    {"operator_id": ops["care"]["id"], "role": "specialist", "category": "elderly"},
                ],
            },
        ),
        201,
    )
    await ok(await world.post("city", f"/api/v1/alliances/{proposed['id']}/approve", json={"reason": "章程齐备"}))
    kids = await listed_operators(world, frozen_clock, {"kids": {"categories": ("childcare",)}}, title="2026年第三批")
    members_url = f"/api/v1/alliances/{proposed['id']}/members"
    joined = await ok(
        await world.post(
            "city",
            members_url,
            json={"operator_id": kids["kids"]["id"], "role": "specialist", "category": "childcare", "reason": "决议"},
        ),
        201,
    )
    left_on = (clock.today() + timedelta(days=30)).isoformat()
    await ok(
        await world.post("city", f"{members_url}/{joined['id']}/leave", json={"left_on": left_on, "reason": "退出"})
    )
    target = await community(world, "street_x", "江滨社区")
    signed = await contract(
        world,
        "street_x",
        target["id"],
        ops["lead"]["id"],
        ("integrated", "elderly"),
        alliance_id=proposed["id"],
        lines=[
            {"operator_id": ops["lead"]["id"], "category": "integrated", "fee_share": "0.6"},
            {"operator_id": ops["care"]["id"], "category": "elderly", "fee_share": "0.4"},
        ],
    )
    await ok(
        await world.post(
            "street_x", f"/api/v1/contracts/{signed['id']}/fee-payments", json={"month": "2026-11-01", "amount": 1000}
        ),
        201,
    )
    rows = await audit_rows(world)
    await assert_complete(rows, {a for a in EXPECTED if a.startswith(("alliance.", "fee_payment."))})
    approved = next(r for r in rows if r["action"] == "alliance.approve")
    assert (approved["actor_name"], approved["reason"], approved["after"]) == (
        "city",
        "章程齐备",
        {"status": "approved"},
    )
