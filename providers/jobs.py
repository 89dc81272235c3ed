"""What the scheduler runs for the registry. Each job returns counts for the run log."""

from __future__ import annotations

from datetime import date

from providers import service as providers


async def registry_rules(day: date) -> dict:
    """Proposals from evaluations for a reviewer to confirm. Listings expire by their own dates."""
    return {"proposals": len(await providers.run_registry_rules())}
