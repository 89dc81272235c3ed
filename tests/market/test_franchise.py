"""Franchises (特许经营): one in force per community and scope, its fee invoiced monthly onto the ledger."""

from __future__ import annotations

import asyncio

from tests.concurrency.test_one_outcome import CHINESE, one_winner
from tests.market.helpers import community, contract, listed_operators

ENERGY = "社区综合能源供应"


def franchise_terms(**extra) -> dict:
    return {
        "kind": "franchise",
        "scope": ENERGY,
        "annual_fee": 0,
        "franchise_fee": 1_200_000,
        "revenue_share": "0.05",
        "renewal_terms": "期满前六个月协商续约，同等条件下原特许经营者优先",
        "termination_terms": "连续两个季度考核不合格的，社区可提前终止，提前三个月书面通知",
        **extra,
    }


async def scene(world, frozen_clock) -> tuple[dict, dict]:
    operators = await listed_operators(
        world, frozen_clock, {name: {"categories": ("property",)} for name in ("energy_a", "energy_b")}
    )
    return await community(world, "street_x", "江滨社区"), operators


async def test_a_franchise_holds_its_scope_alone_and_carries_its_terms(world, frozen_clock):
    target, operators = await scene(world, frozen_clock)
    signed = await contract(
        world,
        "street_x",
        target["id"],
        operators["energy_a"]["id"],
        ("property",),
        ends_on="2027-06-01",
        **franchise_terms(),
    )
    assert (signed["kind"], signed["kind_label"], signed["status"]) == ("franchise", "特许经营", "active")
    assert signed["scope"] == ENERGY and signed["franchise_fee"] == 1_200_000
    assert signed["termination_terms"].startswith("连续两个季度")

    rival = await world.post(
        "street_x",
        "/api/v1/contracts",
        json={
            "community_id": target["id"],
            "operator_id": operators["energy_b"]["id"],
            "categories": ["property"],
            "starts_on": "2026-12-01",
            "ends_on": "2036-12-01",
            **franchise_terms(scope=f" {ENERGY} "),
        },
    )
    assert rival.status_code == 409 and rival.json()["code"] == "franchise.scope_taken", rival.text
    assert rival.json()["detail"]["contract_id"] == signed["id"]
    # Another scope, or the same scope in another community, is free.
    other = await contract(
        world, "street_x", target["id"], operators["energy_b"]["id"], ("property",), **franchise_terms(scope="社区停车")
    )
    assert other["status"] == "active"
    elsewhere = await community(world, "street_x", "富春社区")
    assert (
        await contract(
            world, "street_x", elsewhere["id"], operators["energy_b"]["id"], ("property",), **franchise_terms()
        )
    )["status"] == "active"

    # Renewed, the successor keeps the scope and terms; terminated, the scope is free again.
    renewed = await world.post(
        "street_x", f"/api/v1/contracts/{signed['id']}/renew", json={"ends_on": "2032-01-01", "reason": "经营良好续约"}
    )
    assert renewed.status_code == 201, renewed.text
    assert (renewed.json()["kind"], renewed.json()["scope"], renewed.json()["franchise_fee"]) == (
        "franchise",
        ENERGY,
        1_200_000,
    )
    ended = await world.post(
        "street_x", f"/api/v1/contracts/{renewed.json()['id']}/terminate", json={"reason": "考核不合格，提前终止"}
    )
    assert ended.status_code == 200, ended.text
    assert (
        await contract(world, "street_x", target["id"], operators["energy_b"]["id"], ("property",), **franchise_terms())
    )["status"] == "active"


async def test_franchise_terms_are_refused_where_they_do_not_belong(world, frozen_clock):
    target, operators = await scene(world, frozen_clock)
    base = {
        "operator_id": operators["energy_a"]["id"],
        "categories": ["property"],
        "starts_on": "2026-12-01",
        "ends_on": "2036-12-01",
    }
    cases = [
        ({"community_id": target["id"], **franchise_terms(scope="  ")}, "scope"),
        ({"street_id": world.org_id("street_x"), **franchise_terms()}, "community_id"),
        ({"community_id": target["id"], "scope": ENERGY}, "scope"),
        ({"community_id": target["id"], "franchise_fee": 100}, "franchise_fee"),
    ]
    for body, field in cases:
        refused = await world.post("street_x", "/api/v1/contracts", json={**base, **body})
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "franchise.terms_invalid" and refused.json()["detail"] == {"field": field}
        assert CHINESE.search(refused.json()["message"])
    wrong_kind = await world.post(
        "street_x", "/api/v1/contracts", json={**base, "community_id": target["id"], "kind": "concession"}
    )
    assert wrong_kind.status_code == 422 and "kind" in wrong_kind.text
    listed = await world.get("street_x", "/api/v1/contracts")
    assert listed.json()["total"] == 0


async def test_a_month_of_the_franchise_is_invoiced_once_onto_the_ledger(world, frozen_clock):
    target, operators = await scene(world, frozen_clock)
    franchise = await contract(
        world, "street_x", target["id"], operators["energy_a"]["id"], ("property",), **franchise_terms()
    )
    url = f"/api/v1/contracts/{franchise['id']}/franchise-invoices"
    invoiced = await world.post("street_x", url, json={"month": "2026-10-01", "revenue": 1_000_000})
    assert invoiced.status_code == 201, invoiced.text
    assert (invoiced.json()["fee_amount"], invoiced.json()["share_amount"], invoiced.json()["amount"]) == (
        100_000,
        50_000,
        150_000,
    )
    again = await world.post("district", url, json={"month": "2026-10-15", "revenue": 0})
    assert again.status_code == 409 and again.json()["code"] == "franchise.invoice_exists"
    entries = (
        await world.get(
            "street_x",
            f"/api/v1/communities/{target['id']}/ledger",
            params={"start": "2026-01-01", "end": "2027-01-01"},
        )
    ).json()["items"]
    assert [(e["direction"], e["amount"], e["source"]) for e in entries] == [
        ("income", 150_000, f"franchise:{franchise['id']}:2026-10")
    ]
    # Before the term, in the future, on a service contract, or for nothing: refused, nothing posted.
    early = await world.post("street_x", url, json={"month": "2025-12-01"})
    assert early.status_code == 409 and early.json()["code"] == "ledger.no_contract_for_month"
    future = await world.post("street_x", url, json={"month": "2027-01-01"})
    assert future.status_code == 422 and future.json()["code"] == "ledger.month_invalid"
    service = await contract(world, "street_x", target["id"], operators["energy_b"]["id"], ("property",))
    not_franchise = await world.post(
        "street_x", f"/api/v1/contracts/{service['id']}/franchise-invoices", json={"month": "2026-10-01"}
    )
    assert not_franchise.status_code == 409 and not_franchise.json()["code"] == "franchise.not_franchise"
    share_only = await contract(
        world,
        "street_x",
        target["id"],
        operators["energy_b"]["id"],
        ("property",),
        **franchise_terms(scope="社区停车", franchise_fee=0),
    )
    empty = await world.post(
        "street_x", f"/api/v1/contracts/{share_only['id']}/franchise-invoices", json={"month": "2026-10-01"}
    )
    assert empty.status_code == 422 and empty.json()["detail"] == {"field": "revenue"}
    assert (await world.post("street_y", url, json={"month": "2026-09-01"})).status_code == 404
    assert (await world.post("operator_a", url, json={"month": "2026-09-01"})).status_code == 403


async def test_two_franchises_signed_at_once_for_one_scope_leave_one(world, frozen_clock):
    target, operators = await scene(world, frozen_clock)
    drafts = [
        await contract(
            world, "street_x", target["id"], operators[name]["id"], ("property",), sign=False, **franchise_terms()
        )
        for name in ("energy_a", "energy_b")
    ]
    responses = await asyncio.gather(
        world.post("street_x", f"/api/v1/contracts/{drafts[0]['id']}/sign"),
        world.post("district", f"/api/v1/contracts/{drafts[1]['id']}/sign"),
    )
    one_winner(list(responses), (200,), {"franchise.scope_taken"})
    listed = (await world.get("street_x", "/api/v1/contracts", params={"status": "active"})).json()
    assert listed["total"] == 1
