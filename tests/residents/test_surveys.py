"""满意度测评: a survey per contract and quarter, one answer per household, offline results from the district's
third-party surveyor kept apart, closed once, feeding the operator's evaluation and the community's acceptance."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime

from core.accounts.tables import Role
from core.settings import get_settings
from residents import jobs
from residents.satisfaction import Tally, mark, rate, result
from scheduler import jobs as scheduler_jobs
from tests.market.helpers import community, contract
from tests.residents.helpers import confirm, sign_up
from tests.residents.survey_helpers import closed_survey, scalar, sheet, survey_scene, surveyor, workbook

QUARTER_END = datetime(2026, 12, 31, 16, 0, 1, tzinfo=UTC)  # 2027-01-01 00:00:01 in Shanghai
ANSWER = {"overall": 5, "attitude": 4, "responsiveness": 3, "quality": 5, "price": 4, "comment": "服务很及时"}


async def residents_of(
    world, community_id: int, keys: list[str], first_room: int = 101, street: str = "street_x"
) -> list[dict]:
    found = []
    for i, key in enumerate(keys):
        resident = await sign_up(world, key, community_id, room=f"{first_room + i}")
        await confirm(world, resident["household_id"], user=street)
        found.append(resident)
    return found


# Pure counting -----------------------------------------------------------------------------------


def test_the_rate_is_the_share_of_overall_four_and_five_with_the_count():
    assert rate(3, 4) == rate(75, 100) and str(rate(2, 3)) == "66.67" and rate(0, 0) is None
    online = Tally(
        count=3, satisfied=2, sums={"overall": 12, "attitude": 9, "responsiveness": 9, "quality": 9, "price": 9}
    )
    offline = Tally(
        count=1, satisfied=0, sums={"overall": 2, "attitude": 2, "responsiveness": 2, "quality": 2, "price": 2}
    )
    counted = result(online, offline)
    assert counted["online"]["rate"] == "66.67" and counted["offline"]["rate"] == "0.00"
    assert counted["combined"] == {
        "count": 4,
        "satisfied": 2,
        "rate": "50.00",
        "means": {"overall": "3.50", "attitude": "2.75", "responsiveness": "2.75", "quality": "2.75", "price": "2.75"},
    }
    assert result(Tally(), Tally())["combined"]["rate"] is None
    assert [mark(v) for v in ("4", " 5 ", "3.0", "0", "6", "4.5", "好", "")] == [4, 5, 3, None, None, None, None, None]


# Opening, answering, closing -------------------------------------------------------------------


async def test_households_answer_once_change_until_close_and_the_result_is_published(world, frozen_clock):
    scene = await survey_scene(world, frozen_clock)
    survey, cx = scene["survey"], scene["community"]["id"]
    assert survey["state"] == "open" and survey["period_start"] == "2026-10-01" and survey["period_end"] == "2027-01-01"
    assert survey["contract_id"] == scene["contract"]["id"] and survey["questions"]["attitude"] == "服务态度"
    # The daily job opens each contract's survey for the quarter once, however often it runs.
    assert await jobs.open_surveys(date(2026, 12, 2)) == {"opened": 0}
    assert await scalar("SELECT count(*) FROM resident_survey") == 1

    await residents_of(world, cx, ["r1", "r2", "r3"])
    url = f"/api/v1/surveys/{survey['id']}/answers"
    # The residents see the open survey of their community and answer it.
    seen = (await world.get("r1", "/api/v1/surveys", params={"state": "open"})).json()
    assert [s["id"] for s in seen["items"]] == [survey["id"]]
    first = await world.post("r1", url, json={**ANSWER, "overall": 2})
    assert first.status_code == 200, first.text
    changed = await world.post("r1", url, json=ANSWER)
    assert changed.status_code == 200 and changed.json()["overall"] == 5
    # Taking part earns the household its points once, however often the answer changes.
    assert (await world.get("r1", "/api/v1/points/me")).json()["points"] == get_settings().points_for_survey
    for key, overall in (("r2", 4), ("r3", 1)):
        assert (await world.post(key, url, json={**ANSWER, "overall": overall})).status_code == 200
    mine = (await world.get("r1", f"/api/v1/surveys/{survey['id']}")).json()
    assert mine["my_answer"]["overall"] == 5 and mine["my_answer"]["comment"] == "服务很及时"
    assert mine["result"] is None  # residents see the questionnaire and their own answer, not the counts
    assert await scalar("SELECT count(*) FROM resident_survey_answer") == 3

    # Officials see the counts so far, and never an answer with its household or comment.
    official = await world.get("street_x", f"/api/v1/surveys/{survey['id']}")
    assert official.status_code == 200
    assert official.json()["result"]["online"]["count"] == 3 and official.json()["my_answer"] is None
    assert "服务很及时" not in official.text and "household" not in official.text
    assert (await world.get("street_y", f"/api/v1/surveys/{survey['id']}")).status_code == 404
    assert (await world.get("street_y", "/api/v1/surveys")).json()["items"] == []

    # Bad marks, a too long comment, an unconfirmed household, and a resident of another community.
    for body, field in (
        ({**ANSWER, "overall": 6}, "overall"),
        ({**ANSWER, "price": 0}, "price"),
        ({**ANSWER, "comment": "长" * 501}, "comment"),
    ):
        refused = await world.post("r1", url, json=body)
        assert refused.status_code == 422 and refused.json()["message"].startswith(field), refused.text
    await sign_up(world, "unconfirmed", cx, room="909")
    refused = await world.post("unconfirmed", url, json=ANSWER)
    assert refused.status_code == 403 and refused.json()["code"] == "survey.household_unconfirmed"
    assert "核实" in refused.json()["message"]
    cy = await community(world, "street_y", "彩虹社区")
    await residents_of(world, cy["id"], ["elsewhere"], first_room=501, street="street_y")
    missing = await world.post("elsewhere", url, json=ANSWER)
    assert missing.status_code == 404 and missing.json()["code"] == "survey.not_found"
    assert (await world.get("elsewhere", f"/api/v1/surveys/{survey['id']}")).status_code == 404

    # Before the close there is no public result; after it, the rate with its count, and answers stop.
    early = await world.client.get(f"/api/v1/public/surveys/{survey['id']}/result")
    assert early.status_code == 409 and early.json()["code"] == "survey.not_closed"
    frozen_clock.current = QUARTER_END
    assert await jobs.close_surveys() == {"closed": 1}
    late = await world.post("r2", url, json=ANSWER)
    assert late.status_code == 409 and late.json()["code"] == "survey.not_open"
    public = (await world.client.get(f"/api/v1/public/surveys/{survey['id']}/result")).json()
    assert (public["rate"], public["count"]) == ("66.67", 3)  # 5 and 4 of 5, 4 and 1
    assert public["online"]["means"]["overall"] == "3.33" and public["offline"]["count"] == 0
    assert public["combined"]["means"]["attitude"] == "4.00" and public["community_name"] == "江滨社区"
    assert (await world.client.get("/api/v1/public/surveys/999999/result")).status_code == 404

    # The resident's export carries their answer; deleting the account leaves the household's answer, no
    # longer linked to them.
    exported = (await world.get("r1", "/api/v1/residents/me/export")).json()["survey_answers"]
    assert [(a["survey_id"], a["overall"], a["comment"]) for a in exported] == [(survey["id"], 5, "服务很及时")]
    assert (await world.client.delete("/api/v1/residents/me", headers=world.headers("r1"))).status_code == 204
    assert await scalar("SELECT count(*) FROM resident_survey_answer WHERE resident IS NULL") == 1


async def test_twenty_simultaneous_answers_from_one_household_leave_one(world, frozen_clock):
    scene = await survey_scene(world, frozen_clock)
    cx, survey = scene["community"]["id"], scene["survey"]
    (resident,) = await residents_of(world, cx, ["h1"])
    await sign_up(world, "h1b", cx, room=resident["room"])  # a second resident of the same household
    url = f"/api/v1/surveys/{survey['id']}/answers"
    responses = await asyncio.gather(
        *(world.post("h1" if i % 2 else "h1b", url, json={**ANSWER, "overall": 1 + i % 5}) for i in range(20))
    )
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses if r.status_code != 200]
    assert await scalar("SELECT count(*) FROM resident_survey_answer WHERE survey = {}", survey["id"]) == 1
    earned = [(await world.get(key, "/api/v1/points/me")).json()["points"] for key in ("h1", "h1b")]
    assert sum(earned) == get_settings().points_for_survey


async def test_two_openers_and_two_closers_at_once_act_once(world, frozen_clock):
    scene = await survey_scene(world, frozen_clock)
    other = await community(world, "street_x", "春江社区")
    await contract(world, "street_x", other["id"], scene["operators"]["op_a"]["id"])
    opened = await asyncio.gather(*(jobs.open_surveys(date(2026, 12, 3)) for _ in range(2)))
    assert sorted(o["opened"] for o in opened) == [0, 1]
    await residents_of(world, scene["community"]["id"], ["c1", "c2"])
    for key in ("c1", "c2"):
        await world.post(key, f"/api/v1/surveys/{scene['survey']['id']}/answers", json=ANSWER)
    frozen_clock.current = QUARTER_END
    outcomes = await asyncio.gather(*(jobs.close_surveys() for _ in range(2)))
    # Two surveys due: each is closed by one of the two closers, never by both.
    assert sum(o["closed"] for o in outcomes) == 2
    assert await scalar("SELECT count(*) FROM audit_log WHERE action = 'survey.close'") == 2
    body = (await world.client.get(f"/api/v1/public/surveys/{scene['survey']['id']}/result")).json()
    assert body["count"] == 2 and body["rate"] == "100.00"


# Offline results -------------------------------------------------------------------------------


async def test_the_district_surveyor_uploads_offline_results_all_or_nothing(world, frozen_clock):
    scene = await survey_scene(world, frozen_clock)
    survey = scene["survey"]
    await surveyor(world, "surveyor_a", "district_a")
    await surveyor(world, "surveyor_b", "district_b")
    url = f"/api/v1/surveys/{survey['id']}/offline-uploads"

    # A file with errors: every problem listed by row, nothing stored.
    bad = sheet([(5, 5, 5, 5, 5, "好"), (6, 4, 4, 4, 4, ""), (4, "", 4, 4, 4), (4, 4), (3, 3, 3, 3, 3, "长" * 501)])
    refused = await world.post("surveyor_a", url, json={"file_name": "富春街道线下测评.csv", "csv": bad})
    assert refused.status_code == 422 and refused.json()["code"] == "survey.file_invalid"
    errors = refused.json()["detail"]["errors"]
    assert [(e["row"], e["field"]) for e in errors] == [(3, "overall"), (4, "attitude"), (5, "row"), (6, "comment")]
    assert (
        "第 3 行总体满意度应为 1 至 5 的整数" in refused.json()["message"]
        and "整份文件未导入" in refused.json()["message"]
    )
    for body in (
        {"file_name": "x.csv", "csv": "总体,态度\n5,5\n"},
        {"file_name": "x.csv"},
        {"file_name": "x.xlsx", "xlsx_base64": "bm90IGEgd29ya2Jvb2s="},
        {"file_name": "x.csv", "csv": sheet([])},
    ):
        response = await world.post("surveyor_a", url, json=body)
        assert response.status_code == 422 and response.json()["code"] == "survey.file_invalid", response.text
    assert await scalar("SELECT count(*) FROM resident_survey_upload") == 0
    assert await scalar("SELECT count(*) FROM resident_survey_offline_row") == 0

    # Another district's surveyor may not upload for this contract; officials may not upload at all.
    wrong = await world.post("surveyor_b", url, json={"file_name": "a.csv", "csv": sheet([(5, 5, 5, 5, 5)])})
    assert wrong.status_code == 403 and wrong.json()["code"] == "survey.not_district_surveyor"
    assert (await world.post("street_x", url, json={"file_name": "a.csv", "csv": sheet([(5,) * 5])})).status_code == 403
    assert (
        await world.post(
            "surveyor_a",
            "/api/v1/surveys/999999/offline-uploads",
            json={"file_name": "a.csv", "csv": sheet([(5,) * 5])},
        )
    ).status_code == 404

    # Good files, CSV and Excel: kept apart from online answers, with who uploaded what.
    good = await world.post(
        "surveyor_a",
        url,
        json={"file_name": "富春街道线下测评.csv", "csv": sheet([(5, 5, 5, 5, 5, "好"), (2, 2, 2, 2, 2)])},
    )
    assert good.status_code == 201, good.text
    assert (good.json()["row_count"], good.json()["satisfied"]) == (2, 1)
    assert good.json()["surveyor_org_name"] == "富阳区" and good.json()["uploaded_by_name"] == "surveyor_a测评机构"
    excel = await world.post(
        "surveyor_a",
        url,
        json={"file_name": "补充.xlsx", "xlsx_base64": workbook([(4, 4, 4, 4, 4, "还行"), (4.0, 3, 3, 3, 3)])},
    )
    assert excel.status_code == 201 and excel.json()["row_count"] == 2, excel.text
    uploads = (await world.get("district", url)).json()
    assert [u["file_name"] for u in uploads] == ["富春街道线下测评.csv", "补充.xlsx"]
    assert (await world.get("district_b", url)).status_code == 404
    assert (await world.get("surveyor_b", url)).status_code == 404
    assert (await world.get("surveyor_a", url)).status_code == 200

    # The surveyor sees its district's aggregates only; one online answer beside the offline ones.
    await residents_of(world, scene["community"]["id"], ["o1"])
    await world.post("o1", f"/api/v1/surveys/{survey['id']}/answers", json={**ANSWER, "overall": 1})
    seen = (await world.get("surveyor_a", f"/api/v1/surveys/{survey['id']}")).json()["result"]
    assert (seen["online"]["count"], seen["offline"]["count"], seen["combined"]["count"]) == (1, 4, 5)
    assert [s["id"] for s in (await world.get("surveyor_a", "/api/v1/surveys")).json()["items"]] == [survey["id"]]
    assert (await world.get("surveyor_b", "/api/v1/surveys")).json()["items"] == []
    assert (await world.get("surveyor_b", f"/api/v1/surveys/{survey['id']}")).status_code == 404
    # Its grant opens no other record of the district.
    assert (await world.get("surveyor_a", "/api/v1/communities")).json()["items"] == []
    assert (await world.get("surveyor_a", f"/api/v1/communities/{scene['community']['id']}")).status_code in (403, 404)
    assert (await world.get("surveyor_a", "/api/v1/contracts")).json()["items"] == []

    frozen_clock.current = QUARTER_END
    await jobs.close_surveys()
    public = (await world.client.get(f"/api/v1/public/surveys/{survey['id']}/result")).json()
    assert (public["online"]["rate"], public["offline"]["rate"], public["rate"], public["count"]) == (
        "0.00",
        "75.00",
        "60.00",
        5,
    )
    late = await world.post("surveyor_a", url, json={"file_name": "迟交.csv", "csv": sheet([(5,) * 5])})
    assert late.status_code == 409 and late.json()["code"] == "survey.not_open"


# Evaluation, registry rules, acceptance --------------------------------------------------------


async def test_the_closed_rate_becomes_part_of_the_evaluation_and_a_low_one_warns_the_operator(
    world, frozen_clock, monkeypatch
):
    # Only complaints and satisfaction weigh, so the score stays high while satisfaction is low.
    monkeypatch.setenv(
        "PERFORMANCE_WEIGHTS", "reports_on_time=0,reports_complete=0,balance=0,balance_trend=0,arrears=0"
    )
    get_settings.cache_clear()
    try:
        scene = await survey_scene(world, frozen_clock)
        survey, operator_id = scene["survey"], scene["operators"]["op_a"]["id"]
        await residents_of(world, scene["community"]["id"], ["e1", "e2", "e3", "e4"])
        for key, overall in (("e1", 5), ("e2", 4), ("e3", 4), ("e4", 2)):
            await world.post(key, f"/api/v1/surveys/{survey['id']}/answers", json={**ANSWER, "overall": overall})
        frozen_clock.current = QUARTER_END
        # The quarter's evaluation closes the due survey first when the closing job has not run yet.
        assert await scheduler_jobs.quarterly_evaluations(date(2026, 10, 1)) == {"evaluations": 1}
        [evaluation] = (await world.get("city", f"/api/v1/operators/{operator_id}/evaluations")).json()["items"]
        assert evaluation["contract_id"] == scene["contract"]["id"] and evaluation["satisfaction"] == "75.00"
        part = evaluation["parts"]["satisfaction"]
        assert (part["fact"], part["points"], part["applied_weight"]) == ("75.00", "75.0", "0.400")
        assert evaluation["score"] == 90  # complaints 100 × 0.6 + satisfaction 75 × 0.4
        assert await scalar("SELECT count(*) FROM audit_log WHERE action = 'survey.close'") == 1

        proposals = await world.post("city", "/api/v1/registry/proposals/run")
        assert proposals.status_code in (200, 201), proposals.text
        listed = (await world.get("city", "/api/v1/registry/proposals")).json()["items"]
        [proposal] = [p for p in listed if p["operator_id"] == operator_id]
        assert proposal["rule"] == "satisfaction_below_warn" and proposal["proposed_status"] == "warned"
        assert proposal["evidence"]["average_satisfaction"] == "75.0"
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


async def test_a_community_is_accepted_only_at_or_above_the_satisfaction_setting(world, frozen_clock):
    scene = await survey_scene(world, frozen_clock)
    cx, contract_id, operator_id = scene["community"]["id"], scene["contract"]["id"], scene["operators"]["op_a"]["id"]
    url = f"/api/v1/communities/{cx}/acceptance"

    none = await world.post("street_x", url, json={})
    assert none.status_code == 409 and none.json()["code"] == "community.no_closed_survey"
    assert "还没有已结束且有答卷的居民满意度测评" in none.json()["message"] and "80%" in none.json()["message"]

    await closed_survey(cx, contract_id, operator_id, satisfied=3, total=4, quarters_back=2)
    low = await world.post("district", url, json={"reason": "验收"})
    assert low.status_code == 409 and low.json()["code"] == "community.satisfaction_too_low"
    assert low.json()["message"] == "江滨社区最近一次居民满意度为 75.00%（4 份答卷），低于验收要求的 80%，不能验收通过"
    assert (low.json()["detail"]["rate"], low.json()["detail"]["threshold"]) == ("75.00", "80")
    assert (await world.get("street_x", f"/api/v1/communities/{cx}")).json()["accepted_at"] is None

    # A later quarter at exactly the setting: accepted, once; other streets do not see the community.
    await closed_survey(cx, contract_id, operator_id, satisfied=4, total=5, quarters_back=1)
    assert (await world.post("street_y", url, json={})).status_code == 404
    assert (await world.post("street_x", "/api/v1/communities/999999/acceptance", json={})).status_code == 404
    building = await world.patch("street_x", f"/api/v1/communities/{cx}", json={"status": "building"})
    assert building.status_code == 200, building.text
    accepted = await world.post("street_x", url, json={"reason": "居民满意度达标，验收通过"})
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["satisfaction"], accepted.json()["threshold"]) == ("80.00", "80")
    again = await world.post("city", url, json={})
    assert again.status_code == 409 and again.json()["code"] == "community.already_accepted"
    file = (await world.get("street_x", f"/api/v1/communities/{cx}")).json()
    assert file["accepted_at"] is not None and file["accepted_satisfaction"] == "80.00"
    assert file["status"] == "accepted"  # a community still being built moves on to 已验收
    row = (await world.get("auditor", "/api/v1/audit", params={"action": "acceptance.grant"})).json()["items"]
    accepted_rows = [r for r in row if r["action"] == "acceptance.grant"]
    assert len(accepted_rows) == 1 and accepted_rows[0]["reason"] == "居民满意度达标，验收通过"


async def test_a_surveyor_is_refused_by_every_route_that_does_not_serve_it(app, world):
    from tests.security.test_authorisation_matrix import guarded_routes

    await surveyor(world, "surveyor_a", "district_a")
    problems = []
    served = []
    for (method, path), roles in guarded_routes(app).items():
        if roles is None:
            continue
        if Role.surveyor in roles:
            if roles != frozenset(Role):
                served.append((method, path))
            continue
        url = re.sub(r"\{\w+\}", "1", path)
        response = await world.client.request(method, url, headers=world.headers("surveyor_a"))
        if response.status_code != 403:
            problems.append(f"{method} {path}: {response.status_code}")
    assert not problems, problems
    # Beside the routes every role may call (which answer within the caller's scope: none for a surveyor),
    # a surveyor is served the surveys' aggregates and the offline uploads only.
    assert sorted(served) == [
        ("GET", "/api/v1/surveys"),
        ("GET", "/api/v1/surveys/{survey_id}"),
        ("GET", "/api/v1/surveys/{survey_id}/offline-uploads"),
        ("POST", "/api/v1/surveys/{survey_id}/offline-uploads"),
    ]


async def test_the_demo_has_a_closed_survey_in_an_evaluation_and_open_ones(client):
    from core.demo import load_demo
    from tests.world import login

    await load_demo()

    async def headers(username: str) -> dict[str, str]:
        token = (await login(client, username, get_settings().demo_password)).json()["access_token"]
        return {"Authorization": f"Bearer {token}"}

    street = await headers("fuchun_street")
    closed = (await client.get("/api/v1/surveys", headers=street, params={"state": "closed"})).json()["items"]
    [survey] = [s for s in closed if s["community_name"] in ("百合社区", "江滨社区")]
    result = (await client.get(f"/api/v1/public/surveys/{survey['id']}/result")).json()
    assert (result["online"]["count"], result["offline"]["count"], result["count"]) == (24, 20, 44)
    evaluations = (
        await client.get(f"/api/v1/operators/{survey['operator_id']}/evaluations", headers=await headers("city_admin"))
    ).json()["items"]
    [evaluation] = [
        e
        for e in evaluations
        if e["contract_id"] == survey["contract_id"] and e["period_start"] == survey["period_start"]
    ]
    assert evaluation["satisfaction"] == result["rate"] == evaluation["parts"]["satisfaction"]["fact"]
    opened = (await client.get("/api/v1/surveys", headers=street, params={"state": "open"})).json()["items"]
    assert "江滨社区" in {s["community_name"] for s in opened}
    surveyor_view = await client.get(f"/api/v1/surveys/{survey['id']}", headers=await headers("surveyor_demo"))
    assert surveyor_view.status_code == 200 and surveyor_view.json()["result"]["combined"]["count"] == 44
    uploads = (await client.get(f"/api/v1/surveys/{survey['id']}/offline-uploads", headers=street)).json()
    assert [u["file_name"] for u in uploads] == ["入户测评.xlsx"]
