"""Building blocks for leasing tests: a community with an idle space, listings, leases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from core.settings import get_settings
from tests.market.helpers import community
from tests.servers import free_port


async def space(
    world,
    user: str = "street_x",
    *,
    community_id: int | None = None,
    area: str = "120.50",
    uses=("childcare", "commerce", "public_service"),
    **extra,
) -> dict:
    if community_id is None:
        community_id = (await community(world, "street_x", "江滨社区"))["id"]
    response = await world.post(
        user,
        "/api/v1/spaces",
        json={
            "community_id": community_id,
            "owner_kind": "state_owned",
            "address": "江滨路 8 号一层",
            "area_m2": area,
            "allowed_uses": list(uses),
            "floor": "1",
            "condition": "毛坯，水电到位",
            **extra,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def listing_terms(**terms) -> dict:
    return {
        "track": "competitive",
        "rent_per_m2_month": 4_500,
        "min_term_months": 12,
        "max_term_months": 60,
        "opens_on": "2026-11-01",
        "closes_on": "2027-01-01",
        "public_welfare_discount": "0.3",
        "rent_free_months": 2,
        "deposit_months": 2,
        **terms,
    }


async def listing(world, space_id: int, user: str = "street_x", **terms) -> dict:
    response = await world.post(user, f"/api/v1/spaces/{space_id}/listings", json=listing_terms(**terms))
    assert response.status_code == 201, response.text
    return response.json()


async def lease(world, space_id: int, lessee_id: int, user: str = "street_x", **terms) -> dict:
    payload = {
        "space_id": space_id,
        "lessee_id": lessee_id,
        "use": "childcare",
        "starts_on": "2026-09-01",
        "ends_on": "2027-09-01",
        "monthly_rent": 300_000,
        "payment_day": 10,
        **terms,
    }
    response = await world.post(user, "/api/v1/leases", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


@contextmanager
def payment_server_unreachable() -> Iterator[None]:
    """Not a stand-in: the real payments client, configured as a deployment would be, for a port nobody
    listens on. That is what an unreachable payment server looks like to us."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STRIPE_API_BASE", f"http://127.0.0.1:{free_port()}")
        patch.setenv("STRIPE_MAX_RETRIES", "0")
        get_settings.cache_clear()
        try:
            yield
        finally:
            patch.undo()
            get_settings.cache_clear()
