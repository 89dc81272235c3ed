"""居民投票: single choice, one ballot per household, secret from officials, closed once, published openly."""

from __future__ import annotations

import asyncio

from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

from residents import jobs
from tests.residents.helpers import confirm, open_poll, poll_body, poll_scene, sign_up


async def scalar(query: str, *args) -> int:
    rows = await engine_finder().run_querystring(QueryString(query, *args))
    return next(iter(rows[0].values()))


async def voters(
    world, community_id: int, keys: list[str], *, confirmed: bool = True, first_room: int = 101
) -> list[dict]:
    found = []
    for i, key in enumerate(keys):
        resident = await sign_up(world, key, community_id, room=f"{first_room + i}")
        if confirmed:
            await confirm(world, resident["household_id"])
        found.append(resident)
    return found


async def test_a_street_opens_a_poll_with_shortlisted_operators_and_their_score_parts(world, frozen_clock):
    scene = await poll_scene(world, frozen_clock)
    poll = await open_poll(world, scene, frozen_clock)
    assert poll["state"] == "open" and poll["voting"].startswith("单选")
    kinds = [o["kind"] for o in poll["options"]]
    assert kinds == ["operator", "operator", "package"]
    operator_option = poll["options"][0]
    assert operator_option["score_total"] is not None and operator_option["score_parts"]
    assert {"label", "points", "explanation"} <= set(operator_option["score_parts"][0])
    assert poll["options"][2]["label"] == "普惠托育套餐"
    seen_by_district = await world.get("district", f"/api/v1/polls/{poll['id']}")
    assert seen_by_district.status_code == 200
    assert (await world.get("street_y", f"/api/v1/polls/{poll['id']}")).status_code == 404
    assert (await world.get("district", "/api/v1/polls")).json()["total"] == 1
    assert (await world.get("street_y", "/api/v1/polls", params={"state": "open"})).json()["total"] == 0


async def test_opening_a_poll_refuses_bad_input_with_the_field_named(world, frozen_clock):
    scene = await poll_scene(world, frozen_clock)
    cases = [
        ({"operator_ids": [999_999]}, 422, "poll.option_not_shortlisted", "operator_ids"),
        ({"operator_ids": [], "packages": [{"name": "唯一套餐"}]}, 422, "poll.too_few_options", "operator_ids"),
        ({"closes_at": frozen_clock().isoformat()}, 422, "poll.window_invalid", "closes_at"),
        ({"quorum": "1.5"}, 422, "poll.quorum_invalid", "quorum"),
        ({"quorum": "0"}, 422, "poll.quorum_invalid", "quorum"),
        ({"need_id": 999_999}, 422, "poll.need_unknown", "need_id"),
        ({"closes_at": "2026-12-01T00:00:00"}, 422, "request.validation_failed", "closes_at"),
    ]
    for overrides, status, code, field in cases:
        response = await world.post("street_x", "/api/v1/polls", json=poll_body(scene, frozen_clock, **overrides))
        assert response.status_code == status and response.json()["code"] == code, (overrides, response.text)
        assert field in response.json()["message"], response.text
    other_street = await world.post("street_y", "/api/v1/polls", json=poll_body(scene, frozen_clock))
    assert other_street.status_code == 422 and other_street.json()["code"] == "poll.need_unknown"
    district = await world.post("district", "/api/v1/polls", json=poll_body(scene, frozen_clock))
    assert district.status_code == 403
    closed = await world.post(
        "street_x", f"/api/v1/needs/{scene['need']['id']}/close", json={"reason": "已由社区自行解决"}
    )
    assert closed.status_code == 200, closed.text
    refused = await world.post("street_x", "/api/v1/polls", json=poll_body(scene, frozen_clock))
    assert refused.status_code == 409 and refused.json()["code"] == "poll.need_not_open"
    assert (await world.get("street_x", "/api/v1/polls")).json()["total"] == 0


async def test_households_vote_once_change_until_close_and_the_result_is_published(world, frozen_clock):
    scene = await poll_scene(world, frozen_clock)
    cx = scene["community"]["id"]
    poll = await open_poll(world, scene, frozen_clock, quorum="0.5")
    a, b, c = (o["id"] for o in poll["options"])
    await voters(world, cx, ["v1", "v2", "v3"])
    # A fourth confirmed household that does not vote, and a resident whose household is unconfirmed.
    registered = await world.post(
        "street_x", f"/api/v1/households/register/{cx}", json={"csv": "楼栋,单元,室\n9,9,909\n"}
    )
    assert registered.status_code == 200
    await voters(world, cx, ["unconfirmed"], confirmed=False, first_room=501)
    url = f"/api/v1/polls/{poll['id']}/ballots"

    refused = await world.post("unconfirmed", url, json={"option_id": a})
    assert refused.status_code == 403 and refused.json()["code"] == "poll.household_unconfirmed"
    unknown_field = await world.post("v1", url, json={"option_id": a, "household_id": 1})
    assert unknown_field.status_code == 400 and "household_id" in unknown_field.json()["message"]
    wrong = await world.post("v1", url, json={"option_id": 999_999})
    assert wrong.status_code == 422 and "option_id" in wrong.json()["message"]
    assert (await world.post("v1", "/api/v1/polls/999999/ballots", json={"option_id": a})).status_code == 404
    assert (await world.post("street_x", url, json={"option_id": a})).status_code == 403

    first = (await world.post("v1", url, json={"option_id": b})).json()
    changed = await world.post("v1", url, json={"option_id": a})
    assert changed.status_code == 200
    for key in ("v2",):
        assert (await world.post(key, url, json={"option_id": a})).status_code == 200
    assert (await world.post("v3", url, json={"option_id": c})).status_code == 200
    assert (await world.get("v1", f"/api/v1/polls/{poll['id']}")).json()["my_option_id"] == a

    # Receipts: the replaced one is gone; anyone learns "counted", only the voter learns the option.
    receipt = changed.json()["receipt"]
    malformed = await world.client.get("/api/v1/public/poll-receipts/short")
    assert malformed.status_code == 422 and "receipt" in malformed.json()["message"]
    gone = await world.client.get(f"/api/v1/public/poll-receipts/{first['receipt']}")
    assert gone.status_code == 404 and gone.json()["code"] == "poll.receipt_not_found"
    public = (await world.client.get(f"/api/v1/public/poll-receipts/{receipt}")).json()
    assert public == {"poll_id": poll["id"], "counted": True, "option_id": None, "option_label": None}
    assert (await world.get("v2", f"/api/v1/public/poll-receipts/{receipt}")).json()["option_id"] is None
    assert (await world.get("street_x", f"/api/v1/public/poll-receipts/{receipt}")).json()["option_id"] is None
    own = (await world.get("v1", f"/api/v1/public/poll-receipts/{receipt}")).json()
    assert own["option_id"] == a and own["option_label"] == poll["options"][0]["label"]

    # Officials see no one's choice while the poll runs, and no result yet.
    assert (await world.get("street_x", f"/api/v1/polls/{poll['id']}")).json()["result"] is None
    early = await world.client.get(f"/api/v1/public/polls/{poll['id']}/result")
    assert early.status_code == 409 and early.json()["code"] == "poll.not_closed"
    not_yet = await world.post("street_x", f"/api/v1/polls/{poll['id']}/decision", json={"follows": True})
    assert not_yet.status_code == 409

    frozen_clock.advance(days=7)
    late = await world.post("v3", url, json={"option_id": a})
    assert late.status_code == 409 and late.json()["code"] == "poll.not_open"
    assert await jobs.close_polls() == {"closed": 1}
    assert await jobs.close_polls() == {"closed": 0}

    result = await world.client.get(f"/api/v1/public/polls/{poll['id']}/result")
    assert result.status_code == 200, result.text
    body = result.json()
    assert (body["ballots"], body["confirmed_households"]) == (3, 4)
    assert body["turnout"] == "0.7500" and body["quorum_met"] is True and body["winner_option_id"] == a
    assert [o["votes"] for o in body["options"]] == [2, 0, 1]
    assert body["options"][0]["score_parts"] and body["decision"] is None
    assert (await world.client.get("/api/v1/public/polls/999999/result")).status_code == 404

    # The street deviates from the winner: only with a written reason, once, shown with the result.
    decision_url = f"/api/v1/polls/{poll['id']}/decision"
    no_reason = await world.post("street_x", decision_url, json={"follows": False, "option_id": c})
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["message"]
    not_an_option = await world.post(
        "street_x", decision_url, json={"follows": False, "option_id": 999_999, "reason": "价格过高"}
    )
    assert not_an_option.status_code == 422
    assert (await world.post("street_y", decision_url, json={"follows": True})).status_code == 404
    decided = await world.post(
        "street_x", decision_url, json={"follows": False, "option_id": c, "reason": "得票第一的运营商本年度产能已满"}
    )
    assert decided.status_code == 200, decided.text
    again = await world.post("street_x", decision_url, json={"follows": True})
    assert again.status_code == 409 and again.json()["code"] == "poll.already_decided"
    shown = (await world.client.get(f"/api/v1/public/polls/{poll['id']}/result")).json()["decision"]
    assert shown["follows"] is False and shown["option_id"] == c and "产能" in shown["reason"]
    audit = (await world.get("auditor", "/api/v1/audit", params={"limit": 200})).json()["items"]
    assert {"poll.open", "poll.close", "poll.decide"} <= {row["action"] for row in audit}

    # A resident's export holds their ballot; deleting the account keeps the ballot for counting, unlinked.
    exported = (await world.get("v1", "/api/v1/residents/me/export")).json()
    assert [b["option_label"] for b in exported["ballots"]] == [poll["options"][0]["label"]]
    assert (await world.client.delete("/api/v1/residents/me", headers=world.headers("v1"))).status_code == 204
    assert await scalar("SELECT count(*) FROM resident_ballot WHERE poll = {}", poll["id"]) == 3
    assert await scalar("SELECT count(*) FROM resident_ballot WHERE resident IS NULL") == 1


async def test_a_tie_has_no_winner_to_follow_and_a_low_turnout_misses_the_quorum(world, frozen_clock):
    scene = await poll_scene(world, frozen_clock)
    cx = scene["community"]["id"]
    poll = await open_poll(world, scene, frozen_clock, quorum="0.9")
    a, b, _ = (o["id"] for o in poll["options"])
    await voters(world, cx, ["v1", "v2", "v3"])
    await world.post("v1", f"/api/v1/polls/{poll['id']}/ballots", json={"option_id": a})
    await world.post("v2", f"/api/v1/polls/{poll['id']}/ballots", json={"option_id": b})
    frozen_clock.advance(days=8)
    await jobs.close_polls()
    body = (await world.client.get(f"/api/v1/public/polls/{poll['id']}/result")).json()
    assert body["winner_option_id"] is None and body["quorum_met"] is False and body["turnout"] == "0.6667"
    follow = await world.post("street_x", f"/api/v1/polls/{poll['id']}/decision", json={"follows": True})
    assert follow.status_code == 422 and follow.json()["code"] == "poll.deviation_reason_required"
    listed = (await world.get("v1", "/api/v1/polls", params={"state": "closed"})).json()
    assert listed["total"] == 1 and listed["items"][0]["result"]["ballots"] == 2


async def test_twenty_simultaneous_ballots_from_one_household_leave_one(world, frozen_clock):
    scene = await poll_scene(world, frozen_clock)
    poll = await open_poll(world, scene, frozen_clock)
    (resident,) = await voters(world, scene["community"]["id"], ["v1"])
    # A second resident of the same household votes at the same time.
    await sign_up(world, "v1b", scene["community"]["id"], room=resident["room"])
    options = [o["id"] for o in poll["options"]]
    url = f"/api/v1/polls/{poll['id']}/ballots"
    responses = await asyncio.gather(
        *(world.post("v1" if i % 2 else "v1b", url, json={"option_id": options[i % 3]}) for i in range(20))
    )
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses if r.status_code != 200]
    assert await scalar("SELECT count(*) FROM resident_ballot WHERE poll = {}", poll["id"]) == 1
    # The one ballot left is the last one written, and its receipt is the only one that checks out.
    counted = [
        r
        for r in responses
        if (await world.client.get(f"/api/v1/public/poll-receipts/{r.json()['receipt']}")).status_code == 200
    ]
    assert len(counted) == 1


async def test_closing_a_poll_twice_at_once_counts_once(world, frozen_clock):
    scene = await poll_scene(world, frozen_clock)
    poll = await open_poll(world, scene, frozen_clock)
    await voters(world, scene["community"]["id"], ["v1", "v2"])
    for key in ("v1", "v2"):
        await world.post(key, f"/api/v1/polls/{poll['id']}/ballots", json={"option_id": poll["options"][1]["id"]})
    frozen_clock.advance(days=7, seconds=1)
    outcomes = await asyncio.gather(*(jobs.close_polls() for _ in range(2)))
    assert sorted(o["closed"] for o in outcomes) == [0, 1]
    assert await scalar("SELECT count(*) FROM audit_log WHERE action = 'poll.close'") == 1
    body = (await world.client.get(f"/api/v1/public/polls/{poll['id']}/result")).json()
    assert body["ballots"] == 2 and body["options"][1]["votes"] == 2
