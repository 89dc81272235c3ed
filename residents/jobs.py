"""The residents' scheduled work; the schedule is the scheduler's."""

from __future__ import annotations

from residents import service


async def close_polls() -> dict:
    """Close the polls whose window has ended and publish their results."""
    return await service.close_due_polls()
