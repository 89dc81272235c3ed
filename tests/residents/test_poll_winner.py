"""The residents' vote binds what follows: the result is recorded on the need, matching and allocation put
the winner first, and a contract for the need with another operator takes a written reason, which becomes
the street's decision shown with the poll's public result."""

from __future__ import annotations

import asyncio

from residents import jobs
from tests.market.helpers import contract
from tests.residents.helpers import confirm, open_poll, poll_scene, sign_up


async def _vote_and_close(world, frozen_clock, scene, poll, choices: list[int], *, extra_households: int = 0) -> None:
    """One confirmed household per choice votes for that option; `extra_households` more stay silent."""
    cx = scene["community"]["id"]
    for i, option_id in enumerate(choices):
        resident = await sign_up(world, f"voter{i}", cx, room=f"{201 + i}")
        await confirm(world, resident["household_id"])
        cast = await world.post(f"voter{i}", f"/api/v1/polls/{poll['id']}/ballots", json={"option_id": option_id})
        assert cast.status_code == 200, cast.text
    if extra_households:
        rows = "".join(f"8,1,{801 + i}\n" for i in range(extra_households))
        registered = await world.post(
            "street_x", f"/api/v1/households/register/{cx}", json={"csv": "楼栋,单元,室\n" + rows}
        )
        assert registered.status_code == 200, registered.text
    frozen_clock.advance(days=7, seconds=1)
    assert await jobs.close_polls() == {"closed": 1}


def _draft_body(scene: dict, operator_id: int, **extra) -> dict:
    return {
        "community_id": scene["community"]["id"],
        "operator_id": operator_id,
        "categories": ["childcare"],
        "starts_on": "2027-01-01",
        "ends_on": "2030-01-01",
        "annual_fee": 30_000_000,
        "need_ids": [scene["need"]["id"]],
        **extra,
    }


async def test_signing_with_another_operator_than_the_winner_needs_a_reason_shown_with_the_result(world, frozen_clock):
    scene = await poll_scene(world, frozen_clock)
    op_a, op_b = scene["operators"]["op_a"], scene["operators"]["op_b"]
    poll = await open_poll(world, scene, frozen_clock, quorum="0.5")
    option_a = next(o for o in poll["options"] if o.get("operator_id") == op_a["id"])
    # A draft with operator B for the need, written before the vote ended.
    draft = await world.post("street_x", "/api/v1/contracts", json=_draft_body(scene, op_b["id"]))
    assert draft.status_code == 201, draft.text
    await _vote_and_close(world, frozen_clock, scene, poll, [option_a["id"], option_a["id"]])

    need = (await world.get("street_x", f"/api/v1/needs/{scene['need']['id']}")).json()
    assert need["vote"]["poll_id"] == poll["id"] and need["vote"]["binding"] is True
    assert need["vote"]["winner_operator_id"] == op_a["id"] and need["vote"]["winner_label"] == option_a["label"]
    assert need["vote"]["decided_at"] is None

    sign_url = f"/api/v1/contracts/{draft.json()['id']}/sign"
    refused = await world.post("street_x", sign_url, json={"reason": "  "})
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["code"] == "need.vote_winner_not_followed"
    assert option_a["label"] in body["message"] and "reason" in body["message"]
    assert body["detail"]["winner_operator_id"] == op_a["id"]
    still = (await world.get("street_x", f"/api/v1/contracts/{draft.json()['id']}")).json()
    assert still["status"] == "draft"

    signed = await world.post("street_x", sign_url, json={"reason": "投票第一的运营商无法在明年一月开园"})
    assert signed.status_code == 200, signed.text

    # The signature's reason is the street's decision on the vote: on the need, and with the public result.
    result = (await world.client.get(f"/api/v1/public/polls/{poll['id']}/result")).json()
    decision = result["decision"]
    assert decision["follows"] is False and decision["operator_id"] == op_b["id"]
    assert decision["reason"] == "投票第一的运营商无法在明年一月开园"
    assert decision["option_id"] == next(o["id"] for o in poll["options"] if o.get("operator_id") == op_b["id"])
    again = await world.post("street_x", f"/api/v1/polls/{poll['id']}/decision", json={"follows": True})
    assert again.status_code == 409 and again.json()["code"] == "poll.already_decided"
    audit = (await world.get("auditor", "/api/v1/audit", params={"limit": 200})).json()["items"]
    decided = [r for r in audit if r["action"] == "poll.signing_decision"]
    assert [r["reason"] for r in decided] == ["投票第一的运营商无法在明年一月开园"]


async def test_drafting_for_the_need_follows_the_winner_or_says_why(world, frozen_clock):
    scene = await poll_scene(world, frozen_clock)
    op_a, op_b = scene["operators"]["op_a"], scene["operators"]["op_b"]
    poll = await open_poll(world, scene, frozen_clock, quorum="0.5")
    option_b = next(o for o in poll["options"] if o.get("operator_id") == op_b["id"])
    await _vote_and_close(world, frozen_clock, scene, poll, [option_b["id"]])

    refused = await world.post("street_x", "/api/v1/contracts", json=_draft_body(scene, op_a["id"]))
    assert refused.status_code == 409 and refused.json()["code"] == "need.vote_winner_not_followed"
    assert option_b["label"] in refused.json()["message"]
    assert (await world.get("street_x", "/api/v1/contracts")).json()["total"] == 0

    # With the winner: no reason asked, and signing records that the vote was followed.
    followed = await contract(world, "street_x", scene["community"]["id"], op_b["id"], need_ids=[scene["need"]["id"]])
    assert followed["status"] == "active"
    decision = (await world.client.get(f"/api/v1/public/polls/{poll['id']}/result")).json()["decision"]
    assert decision["follows"] is True and decision["option_id"] == option_b["id"]


async def test_a_vote_short_of_its_quorum_is_shown_but_binds_no_one(world, frozen_clock):
    scene = await poll_scene(world, frozen_clock)
    op_a, op_b = scene["operators"]["op_a"], scene["operators"]["op_b"]
    poll = await open_poll(world, scene, frozen_clock, quorum="0.9")
    option_a = next(o for o in poll["options"] if o.get("operator_id") == op_a["id"])
    await _vote_and_close(world, frozen_clock, scene, poll, [option_a["id"]], extra_households=2)

    need = (await world.get("street_x", f"/api/v1/needs/{scene['need']['id']}")).json()
    assert need["vote"]["quorum_met"] is False and need["vote"]["binding"] is False
    assert need["vote"]["winner_operator_id"] == op_a["id"]
    signed = await contract(world, "street_x", scene["community"]["id"], op_b["id"], need_ids=[scene["need"]["id"]])
    assert signed["status"] == "active"
    assert (await world.client.get(f"/api/v1/public/polls/{poll['id']}/result")).json()["decision"] is None


async def test_matching_and_allocation_put_the_residents_choice_first(world, frozen_clock):
    scene = await poll_scene(world, frozen_clock)
    cx = scene["community"]["id"]
    before = (await world.get("street_x", f"/api/v1/communities/{cx}/matches")).json()["shortlist"]
    runner_up = before[1]["operator_id"]
    assert runner_up in {o["id"] for o in scene["operators"].values()}
    poll = await open_poll(world, scene, frozen_clock, quorum="0.5")
    option = next(o for o in poll["options"] if o.get("operator_id") == runner_up)
    await _vote_and_close(world, frozen_clock, scene, poll, [option["id"], option["id"]])

    after = (await world.get("street_x", f"/api/v1/communities/{cx}/matches")).json()["shortlist"]
    assert after[0]["operator_id"] == runner_up and after[0]["voted_for"] == ["托育"]
    assert after[1]["voted_for"] == []

    plan = await world.post("district", "/api/v1/allocation-plans", json={"district_id": world.org_id("district_a")})
    assert plan.status_code == 201, plan.text
    (line,) = [r for r in plan.json()["lines"] if r["need_id"] == scene["need"]["id"]]
    assert line["operator_id"] == runner_up
    accepted = await world.post(
        "district", f"/api/v1/allocation-plans/{plan.json()['id']}/lines/{line['id']}/accept", json={}
    )
    assert accepted.status_code == 200, accepted.text
    need = (await world.get("street_x", f"/api/v1/needs/{scene['need']['id']}")).json()
    assert need["vote"]["decision_follows"] is True and need["vote"]["decision_operator_id"] == runner_up


async def test_simultaneous_decisions_and_a_signature_leave_one_decision(world, frozen_clock):
    scene = await poll_scene(world, frozen_clock)
    op_a = scene["operators"]["op_a"]
    poll = await open_poll(world, scene, frozen_clock, quorum="0.5")
    option_a = next(o for o in poll["options"] if o.get("operator_id") == op_a["id"])
    draft = await world.post("street_x", "/api/v1/contracts", json=_draft_body(scene, op_a["id"]))
    assert draft.status_code == 201, draft.text
    await _vote_and_close(world, frozen_clock, scene, poll, [option_a["id"]])

    url = f"/api/v1/polls/{poll['id']}/decision"
    responses = await asyncio.gather(
        world.post("street_x", f"/api/v1/contracts/{draft.json()['id']}/sign"),
        *(world.post("street_x", url, json={"follows": True, "reason": f"采纳第 {i} 次"}) for i in range(10)),
    )
    assert responses[0].status_code == 200, responses[0].text
    decisions = [r.status_code for r in responses[1:]]
    # The signature with the winner records "followed" unless a decision already stands: one decision either way.
    assert sorted(decisions) in ([200] + [409] * 9, [409] * 10), [r.text for r in responses]
    assert all(r.json()["code"] == "poll.already_decided" for r in responses[1:] if r.status_code == 409)
    decision = (await world.client.get(f"/api/v1/public/polls/{poll['id']}/result")).json()["decision"]
    assert decision["follows"] is True and decision["operator_id"] == op_a["id"]
    audit = (await world.get("auditor", "/api/v1/audit", params={"limit": 200})).json()["items"]
    recorded = [r for r in audit if r["action"] in ("poll.decide", "poll.signing_decision")]
    assert len(recorded) == 1
