from __future__ import annotations

import asyncio
from datetime import timedelta

from core.auth import build_jwt_auth
from tests.world import PASSWORD, login


async def test_good_login_returns_a_token_that_opens_me(world):
    response = await login(world.client, "city")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    me = await world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == "city"


async def test_wrong_password_is_401_with_chinese_message(world):
    response = await login(world.client, "city", "not-the-password")
    assert response.status_code == 401
    assert response.json()["code"] == "auth.invalid_credentials"
    assert response.json()["message"] == "用户名或密码错误"


async def test_unknown_user_is_the_same_401(world):
    response = await login(world.client, "nobody-here", "whatever-pass")
    assert response.status_code == 401
    assert response.json()["code"] == "auth.invalid_credentials"


async def test_missing_or_forged_token_is_401(world):
    assert (await world.client.get("/api/v1/me")).status_code == 401
    forged = await world.client.get("/api/v1/me", headers={"Authorization": "Bearer abc.def.ghi"})
    assert forged.status_code == 401
    assert forged.json()["code"] == "auth.not_authenticated"


async def test_five_failures_in_a_minute_lock_the_account(world, frozen_clock):
    for _ in range(5):
        assert (await login(world.client, "street_x", "wrong-password")).status_code == 401
        frozen_clock.advance(seconds=5)
    # Even the right password is refused while locked.
    locked = await login(world.client, "street_x", PASSWORD)
    assert locked.status_code == 429
    assert locked.json()["code"] == "auth.locked"
    # Other accounts are not affected.
    assert (await login(world.client, "street_y", PASSWORD)).status_code == 200
    # After the lock period the right password works again.
    frozen_clock.advance(minutes=6)
    assert (await login(world.client, "street_x", PASSWORD)).status_code == 200


async def test_failures_spread_over_more_than_a_minute_do_not_lock(world, frozen_clock):
    for _ in range(6):
        assert (await login(world.client, "street_x", "wrong-password")).status_code == 401
        frozen_clock.advance(seconds=20)
    assert (await login(world.client, "street_x", PASSWORD)).status_code == 200


async def test_a_successful_login_resets_the_failure_count(world, frozen_clock):
    for _ in range(4):
        await login(world.client, "street_x", "wrong-password")
    assert (await login(world.client, "street_x", PASSWORD)).status_code == 200
    assert (await login(world.client, "street_x", "wrong-password")).status_code == 401
    assert (await login(world.client, "street_x", PASSWORD)).status_code == 200


async def test_a_remembered_token_is_still_refused_once_expired_or_altered(world):
    """A worker remembers a token it has checked, yet refuses it once expired, and an altered one is new."""
    token = build_jwt_auth().create_token(identifier=str(world.user_ids["city"]), token_expiration=timedelta(seconds=2))
    me = {"Authorization": f"Bearer {token}"}
    assert (await world.client.get("/api/v1/me", headers=me)).status_code == 200
    assert (await world.client.get("/api/v1/me", headers=me)).status_code == 200  # checked once, remembered
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (await world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {altered}"})).status_code == 401
    await asyncio.sleep(3)
    assert (await world.client.get("/api/v1/me", headers=me)).status_code == 401
