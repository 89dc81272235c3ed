"""Spaces, listings, awards, leases and invoices through the API, on the real database."""

from __future__ import annotations

import asyncio
import io
import itertools

from openpyxl import load_workbook

from core.outbox.service import send_pending
from leasing import rent, service
from leasing.labels import USE_LABELS
from tests.leasing.helpers import lease, listing, listing_terms, space
from tests.market.helpers import community, listed_operators


async def test_spaces_are_registered_and_seen_within_scope(world):
    registered = await space(world)
    assert registered["status_label"] == "闲置" and registered["owner_kind_label"] == "国有企业"
    assert registered["allowed_use_labels"] == ["托育", "商业", "公共服务"]
    assert (await world.get("street_y", f"/api/v1/spaces/{registered['id']}")).status_code == 404
    assert (await world.get("street_y", "/api/v1/spaces")).json()["total"] == 0
    assert (await world.get("district", "/api/v1/spaces")).json()["total"] == 1
    foreign = await world.post(
        "street_y",
        f"/api/v1/spaces/{registered['id']}/listings",
        json={
            "track": "competitive",
            "rent_per_m2_month": 1,
            "min_term_months": 1,
            "max_term_months": 2,
            "opens_on": "2026-11-01",
            "closes_on": "2026-12-01",
        },
    )
    assert foreign.status_code == 404

    # The state-owned owner registers a space in a community of its own district.
    owned = await space(world, "owner", community_id=registered["community_id"])
    assert owned["owner_name"] == "富阳城投"
    assert (await world.get("owner", f"/api/v1/spaces/{owned['id']}")).status_code == 200
    bad = await world.post(
        "street_x",
        "/api/v1/spaces",
        json={
            "community_id": registered["community_id"],
            "owner_kind": "government",
            "address": "x",
            "area_m2": "0",
            "allowed_uses": ["commerce"],
        },
    )
    assert bad.status_code == 422 and bad.json()["code"] == "space.area_invalid"


TRADE_USES = sorted(set(USE_LABELS) - rent.PUBLIC_SERVICE_USES)


async def test_a_preferential_listing_needs_a_space_that_allows_a_public_service_use(world, frozen_clock):
    community_id = (await community(world, "street_x", "江滨社区"))["id"]
    # Every set of uses without a public-service one is refused, and leaves the space idle with no listing.
    for size in range(1, len(TRADE_USES) + 1):
        for uses in itertools.combinations(TRADE_USES, size):
            trade_only = await space(world, community_id=community_id, uses=uses)
            refused = await world.post(
                "street_x", f"/api/v1/spaces/{trade_only['id']}/listings", json=listing_terms(track="preferential")
            )
            assert refused.status_code == 422, (uses, refused.text)
            assert refused.json()["code"] == "listing.preferential_needs_public_use" and refused.json()["message"]
            assert (await world.get("street_x", f"/api/v1/spaces/{trade_only['id']}")).json()["status"] == "idle"
            await listing(world, trade_only["id"])  # a competitive listing is fine
    assert (await world.get("street_x", "/api/v1/space-listings")).json()["total"] == 2 ** len(TRADE_USES) - 1

    # Any one public-service use beside them is enough, and a space on such a listing keeps one.
    for use in sorted(rent.PUBLIC_SERVICE_USES):
        mixed = await space(world, community_id=community_id, uses=(*TRADE_USES, use))
        await listing(world, mixed["id"], track="preferential")
        narrowed = await world.patch("street_x", f"/api/v1/spaces/{mixed['id']}", json={"allowed_uses": TRADE_USES})
        assert narrowed.status_code == 422 and narrowed.json()["code"] == "listing.preferential_needs_public_use"
        assert (await world.get("street_x", f"/api/v1/spaces/{mixed['id']}")).json()["allowed_uses"] == [
            *TRADE_USES,
            use,
        ]


async def test_from_listing_to_award_to_lease_with_everyone_told(world, frozen_clock, mailbox):
    operators = await listed_operators(
        world,
        frozen_clock,
        {
            "tot": {"name": "小橙托育", "categories": ("childcare",)},
            "shop": {"name": "邻里便利", "categories": ("commerce",)},
        },
    )
    room = await space(world)
    offer = await listing(world, room["id"], closes_on="2026-12-05")
    assert (await world.get("street_x", f"/api/v1/spaces/{room['id']}")).json()["status"] == "listed"
    assert (await world.get("tot", "/api/v1/space-listings")).json()["total"] == 1

    low = await world.post(
        "shop",
        f"/api/v1/space-listings/{offer['id']}/applications",
        json={"proposed_use": "commerce", "term_months": 36, "proposed_rent_per_m2_month": 4_000},
    )
    assert low.status_code == 422 and low.json()["code"] == "lease_application.invalid"
    shop = await world.post(
        "shop",
        f"/api/v1/space-listings/{offer['id']}/applications",
        json={
            "proposed_use": "commerce",
            "term_months": 36,
            "proposed_rent_per_m2_month": 5_000,
            "plan": "24小时便利店",
        },
    )
    tot = await world.post(
        "tot",
        f"/api/v1/space-listings/{offer['id']}/applications",
        json={
            "proposed_use": "childcare",
            "term_months": 36,
            "proposed_rent_per_m2_month": 4_600,
            "plan": "普惠托育 60 托位",
        },
    )
    assert shop.status_code == tot.status_code == 201, (shop.text, tot.text)
    twice = await world.post(
        "tot",
        f"/api/v1/space-listings/{offer['id']}/applications",
        json={"proposed_use": "childcare", "term_months": 36, "proposed_rent_per_m2_month": 4_600},
    )
    assert twice.status_code == 409 and twice.json()["code"] == "lease_application.duplicate"

    frozen_clock.advance(days=4)  # the application window has closed
    for application, plan in ((tot, 90), (shop, 60)):
        scored = await world.post(
            "street_x",
            f"/api/v1/space-listings/{offer['id']}/applications/{application.json()['id']}/scores",
            json={"scores": {"plan": plan}, "comment": "按经营方案评分"},
        )
        assert scored.status_code == 201, scored.text
    ranked = (await world.get("street_x", f"/api/v1/space-listings/{offer['id']}/applications")).json()
    # A better plan outweighs 9 % more rent: 60 × 92 % + 40 × 90 % = 91.20 against 60 + 40 × 60 % = 84.00.
    assert [a["operator_name"] for a in ranked] == ["小橙托育", "邻里便利"]
    assert ranked[0]["rank"] == 1 and "经营方案（权重 40）：1 位评委平均 90.00 分" in ranked[0]["reasons"]
    assert [a["score"] for a in ranked] == ["91.20", "84.00"]
    own = (await world.get("shop", f"/api/v1/space-listings/{offer['id']}/applications")).json()
    assert [a["operator_name"] for a in own] == ["邻里便利"]

    await send_pending()
    mailbox.clear()
    no_reason = await world.post(
        "street_x",
        f"/api/v1/space-listings/{offer['id']}/award",
        json={"application_id": tot.json()["id"], "reason": ""},
    )
    assert no_reason.status_code == 422
    awarded = await world.post(
        "street_x",
        f"/api/v1/space-listings/{offer['id']}/award",
        json={"application_id": tot.json()["id"], "reason": "普惠托育，综合得分第一"},
    )
    assert awarded.status_code == 201, awarded.text
    signed = awarded.json()
    # 46 元 × 120.50 m² less the 30 % public-welfare discount = 3,880.10 元 a month.
    assert signed["monthly_rent"] == 388_010 and signed["deposit"] == 2 * 388_010
    assert (signed["starts_on"], signed["ends_on"]) == ("2027-01-01", "2030-01-01")
    assert signed["lessee_name"] == "小橙托育" and signed["rent_free_months"] == 2
    assert (await world.get("street_x", f"/api/v1/spaces/{room['id']}")).json()["status"] == "leased"

    await send_pending()
    assert "中选" in mailbox.to(operators["tot"]["contact_email"])[0]["Subject"]
    assert "未中选" in mailbox.to(operators["shop"]["contact_email"])[0]["Subject"]
    again = await world.post(
        "street_x",
        f"/api/v1/space-listings/{offer['id']}/award",
        json={"application_id": shop.json()["id"], "reason": "改选"},
    )
    assert again.status_code == 409 and again.json()["code"] == "listing.not_open"

    audit = (await world.get("city", "/api/v1/audit", params={"action": "listing.award"})).json()["items"]
    assert audit[0]["reason"] == "普惠托育，综合得分第一" and audit[0]["after"]["lease_id"] == signed["id"]


async def test_twenty_concurrent_leases_of_one_space_leave_exactly_one(world, frozen_clock):
    operators = await listed_operators(
        world, frozen_clock, {f"op{i}": {"categories": ("childcare",)} for i in range(4)}
    )
    room = await space(world)

    async def attempt(i: int):
        return await world.post(
            "street_x",
            "/api/v1/leases",
            json={
                "space_id": room["id"],
                "lessee_id": operators[f"op{i % 4}"]["id"],
                "use": "childcare",
                "starts_on": f"2027-0{1 + i % 5}-01",
                "ends_on": "2028-06-01",
                "monthly_rent": 300_000,
            },
        )

    responses = await asyncio.gather(*(attempt(i) for i in range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19, [r.text for r in responses if r.status_code not in (201, 409)]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"lease.overlap"}
    assert (await world.get("street_x", "/api/v1/leases", params={"space_id": room["id"]})).json()["total"] == 1

    # Back to back is not an overlap: periods are half-open.
    first = next(r.json() for r in responses if r.status_code == 201)
    after = await lease(world, room["id"], operators["op0"]["id"], starts_on=first["ends_on"], ends_on="2030-01-01")
    assert after["starts_on"] == first["ends_on"]


async def test_invoices_are_generated_once_and_operators_see_only_their_own(world, frozen_clock):
    operators = await listed_operators(
        world, frozen_clock, {"tot": {"categories": ("childcare",)}, "other": {"categories": ("childcare",)}}
    )
    room = await space(world)
    signed = await lease(world, room["id"], operators["tot"]["id"], starts_on="2026-09-16", rent_free_months=1)

    created = await service.generate_invoices()  # today is 2026-12-01
    assert created == 3  # September is rent-free; October, November and December are billed
    assert await service.generate_invoices() == 0

    mine = (await world.get("tot", "/api/v1/rent-invoices")).json()
    assert [(i["month"], i["amount"]) for i in mine["items"]] == [
        ("2026-12-01", 300_000),
        ("2026-11-01", 300_000),
        ("2026-10-01", 300_000),
    ]
    assert mine["items"][0]["due_on"] == "2026-12-10" and mine["items"][0]["status_label"] == "待缴"
    assert (await world.get("other", "/api/v1/rent-invoices")).json()["total"] == 0
    invoice_id = mine["items"][0]["id"]
    assert (await world.get("other", f"/api/v1/rent-invoices/{invoice_id}")).status_code == 404
    assert (await world.get("street_y", f"/api/v1/rent-invoices/{invoice_id}")).status_code == 404

    frozen_clock.advance(days=15)
    overdue = await service.mark_overdue_invoices()
    assert len(overdue) == 3

    # Ending the lease early voids what it had not yet earned and stops billing.
    ended = await world.post(
        "street_x",
        f"/api/v1/leases/{signed['id']}/terminate",
        json={"reason": "承租方经营调整", "effective_on": "2026-12-20"},
    )
    assert ended.status_code == 200, ended.text
    assert ended.json()["ends_on"] == "2026-12-20" and ended.json()["agreed_ends_on"] == "2027-09-01"
    again = await world.post(
        "street_x",
        f"/api/v1/leases/{signed['id']}/terminate",
        json={"reason": "重复提交", "effective_on": "2026-12-10"},
    )
    assert again.status_code == 409 and again.json()["code"] == "lease.state_invalid"
    # A room still leased cannot be listed again.
    relisted = await world.post("street_x", f"/api/v1/spaces/{room['id']}/listings", json=listing_terms())
    assert relisted.status_code == 409 and relisted.json()["code"] == "space.not_idle"
    december = (await world.get("tot", f"/api/v1/rent-invoices/{invoice_id}")).json()
    assert december["amount"] == 183_871  # 19 of 31 days
    # Until the lease has actually ended the room is not free to let.
    assert (await world.get("street_x", f"/api/v1/spaces/{room['id']}")).json()["status"] == "leased"
    frozen_clock.advance(days=40)
    assert await service.generate_invoices() == 0
    assert await service.end_leases() == {"ended": 0, "spaces_freed": 1, "expiring": 0}
    assert (await world.get("street_x", f"/api/v1/spaces/{room['id']}")).json()["status"] == "idle"


async def test_figures_and_the_market_see_what_leases_earn(world, frozen_clock):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    target = await community(world, "street_x", "江滨社区")
    leased = await space(world, community_id=target["id"], area="100.00")
    await space(world, community_id=target["id"], area="50.00")
    await lease(world, leased["id"], operators["tot"]["id"], starts_on="2026-10-01", ends_on="2027-06-01")
    await service.generate_invoices()
    frozen_clock.advance(days=15)
    await service.mark_overdue_invoices()

    figures = (await world.get("district", "/api/v1/leasing-figures", params={"level": "street"})).json()
    assert figures["items"][0]["name"] == "富阳区富春街道"
    assert float(figures["total"]["leased_area"]) == 100.0 and float(figures["total"]["idle_area"]) == 50.0
    assert figures["total"]["invoiced"] == 3 * 300_000 and figures["total"]["arrears"] == 3 * 300_000
    assert (await world.get("operator_a", "/api/v1/leasing-figures")).status_code == 403
    sheet = await world.get("district", "/api/v1/leasing-figures/export.xlsx", params={"level": "community"})
    rows = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert rows[1][0] == "社区" and rows[-1][0] == "合计" and rows[-1][5] == 9000.0

    # The community's forecast counts the rent the lease will bill.
    balance = (await world.get("street_x", f"/api/v1/communities/{target['id']}/balance")).json()
    forecast = {m["month"]: m["income"] for m in balance["forecast"]}
    assert forecast["2027-05-01"] == 300_000 and forecast["2027-06-01"] == 0
    report = await world.get("street_x", f"/api/v1/communities/{target['id']}/report.html")
    assert "空间与租约" in report.text and "江滨路 8 号一层" in report.text


async def test_renewal_links_a_successor_lease_once(world, frozen_clock):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    room = await space(world)
    first = await lease(world, room["id"], operators["tot"]["id"])
    for blank in ("", "  "):
        refused = await world.post(
            "street_x", f"/api/v1/leases/{first['id']}/renew", json={"ends_on": "2029-09-01", "reason": blank}
        )
        assert refused.status_code == 422 and refused.json()["code"] == "decision.reason_required"
    unexplained = await world.post("street_x", f"/api/v1/leases/{first['id']}/renew", json={"ends_on": "2029-09-01"})
    assert unexplained.status_code == 422 and unexplained.json()["code"] == "request.validation_failed"
    assert (await world.get("street_x", f"/api/v1/leases/{first['id']}")).json() == first
    assert (await world.get("street_x", "/api/v1/leases", params={"space_id": room["id"]})).json()["total"] == 1

    renewed = await world.post(
        "street_x",
        f"/api/v1/leases/{first['id']}/renew",
        json={"ends_on": "2029-09-01", "monthly_rent": 320_000, "reason": "承租方运营良好"},
    )
    assert renewed.status_code == 201, renewed.text
    successor = renewed.json()
    assert successor["renewal_of"] == first["id"] and successor["starts_on"] == first["ends_on"]
    assert successor["monthly_rent"] == 320_000 and successor["rent_free_months"] == 0
    assert (await world.get("street_x", f"/api/v1/leases/{first['id']}")).json()["status_label"] == "已续租"
    twice = await world.post(
        "street_x", f"/api/v1/leases/{first['id']}/renew", json={"ends_on": "2030-09-01", "reason": "再续一年"}
    )
    assert twice.status_code == 409 and twice.json()["code"] == "lease.state_invalid"
    denied = await world.post("tot", f"/api/v1/leases/{successor['id']}/terminate", json={"reason": "不租了"})
    assert denied.status_code == 403


async def test_a_lease_needs_a_free_space_and_an_operator_in_good_standing(world, frozen_clock):
    operators = await listed_operators(
        world, frozen_clock, {"tot": {"categories": ("childcare",)}, "gone": {"categories": ("childcare",)}}
    )
    room = await space(world)
    await listing(world, room["id"])
    listed = await world.post(
        "street_x",
        "/api/v1/leases",
        json={
            "space_id": room["id"],
            "lessee_id": operators["tot"]["id"],
            "use": "childcare",
            "starts_on": "2027-01-01",
            "ends_on": "2028-01-01",
            "monthly_rent": 100_000,
        },
    )
    assert listed.status_code == 409 and listed.json()["code"] == "space.listed"

    other = await space(world, community_id=room["community_id"])
    await world.post(
        "city",
        f"/api/v1/operators/{operators['gone']['id']}/status",
        json={"status": "suspended", "reason": "暂停整改"},
    )
    suspended = await world.post(
        "street_x",
        "/api/v1/leases",
        json={
            "space_id": other["id"],
            "lessee_id": operators["gone"]["id"],
            "use": "childcare",
            "starts_on": "2027-01-01",
            "ends_on": "2028-01-01",
            "monthly_rent": 100_000,
        },
    )
    assert suspended.status_code == 409 and suspended.json()["code"] == "lease.lessee_not_eligible"


async def test_leases_end_and_expire_on_their_own_dates(world, frozen_clock):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    soon, later = await space(world), None
    later = await space(world, community_id=soon["community_id"])
    ending = await lease(world, soon["id"], operators["tot"]["id"], starts_on="2026-01-01", ends_on="2027-02-01")
    await lease(world, later["id"], operators["tot"]["id"], starts_on="2026-01-01", ends_on="2028-01-01")
    assert await service.end_leases() == {"ended": 0, "spaces_freed": 0, "expiring": 1}
    assert (await world.get("street_x", f"/api/v1/leases/{ending['id']}")).json()["status_label"] == "即将到期"
    frozen_clock.advance(days=70)
    assert await service.end_leases() == {"ended": 1, "spaces_freed": 1, "expiring": 0}
    assert (await world.get("street_x", f"/api/v1/leases/{ending['id']}")).json()["status"] == "ended"
    assert (await world.get("street_x", f"/api/v1/spaces/{soon['id']}")).json()["status"] == "idle"
    assert (await world.get("street_x", f"/api/v1/spaces/{later['id']}")).json()["status"] == "leased"
