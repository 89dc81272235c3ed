"""Reference data every installation needs (not demo data): the default category dictionary."""

from __future__ import annotations

from providers.tables import Category

DEFAULT_CATEGORIES = [
    ("integrated", "综合运营"),
    ("childcare", "托育"),
    ("elderly", "养老"),
    ("culture", "文化"),
    ("health", "健康"),
    ("education", "教育"),
    ("commerce", "社区商业"),
    ("property", "物业"),
    ("incubation", "双创"),
]


async def load() -> None:
    for order, (code, name) in enumerate(DEFAULT_CATEGORIES, start=1):
        await Category.raw(
            "INSERT INTO provider_category (code, name, sort_order, active) VALUES ({}, {}, {}, true) "
            "ON CONFLICT (code) DO NOTHING",
            code,
            name,
            order * 10,
        )
