"""The demo's operating models: 江滨社区's fund, 百合社区's energy franchise and Fuyang's district platform."""

from __future__ import annotations

from core.demo import load_demo
from core.settings import get_settings
from tests.world import login


async def test_the_demo_has_a_fund_a_franchise_and_a_district_platform(client):
    await load_demo()
    token = (await login(client, "fuyang_district", get_settings().demo_password)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    communities = (await client.get("/api/v1/communities", headers=headers, params={"limit": 100})).json()["items"]
    by_name = {c["name"]: c for c in communities}

    fund = (await client.get(f"/api/v1/communities/{by_name['江滨社区']['id']}/fund", headers=headers)).json()
    movements = (
        await client.get(f"/api/v1/communities/{by_name['江滨社区']['id']}/fund/movements", headers=headers)
    ).json()["items"]
    # The donation and the grant, then the residents' redeemed points the fund paid the operator for.
    assert [m["kind_label"] for m in movements][-2:] == ["公益资助", "社会捐赠"]
    payouts = [m["amount"] for m in movements if m["source"].startswith("points-redemption:")]
    assert len(payouts) == 1 and fund["balance"] == 17_000_000 - payouts[0]

    contracts = (
        await client.get(
            "/api/v1/contracts", headers=headers, params={"community_id": by_name["百合社区"]["id"], "limit": 100}
        )
    ).json()["items"]
    (franchise,) = [c for c in contracts if c["kind"] == "franchise"]
    assert (franchise["scope"], franchise["status"]) == ("社区综合能源供应", "active")

    (platform,) = (await client.get("/api/v1/platforms", headers=headers)).json()["items"]
    assert (platform["level_label"], platform["district_name"]) == ("区级国企平台", "富阳区")
    detail = (await client.get(f"/api/v1/platforms/{platform['id']}", headers=headers)).json()
    assert len(detail["communities"]) == 3
    assert all(by_name[c["community_name"]]["community_type"] == "renovation" for c in detail["communities"])
    assert detail["master_contract"] is not None and detail["sub_contracts"] == 1
    portfolio = (await client.get(f"/api/v1/platforms/{platform['id']}/portfolio", headers=headers)).json()
    assert len(portfolio["communities"]) == 3 and portfolio["cost"] > 0

    (alliance,) = (await client.get("/api/v1/alliances", headers=headers)).json()["items"]
    assert alliance["status"] == "approved"
    page = (await client.get(f"/api/v1/alliances/{alliance['id']}", headers=headers)).json()
    assert sorted(m["role"] for m in page["members"]) == ["integrated", "specialist", "specialist"]
