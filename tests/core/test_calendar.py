"""Working days follow the State Council's calendar: holidays off, 调休 weekend days worked."""

from __future__ import annotations

from datetime import UTC, date, datetime

from core.calendar.reference import days_of
from core.clock import WorkingCalendar, add_working_days


def calendar_of(*years: int) -> WorkingCalendar:
    days = [d for year in years for d in days_of(year)]
    return WorkingCalendar(
        holidays=frozenset(day for day, kind, _ in days if kind == "holiday"),
        workdays=frozenset(day for day, kind, _ in days if kind == "workday"),
    )


def test_without_a_calendar_only_weekends_are_skipped():
    assert add_working_days(date(2026, 9, 29), 5) == date(2026, 10, 6)
    assert add_working_days(date(2026, 11, 27), 1) == date(2026, 11, 30)
    assert add_working_days(date(2026, 11, 27), 0) == date(2026, 11, 27)


def test_spring_festival_2026_skips_nine_days_and_counts_both_worked_saturdays():
    cal = calendar_of(2026)
    # Friday 13 Feb: Saturday 14 Feb is worked, 15–23 Feb are off, Saturday 28 Feb is worked.
    assert add_working_days(date(2026, 2, 13), 1, cal) == date(2026, 2, 14)
    assert add_working_days(date(2026, 2, 13), 2, cal) == date(2026, 2, 24)
    assert add_working_days(date(2026, 2, 13), 5, cal) == date(2026, 2, 27)
    assert add_working_days(date(2026, 2, 13), 6, cal) == date(2026, 2, 28)
    assert add_working_days(date(2026, 2, 13), 7, cal) == date(2026, 3, 2)


def test_golden_week_2025_with_its_worked_sunday_and_saturday():
    cal = calendar_of(2025)
    # Thursday 25 Sep: Fri 26, Sun 28 (worked), Mon 29, Tue 30, then 1–8 Oct off, Thu 9 Oct.
    assert [add_working_days(date(2025, 9, 25), n, cal) for n in range(1, 8)] == [
        date(2025, 9, 26),
        date(2025, 9, 28),
        date(2025, 9, 29),
        date(2025, 9, 30),
        date(2025, 10, 9),
        date(2025, 10, 10),
        date(2025, 10, 11),  # a Saturday, worked
    ]


def test_the_notices_of_2024_to_2026_as_published():
    cal = calendar_of(2024, 2025, 2026)
    assert not cal.is_working_day(date(2024, 2, 16)) and cal.is_working_day(date(2024, 2, 18))
    assert cal.is_working_day(date(2024, 5, 11)) and not cal.is_working_day(date(2024, 5, 3))
    assert not cal.is_working_day(date(2025, 1, 28)) and cal.is_working_day(date(2025, 1, 26))
    assert not cal.is_working_day(date(2025, 6, 2)) and cal.is_working_day(date(2025, 4, 27))
    assert not cal.is_working_day(date(2026, 1, 2)) and cal.is_working_day(date(2026, 1, 4))
    assert cal.is_working_day(date(2026, 5, 9)) and cal.is_working_day(date(2026, 9, 20))
    # Days off and worked weekend days per year, as counted from the three notices.
    for year, off, worked in ((2024, 28, 8), (2025, 28, 5), (2026, 33, 6)):
        days = days_of(year)
        assert (sum(k == "holiday" for _, k, _ in days), sum(k == "workday" for _, k, _ in days)) == (off, worked)
        assert all(day.weekday() >= 5 for day, kind, _ in days if kind == "workday")


async def test_city_staff_keep_the_calendar_and_every_change_is_audited(world):
    listed = (await world.get("city", "/api/v1/calendar/days", params={"year": 2026, "limit": 200})).json()
    assert listed["total"] == 39
    national_day = [d for d in listed["items"] if d["name"] == "国庆节"]
    assert [d["day"] for d in national_day][:2] == ["2026-10-01", "2026-10-02"]
    assert national_day[0]["kind"] == "holiday" and national_day[0]["kind_label"] == "放假"

    added = await world.post(
        "city", "/api/v1/calendar/days", json={"day": "2027-01-01", "kind": "holiday", "name": "元旦"}
    )
    assert added.status_code == 201, added.text
    again = await world.post(
        "city", "/api/v1/calendar/days", json={"day": "2027-01-01", "kind": "holiday", "name": "元旦"}
    )
    assert again.status_code == 409 and again.json()["code"] == "calendar.day_exists"
    changed = await world.patch("city", "/api/v1/calendar/days/2027-01-01", json={"name": "元旦（新年）"})
    assert changed.status_code == 200 and changed.json()["name"] == "元旦（新年）"
    missing = await world.patch("city", "/api/v1/calendar/days/2027-01-02", json={"name": "不存在"})
    assert missing.status_code == 404 and missing.json()["code"] == "calendar.day_not_found"
    removed = await world.client.delete("/api/v1/calendar/days/2027-01-01", headers=world.headers("city"))
    assert removed.status_code == 204
    gone = await world.client.delete("/api/v1/calendar/days/2027-01-01", headers=world.headers("city"))
    assert gone.status_code == 404 and gone.json()["code"] == "calendar.day_not_found"

    for malformed in ("2026-13-01", "not-a-day", "0"):
        refused = await world.client.delete(f"/api/v1/calendar/days/{malformed}", headers=world.headers("city"))
        assert refused.status_code == 422 and refused.json()["detail"]["field"] == "day", refused.text
    far = await world.patch("city", "/api/v1/calendar/days/2101-01-01", json={"name": "太远"})
    assert far.status_code == 422 and far.json()["code"] == "request.date_out_of_range"

    audit = (await world.get("city", "/api/v1/audit", params={"entity_type": "calendar_day"})).json()
    assert sorted(e["action"] for e in audit["items"]) == ["calendar.add", "calendar.change", "calendar.delete"]

    # Only the city committee keeps it.
    for user in ("street_x", "district", "auditor"):
        assert (await world.get(user, "/api/v1/calendar/days")).status_code == 403
    refused = await world.post(
        user, "/api/v1/calendar/days", json={"day": "2027-01-01", "kind": "holiday", "name": "x"}
    )
    assert refused.status_code == 403
    assert (await world.patch(user, "/api/v1/calendar/days/2026-10-01", json={"name": "x"})).status_code == 403
    assert (
        await world.client.delete("/api/v1/calendar/days/2026-10-01", headers=world.headers(user))
    ).status_code == 403


async def test_a_notice_opened_before_national_day_runs_past_the_holiday(world, frozen_clock):
    from tests.providers.test_public_notice import on_notice, recommended_application

    frozen_clock.current = datetime(2026, 9, 29, 2, 0, tzinfo=UTC)  # Tuesday, 10:00 in Hangzhou
    batch_id = await on_notice(world, [await recommended_application(world, "富春托育服务中心")])
    batch = (await world.get("city", f"/api/v1/batches/{batch_id}")).json()
    # 30 Sep, then 1–7 Oct off, Thu 8, Fri 9, Sat 10 (worked), Mon 12.
    assert batch["notice_start"] == "2026-09-29" and batch["objection_deadline"] == "2026-10-12"

    # The city's change to the calendar counts from the next notice on.
    removed = await world.client.delete("/api/v1/calendar/days/2026-10-10", headers=world.headers("city"))
    assert removed.status_code == 204
    later = await on_notice(world, [await recommended_application(world, "银湖托育服务中心")], "2026年第三批")
    assert (await world.get("city", f"/api/v1/batches/{later}")).json()["objection_deadline"] == "2026-10-13"
