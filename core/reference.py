"""Reference data (dictionaries every installation needs), loaded at start-up by each domain package."""

from core.calendar import reference as calendar
from core.contributions import contributing_modules


async def load_reference_data() -> None:
    await calendar.load()
    for module in contributing_modules("reference"):
        await module.load()
