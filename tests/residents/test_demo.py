"""The demo: two Fuyang communities with confirmed households, an open poll and a closed one."""

from __future__ import annotations

from piccolo.engine import engine_finder

from core.demo import load_demo
from core.settings import get_settings
from tests.world import login


async def test_the_demo_has_an_open_and_a_published_closed_poll_in_two_fuyang_communities(client):
    await load_demo()
    token = (await login(client, "fuchun_street", get_settings().demo_password)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    polls = (await client.get("/api/v1/polls", headers=headers)).json()["items"]
    assert sorted((p["community_name"], p["state"]) for p in polls) == [("江滨社区", "open"), ("百合社区", "closed")]
    closed = next(p for p in polls if p["state"] == "closed")
    result = (await client.get(f"/api/v1/public/polls/{closed['id']}/result")).json()
    assert (result["ballots"], result["confirmed_households"]) == (26, 72)
    assert result["quorum_met"] is True and result["decision"]["follows"] is True
    assert result["options"][0]["score_parts"] and result["options"][-1]["kind"] == "package"
    households = (await client.get("/api/v1/households", headers=headers, params={"confirmed": True})).json()
    assert households["total"] == 144
    rows = await engine_finder().run_ddl("SELECT count(*) AS n FROM resident")
    await load_demo()
    assert (await engine_finder().run_ddl("SELECT count(*) AS n FROM resident")) == rows


async def test_the_demo_has_points_earned_redeemed_and_paid_out_and_time_bank_hours(client):
    await load_demo()
    token = (await login(client, "fuchun_street", get_settings().demo_password)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    communities = (await client.get("/api/v1/communities", headers=headers, params={"limit": 200})).json()["items"]
    jiangbin = next(c for c in communities if c["name"] == "江滨社区")
    summary = (await client.get(f"/api/v1/points/communities/{jiangbin['id']}/summary", headers=headers)).json()
    assert summary["issued"] > 180 and summary["redeemed"] == 30
    assert (summary["paid_out_points"], summary["paid_out_fen"]) == (15, 150)
    assert (summary["hours_issued"], summary["hours_withdrawn"]) == ("7.50", "1.00")
    payouts = await engine_finder().run_ddl(
        "SELECT count(*) AS n FROM market_ledger_entry WHERE source LIKE 'points-redemption:%'"
    )
    assert payouts[0]["n"] == 1
    operator = (await login(client, "operator_demo", get_settings().demo_password)).json()["access_token"]
    waiting = (
        await client.get(
            "/api/v1/points/redemptions", headers={"Authorization": f"Bearer {operator}"}, params={"state": "redeemed"}
        )
    ).json()
    assert waiting["total"] == 1 and "****" in waiting["items"][0]["resident"]
