"""What the scheduler runs for the registry. Each job returns counts for the run log."""

from __future__ import annotations

from datetime import date

from providers import service as providers


async def registry_rules(day: date) -> dict:
    """Operators whose listings have all lapsed become 'expired'; then proposals from evaluations for a
    reviewer to confirm."""
    expired = await providers.expire_lapsed_operators()
    return {"expired": len(expired), "proposals": len(await providers.run_registry_rules())}
