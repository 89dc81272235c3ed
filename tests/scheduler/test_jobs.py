"""The jobs' effects: renewal flags once per threshold, the monthly report emailed once, arrears flagged."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from core.outbox.service import send_pending
from scheduler import engine
from scheduler.jobs import job_named
from tests.leasing.helpers import lease, space
from tests.market.helpers import community, contract, listed_operators


async def flags(world, user: str = "street_x", **params) -> list[dict]:
    response = await world.get(user, "/api/v1/flags", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_renewal_flag_is_raised_once_per_threshold_and_resolves_when_renewed(world, frozen_clock, mailbox):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    room = await space(world)
    signed = await lease(world, room["id"], operators["tot"]["id"], starts_on="2026-01-01", ends_on="2027-02-20")
    await send_pending()
    mailbox.clear()
    job = job_named("renewal_flags")

    await engine.run_due(job)  # 2026-12-01: 81 days left
    raised = await flags(world, kind="lease_renewal")
    assert [(f["mark"], f["severity"], f["subject_id"]) for f in raised] == [("90", "info", signed["id"])]
    assert "2027-02-20" in raised[0]["title"]
    await send_pending()
    told = {m["To"] for m in mailbox.messages}
    # The lessee and every official of the street responsible for the community.
    assert told == {operators["tot"]["contact_email"], "street_x@example.org", "street_x_and_operator_a@example.org"}
    assert await flags(world, "street_y", kind="lease_renewal") == []

    frozen_clock.advance(days=1)
    await engine.run_due(job)
    await send_pending()
    assert len(await flags(world, kind="lease_renewal")) == 1 and len(mailbox.messages) == 3  # once per threshold

    frozen_clock.advance(days=25)  # 55 days left: the 60-day flag supersedes the 90-day one
    await engine.run_due(job)
    open_flags = await flags(world, kind="lease_renewal")
    assert [(f["mark"], f["severity"]) for f in open_flags] == [("60", "warning")]
    superseded = await flags(world, kind="lease_renewal", state="resolved")
    assert superseded[0]["mark"] == "90" and "60" in superseded[0]["resolution"]

    renewed = await world.post(
        "street_x",
        f"/api/v1/leases/{signed['id']}/renew",
        json={"ends_on": "2029-02-20", "reason": "承租方按时缴租，续租两年"},
    )
    assert renewed.status_code == 201
    frozen_clock.advance(days=1)
    result = await engine.run_due(job)
    assert result[0].result["resolved"] == 1
    assert await flags(world, kind="lease_renewal") == []


async def test_an_official_acknowledges_and_resolves_a_flag_and_paying_resolves_another(
    world, frozen_clock, localstripe
):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    room = await space(world)
    await lease(world, room["id"], operators["tot"]["id"], starts_on="2026-10-01")
    await engine.run_due(job_named("rent_invoices"))
    frozen_clock.advance(days=15)
    await engine.run_due(job_named("overdue_invoices"))
    arrears = await flags(world, kind="invoice_overdue")
    assert len(arrears) == 3 and all("租金逾期未缴" in f["title"] for f in arrears)

    flag_id = arrears[0]["id"]
    assert (await world.post("street_y", f"/api/v1/flags/{flag_id}/acknowledge")).status_code == 404
    assert (await world.post("street_x", f"/api/v1/flags/{flag_id}/acknowledge")).json()["acknowledged_at"]
    no_reason = await world.post("street_x", f"/api/v1/flags/{flag_id}/resolve", json={"reason": ""})
    assert no_reason.status_code == 422
    done = await world.post(
        "street_x", f"/api/v1/flags/{flag_id}/resolve", json={"reason": "已电话催缴，约定月底前缴清"}
    )
    assert done.json()["resolution"] == "已电话催缴，约定月底前缴清"
    assert len(await flags(world, kind="invoice_overdue")) == 2

    # The lessee pays one of the others: the next run resolves its flag by itself.
    paid_invoice = arrears[1]["subject_id"]
    paid = await world.post(
        "tot", f"/api/v1/rent-invoices/{paid_invoice}/payments", json={"payment_method": "pm_card_visa"}
    )
    assert paid.json()["status"] == "succeeded"
    frozen_clock.advance(days=1)
    await engine.run_due(job_named("overdue_invoices"))
    remaining = await flags(world, kind="invoice_overdue")
    assert len(remaining) == 1 and remaining[0]["subject_id"] not in (paid_invoice, arrears[0]["subject_id"])
    resolved = await flags(world, kind="invoice_overdue", state="resolved")
    assert {f["resolution"] for f in resolved} == {"已电话催缴，约定月底前缴清", "已缴清或已作废"}


async def test_a_contract_ending_soon_is_flagged_and_the_flag_goes_when_it_is_renewed(world, frozen_clock):
    operators = await listed_operators(world, frozen_clock, {"tot": {"categories": ("childcare",)}})
    target = await community(world, "street_x", "江滨社区")
    signed = await contract(
        world, "street_x", target["id"], operators["tot"]["id"], starts_on="2026-01-01", ends_on="2027-01-15"
    )
    job = job_named("renewal_flags")
    await engine.run_due(job)  # 45 days left
    raised = await flags(world, kind="contract_renewal")
    assert [(f["subject_id"], f["mark"], f["severity"]) for f in raised] == [(signed["id"], "60", "warning")]
    assert "服务合同将于 2027-01-15 到期" in raised[0]["title"]
    renewed = await world.post(
        "street_x",
        f"/api/v1/contracts/{signed['id']}/renew",
        json={"ends_on": "2030-01-15", "reason": "服务评价良好，续签三年"},
    )
    assert renewed.status_code == 201, renewed.text
    frozen_clock.advance(days=1)
    await engine.run_due(job)
    assert await flags(world, kind="contract_renewal") == []


async def ledger_post(world, community_id, kind, amount, reference, month):
    response = await world.post(
        "street_x",
        f"/api/v1/communities/{community_id}/ledger",
        json={"month": month, "kind": kind, "amount": amount, "reference": reference},
    )
    assert response.status_code == 201, response.text


async def test_the_monthly_report_is_sent_once_and_waits_out_an_smtp_outage(world, frozen_clock, smtp_server, mailbox):
    target = await community(world, "street_x", "江滨社区")
    await ledger_post(world, target["id"], "staff", 500_000, "C-1", "2026-10-01")
    await ledger_post(world, target["id"], "subsidy", 300_000, "S-1", "2026-10-01")
    frozen_clock.advance(days=8)  # 1 December, 10:00 in Shanghai: the October report is due
    job = job_named("balance_report")

    smtp_server.stop()
    try:
        outcomes = await engine.run_due(job)
        assert [(o.period, o.status) for o in outcomes] == [("2026-11", "succeeded")]
        again = await engine.run_period(job, "2026-11")
        assert again.status == "skipped"
        assert (await engine.run_period(job, "2026-10")).result == {"queued": 1}
        assert (await engine.run_period(job, "2026-10")).status == "skipped"
        result = await send_pending()
        assert result.sent == 0 and result.retried == 2
    finally:
        smtp_server.start()
    assert mailbox.messages == []
    frozen_clock.advance(minutes=5)
    assert (await send_pending()).sent == 2
    assert (await send_pending()).sent == 0

    october = next(m for m in mailbox.messages if "2026年10月" in m["Subject"] or "2026-10" in m["Subject"])
    parts = {part.get_content_type(): part for part in october.walk()}
    assert "image/png" in parts and parts["image/png"].get_content()[:8] == b"\x89PNG\r\n\x1a\n"
    html = parts["text/html"].get_content()
    assert f'src="cid:{parts["image/png"]["Content-ID"].strip("<>")}"' in html and "江滨社区" in html
    assert parts["image/png"].get_content_disposition() == "inline"
    workbook = load_workbook(
        io.BytesIO(
            next(p for p in october.walk() if p.get_filename() and p.get_filename().endswith(".xlsx")).get_content()
        )
    )
    assert len(workbook.sheetnames) >= 5

    overview = (
        await world.get("city", "/api/v1/balance/overview", params={"start": "2025-11-01", "end": "2026-11-01"})
    ).json()
    downloaded = await world.get("city", "/api/v1/reports/balance/2026-10/report.xlsx")
    assert downloaded.status_code == 200
    assert overview["total"]["income"] == 300_000 and overview["total"]["cost"] == 500_000
    assert (await world.get("street_x", "/api/v1/reports/balance/2026-10/report.xlsx")).status_code == 403

    resent = await world.post("city", "/api/v1/reports/balance/2026-10/resend")
    assert resent.json() == {"queued": 1}
    await send_pending()
    assert len(mailbox.messages) == 3


async def test_jobs_are_listed_with_their_next_run_and_can_be_run_now(world, frozen_clock):
    listed = (await world.get("city", "/api/v1/jobs")).json()
    names = [j["name"] for j in listed]
    assert "rent_invoices" in names and "balance_report" in names
    rent = next(j for j in listed if j["name"] == "rent_invoices")
    assert rent["schedule"] == "每天 01:00" and rent["next_run_at"].startswith("2026-11-24T01:00")
    assert (await world.get("street_x", "/api/v1/jobs")).status_code == 403

    ran = await world.post("city", "/api/v1/jobs/rent_invoices/run", json={"period": "2026-11-20"})
    assert [(r["period"], r["status"]) for r in ran.json()] == [("2026-11-20", "succeeded")]
    again = await world.post("city", "/api/v1/jobs/rent_invoices/run", json={"period": "2026-11-20"})
    assert again.json()[0]["status"] == "skipped"
    assert (await world.post("city", "/api/v1/jobs/nope/run")).status_code == 404


async def test_running_a_period_already_run_answers_skipped_with_the_earlier_run(world, frozen_clock):
    async def run_now(job: str, body: dict | None) -> list[dict]:
        response = await world.post("city", f"/api/v1/jobs/{job}/run", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    [daily] = await run_now("rent_invoices", {"period": "2026-11-20"})
    [monthly] = await run_now("balance_snapshot", None)  # the period due now: October
    assert (daily["period"], monthly["period"]) == ("2026-11-20", "2026-10")
    for run in (daily, monthly):
        assert run["status"] == "succeeded" and run["attempt"] == 1 and run["id"] and run["started_at"]
    frozen_clock.advance(hours=2)

    asked_again = [
        ("rent_invoices", {"period": "2026-11-20"}, daily),
        ("balance_snapshot", None, monthly),  # nothing due: the last period done is the answer
        ("balance_snapshot", {}, monthly),
        ("balance_snapshot", {"period": "2026-10"}, monthly),
        ("balance_snapshot", {"period": "2026-10-01"}, monthly),
    ]
    for job, body, earlier in asked_again:
        [again] = await run_now(job, body)
        assert again["status"] == "skipped" and again["result"] == {"reason": "done before"}, (job, body, again)
        assert {k: again[k] for k in ("id", "period", "attempt", "started_at", "finished_at")} == {
            k: earlier[k] for k in ("id", "period", "attempt", "started_at", "finished_at")
        }, (job, body)

    runs = (await world.get("city", "/api/v1/job-runs")).json()["items"]
    assert sorted(r["id"] for r in runs) == sorted([daily["id"], monthly["id"]])


async def test_the_citywide_report_is_for_the_city_and_the_auditor_only(world, frozen_clock):
    # It covers every district, so no district or street official may read it; each watches their own area
    # through the balance overview.
    for user, status in [
        ("city", 200),
        ("auditor", 200),
        ("district", 403),
        ("district_b", 403),
        ("street_x", 403),
        ("operator_a", 403),
        ("owner", 403),
        ("street_x_and_operator_a", 403),
    ]:
        for form in ("report.html", "report.xlsx"):
            response = await world.get(user, f"/api/v1/reports/balance/2026-10/{form}")
            assert response.status_code == status, (user, form, response.text)
    assert (await world.get("district", "/api/v1/balance/overview")).status_code == 200
