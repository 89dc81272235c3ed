"""Holidays and 调休 working days as the State Council announced them (国务院办公厅关于 2024/2025/2026 年
部分节假日安排的通知: 国办发明电〔2023〕7号, 〔2024〕12号, and the notice of 4 November 2025).

Loaded at start-up into a year that has no calendar days yet; a year the city has edited is left as it is.
"""

from __future__ import annotations

from datetime import date, timedelta

from core.calendar import repository
from core.calendar.tables import DayKind

# (holiday name, first day off, last day off, weekend days worked instead)
NOTICES: dict[int, list[tuple[str, date, date, list[date]]]] = {
    2024: [
        ("元旦", date(2024, 1, 1), date(2024, 1, 1), []),
        ("春节", date(2024, 2, 10), date(2024, 2, 17), [date(2024, 2, 4), date(2024, 2, 18)]),
        ("清明节", date(2024, 4, 4), date(2024, 4, 6), [date(2024, 4, 7)]),
        ("劳动节", date(2024, 5, 1), date(2024, 5, 5), [date(2024, 4, 28), date(2024, 5, 11)]),
        ("端午节", date(2024, 6, 10), date(2024, 6, 10), []),
        ("中秋节", date(2024, 9, 15), date(2024, 9, 17), [date(2024, 9, 14)]),
        ("国庆节", date(2024, 10, 1), date(2024, 10, 7), [date(2024, 9, 29), date(2024, 10, 12)]),
    ],
    2025: [
        ("元旦", date(2025, 1, 1), date(2025, 1, 1), []),
        ("春节", date(2025, 1, 28), date(2025, 2, 4), [date(2025, 1, 26), date(2025, 2, 8)]),
        ("清明节", date(2025, 4, 4), date(2025, 4, 6), []),
        ("劳动节", date(2025, 5, 1), date(2025, 5, 5), [date(2025, 4, 27)]),
        ("端午节", date(2025, 5, 31), date(2025, 6, 2), []),
        ("国庆节、中秋节", date(2025, 10, 1), date(2025, 10, 8), [date(2025, 9, 28), date(2025, 10, 11)]),
    ],
    2026: [
        ("元旦", date(2026, 1, 1), date(2026, 1, 3), [date(2026, 1, 4)]),
        ("春节", date(2026, 2, 15), date(2026, 2, 23), [date(2026, 2, 14), date(2026, 2, 28)]),
        ("清明节", date(2026, 4, 4), date(2026, 4, 6), []),
        ("劳动节", date(2026, 5, 1), date(2026, 5, 5), [date(2026, 5, 9)]),
        ("端午节", date(2026, 6, 19), date(2026, 6, 21), []),
        ("中秋节", date(2026, 9, 25), date(2026, 9, 27), []),
        ("国庆节", date(2026, 10, 1), date(2026, 10, 7), [date(2026, 9, 20), date(2026, 10, 10)]),
    ],
}


def days_of(year: int) -> list[tuple[date, str, str]]:
    """(day, kind, name) for every day the year's notice lists."""
    days = []
    for name, first, last, worked in NOTICES[year]:
        day = first
        while day <= last:
            days.append((day, DayKind.holiday.value, name))
            day += timedelta(days=1)
        days += [(day, DayKind.workday.value, f"{name}调休上班") for day in worked]
    return sorted(days)


async def load() -> None:
    for year in NOTICES:
        await repository.insert_year_if_empty(year, days_of(year))
