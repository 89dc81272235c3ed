"""The community fund (社区基金): donations and subsidies in, grants out, points payouts for other services,
each on the community's ledger with its source, the balance never below zero."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from piccolo.engine import engine_finder

from core.db import transaction
from market import service
from market.errors import FundInsufficient, FundNotFound
from tests.concurrency.test_one_outcome import CHINESE, one_winner
from tests.market.helpers import community


async def opened(world, user="street_x", name="江滨社区") -> tuple[dict, dict]:
    target = await community(world, "street_x", name)
    fund = await world.post(user, f"/api/v1/communities/{target['id']}/fund", json={"name": f"{name}基金"})
    assert fund.status_code == 201, fund.text
    return target, fund.json()


async def contribute(world, community_id, amount, reference, kind="donation", user="street_x"):
    return await world.post(
        user,
        f"/api/v1/communities/{community_id}/fund/contributions",
        json={"kind": kind, "amount": amount, "counterparty": "富春江商会", "reference": reference},
    )


async def grant(world, community_id, amount, reference, user="street_x", **extra):
    return await world.post(
        user,
        f"/api/v1/communities/{community_id}/fund/grants",
        json={
            "amount": amount,
            "purpose": "楼道议事会活动经费",
            "counterparty": "江滨社区3幢居民议事会",
            "reference": reference,
            **extra,
        },
    )


async def ledger(world, community_id) -> list[dict]:
    response = await world.get(
        "street_x", f"/api/v1/communities/{community_id}/ledger", params={"start": "2026-01-01", "end": "2027-01-01"}
    )
    return response.json()["items"]


async def test_a_fund_takes_donations_pays_grants_and_posts_both_on_the_ledger(world, frozen_clock):
    target, fund = await opened(world)
    assert fund["balance"] == 0 and fund["community_id"] == target["id"]
    again = await world.post("district", f"/api/v1/communities/{target['id']}/fund", json={"name": "另一个基金"})
    assert again.status_code == 409 and again.json()["code"] == "fund.exists"

    donated = await contribute(world, target["id"], 5_000_000, "JZ-2026-001")
    assert donated.status_code == 201, donated.text
    assert donated.json()["kind_label"] == "社会捐赠" and donated.json()["balance_after"] == 5_000_000
    subsidy = await contribute(world, target["id"], 2_000_000, "BZ-2026-001", kind="subsidy", user="district")
    assert subsidy.status_code == 201 and subsidy.json()["balance_after"] == 7_000_000
    twice = await contribute(world, target["id"], 5_000_000, " JZ-2026-001 ")
    assert twice.status_code == 409 and twice.json()["code"] == "fund.reference_exists"

    granted = await grant(world, target["id"], 1_500_000, "FP-2026-001")
    assert granted.status_code == 201, granted.text
    body = granted.json()
    assert body["direction"] == "out" and body["balance_after"] == 5_500_000
    assert body["purpose"] == "楼道议事会活动经费" and body["reference"] == "FP-2026-001"

    shown = (await world.get("district", f"/api/v1/communities/{target['id']}/fund")).json()
    assert shown["balance"] == 5_500_000
    movements = (await world.get("auditor", f"/api/v1/communities/{target['id']}/fund/movements")).json()
    assert movements["total"] == 3
    assert movements["items"][0]["approved_by_name"] == "street_x"

    # On the community's ledger: the donation and the subsidy as income, the grant as a cost, each with its source.
    entries = {e["source"]: e for e in await ledger(world, target["id"])}
    assert {(e["kind"], e["direction"], e["amount"]) for e in entries.values()} == {
        ("other_income", "income", 5_000_000),
        ("subsidy", "income", 2_000_000),
        ("other_cost", "cost", 1_500_000),
    }
    assert entries[f"fund:{fund['id']}:grant:FP-2026-001"]["note"].startswith("江滨社区基金公益资助")


async def test_a_grant_larger_than_the_balance_is_refused_and_writes_nothing(world, frozen_clock):
    target, _ = await opened(world)
    await contribute(world, target["id"], 100_000, "JZ-1")
    refused = await grant(world, target["id"], 100_001, "FP-1")
    assert refused.status_code == 409 and refused.json()["code"] == "fund.insufficient"
    assert CHINESE.search(refused.json()["message"])
    assert len(await ledger(world, target["id"])) == 1
    assert (await world.get("street_x", f"/api/v1/communities/{target['id']}/fund")).json()["balance"] == 100_000


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"purpose": "   "}, "purpose"),
        ({"counterparty": ""}, "counterparty"),
        ({"reference": " "}, "reference"),
    ],
)
async def test_a_grant_names_its_purpose_recipient_and_receipt(world, frozen_clock, change, field):
    target, _ = await opened(world)
    await contribute(world, target["id"], 100_000, "JZ-1")
    refused = await grant(world, target["id"], 1_000, change.pop("reference", "FP-1"), **change)
    assert refused.status_code == 422 and refused.json()["detail"] == {"field": field}, refused.text
    assert CHINESE.search(refused.json()["message"])


async def test_bad_fund_input_is_refused_with_the_field_named(world, frozen_clock):
    target, _ = await opened(world)
    zero = await contribute(world, target["id"], 0, "JZ-0")
    assert zero.status_code == 422 and "amount" in zero.text
    wrong_kind = await contribute(world, target["id"], 100, "JZ-0", kind="grant")
    assert wrong_kind.status_code == 422 and "kind" in wrong_kind.text
    blank = await world.post("street_x", f"/api/v1/communities/{target['id']}/fund", json={"name": "  "})
    assert blank.status_code in (409, 422)
    other = await community(world, "street_x", "富春社区")
    blank = await world.post("street_x", f"/api/v1/communities/{other['id']}/fund", json={"name": "  "})
    assert blank.status_code == 422 and blank.json()["detail"] == {"field": "name"}
    missing = await world.get("street_x", f"/api/v1/communities/{other['id']}/fund")
    assert missing.status_code == 404 and missing.json()["code"] == "fund.not_found"
    # Another street's official neither reads nor writes it.
    assert (await contribute(world, target["id"], 100, "JZ-9", user="street_y")).status_code == 404
    assert (await world.get("street_y", f"/api/v1/communities/{target['id']}/fund")).status_code == 404


async def test_the_database_keeps_the_balance_at_or_above_zero(world, frozen_clock):
    target, fund = await opened(world)
    with pytest.raises(asyncpg.CheckViolationError):
        await engine_finder().run_ddl(f"UPDATE market_fund SET balance = -1 WHERE id = {fund['id']}")


async def test_two_grants_racing_for_one_balance_leave_one(world, frozen_clock):
    target, _ = await opened(world)
    await contribute(world, target["id"], 1_000_000, "JZ-1")
    responses = await asyncio.gather(
        grant(world, target["id"], 600_000, "FP-A"), grant(world, target["id"], 600_000, "FP-B", user="district")
    )
    one_winner(list(responses), (201,), {"fund.insufficient"})
    assert (await world.get("street_x", f"/api/v1/communities/{target['id']}/fund")).json()["balance"] == 400_000
    assert len(await ledger(world, target["id"])) == 2


async def test_fund_pay_pays_a_source_once_inside_the_callers_transaction(world, frozen_clock):
    target, _ = await opened(world)
    await contribute(world, target["id"], 300_000, "JZ-1")
    async with transaction():
        first = await service.fund_pay(target["id"], 200_000, "points_redemption", 41, "积分兑付")
        again = await service.fund_pay(target["id"], 200_000, "points_redemption", 41, "积分兑付")
    assert first.id == again.id and first.balance_after == 100_000
    with pytest.raises(FundInsufficient):
        await service.fund_pay(target["id"], 200_000, "points_redemption", 42)
    # A failure inside the caller's transaction takes the payment back with everything else.
    with pytest.raises(RuntimeError):
        async with transaction():
            await service.fund_pay(target["id"], 50_000, "points_redemption", 43)
            raise RuntimeError("the caller fails after paying")
    movements = (await world.get("street_x", f"/api/v1/communities/{target['id']}/fund/movements")).json()
    assert [m["kind_label"] for m in movements["items"]] == ["积分兑付", "社会捐赠"]
    assert (await world.get("street_x", f"/api/v1/communities/{target['id']}/fund")).json()["balance"] == 100_000
    other = await community(world, "street_x", "富春社区")
    with pytest.raises(FundNotFound):
        await service.fund_pay(other["id"], 1, "points_redemption", 44)
