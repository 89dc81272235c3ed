"""Building blocks for residents' tests: codes read from the outbox, signed-up residents, a poll to vote on."""

from __future__ import annotations

import itertools
import re

from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

from residents.sms import sms_address
from tests.market.helpers import community, listed_operators, need

_numbers = itertools.count(13800000001)


def new_phone() -> str:
    return str(next(_numbers))


async def sent_code(phone: str) -> str:
    """The last code texted to `phone`: the development sender queues each text in the outbox."""
    rows = await engine_finder().run_querystring(
        QueryString(
            "SELECT body_text FROM outbox_email WHERE to_address = {} ORDER BY id DESC LIMIT 1", sms_address(phone)
        )
    )
    assert rows, f"no code sent to {phone}"
    return re.search(r"\d{6}", rows[0]["body_text"]).group(0)


async def request_code(world, phone: str) -> str:
    response = await world.client.post("/api/v1/public/residents/codes", json={"phone": phone})
    assert response.status_code == 202, response.text
    return await sent_code(phone)


async def sign_up(world, key: str, community_id: int, *, phone: str | None = None, room: str = "1201", **extra) -> dict:
    """A resident signs up; their token is kept in the world under `key`."""
    phone = phone or new_phone()
    code = await request_code(world, phone)
    body = {
        "phone": phone,
        "code": code,
        "name": "王小明",
        "community_id": community_id,
        "building": "3",
        "unit": "2",
        "room": room,
        **extra,
    }
    response = await world.client.post("/api/v1/public/residents/sign-up", json=body)
    assert response.status_code == 201, response.text
    signed = response.json()
    world.tokens[key] = signed["access_token"]
    return signed["resident"]


async def confirm(world, household_id: int, user: str = "street_x") -> dict:
    response = await world.post(user, f"/api/v1/households/{household_id}/confirm", json={})
    assert response.status_code == 200, response.text
    return response.json()


async def poll_scene(world, frozen_clock) -> dict:
    """Community X with a childcare need, two listed childcare operators, and an open poll on it."""
    operators = await listed_operators(
        world,
        frozen_clock,
        {
            "op_a": {"name": "运营商甲社区服务有限公司", "categories": ("childcare",), "capacity": 50},
            "op_b": {"name": "运营商乙社区服务有限公司", "categories": ("childcare",), "capacity": 50},
        },
    )
    cx = await community(world, "street_x", "江滨社区")
    need_row = await need(world, "street_x", cx["id"], "childcare")
    return {"community": cx, "need": need_row, "operators": operators}


def poll_body(scene: dict, frozen_clock, **overrides) -> dict:
    from datetime import timedelta

    now = frozen_clock()
    return {
        "need_id": scene["need"]["id"],
        "title": "江滨社区托育服务运营商选择",
        "opens_at": now.isoformat(),
        "closes_at": (now + timedelta(days=7)).isoformat(),
        "quorum": "0.3",
        "operator_ids": [o["id"] for o in scene["operators"].values()],
        "packages": [{"name": "普惠托育套餐", "description": "每月 1500 元，含午餐"}],
        **overrides,
    }


async def open_poll(world, scene: dict, frozen_clock, **overrides) -> dict:
    response = await world.post("street_x", "/api/v1/polls", json=poll_body(scene, frozen_clock, **overrides))
    assert response.status_code == 201, response.text
    return response.json()
