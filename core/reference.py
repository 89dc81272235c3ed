"""Reference data (dictionaries every installation needs), loaded at start-up by each domain package."""

from core.domains import domain_modules


async def load_reference_data() -> None:
    for module in domain_modules("reference"):
        await module.load()
