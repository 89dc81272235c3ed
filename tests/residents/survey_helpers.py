"""Building blocks for satisfaction-survey tests: third-party surveyors, a contract with its quarter's survey,
offline sheets, and a closed survey with a chosen rate."""

from __future__ import annotations

import base64
import io
from datetime import timedelta

import openpyxl
from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

from core import clock
from core.accounts import service as accounts
from core.accounts.tables import Role
from core.db import transaction
from residents import jobs, service
from residents import repository as repo
from tests.market.helpers import community, contract, listed_operators
from tests.world import PASSWORD, login

HEADER = "总体满意度,服务态度,响应速度,服务质量,价格合理,意见"


async def scalar(query: str, *args) -> int:
    rows = await engine_finder().run_querystring(QueryString(query, *args))
    return next(iter(rows[0].values()))


async def surveyor(world, key: str, district: str) -> int:
    """A third-party surveyor's login, assigned to `district` (an org key of the world); its token kept."""
    user = await accounts.create_user(
        None,
        username=key,
        password=PASSWORD,
        email=f"{key}@example.org",
        display_name=f"{key}测评机构",
        grants=[(Role.surveyor, world.org_id(district))],
    )
    world.user_ids[key] = user.id
    response = await login(world.client, key)
    assert response.status_code == 200, response.text
    world.tokens[key] = response.json()["access_token"]
    return user.id


async def survey_scene(world, frozen_clock) -> dict:
    """Community X with operator A's signed contract, and the quarter's survey the daily job opened for it."""
    operators = await listed_operators(
        world, frozen_clock, {"op_a": {"name": "运营商甲社区服务有限公司", "categories": ("childcare",)}}
    )
    cx = await community(world, "street_x", "江滨社区")
    signed = await contract(world, "street_x", cx["id"], operators["op_a"]["id"])
    opened = await jobs.open_surveys(clock.today())
    assert opened == {"opened": 1}, opened
    listed = await world.get("street_x", "/api/v1/surveys")
    assert listed.status_code == 200, listed.text
    [survey] = listed.json()["items"]
    return {"community": cx, "contract": signed, "operators": operators, "survey": survey}


def sheet(rows: list[tuple]) -> str:
    return "\n".join([HEADER, *(",".join(str(c) for c in row) for row in rows)]) + "\n"


def workbook(rows: list[tuple]) -> str:
    book = openpyxl.Workbook()
    book.active.append(HEADER.split(","))
    for row in rows:
        book.active.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return base64.b64encode(buffer.getvalue()).decode()


async def closed_survey(
    community_id: int, contract_id: int, operator_id: int, *, satisfied: int, total: int, quarters_back: int = 1
) -> int:
    """A survey of the quarter `quarters_back` before today's for the contract, with `total` offline
    questionnaires of which `satisfied` marked 5 and the rest 2, closed by the closing job."""
    now = clock.now()
    start = clock.add_months(service.quarter_of(clock.today())[0], -3 * quarters_back)
    async with transaction():
        rows = await engine_finder().run_querystring(
            QueryString(
                "INSERT INTO resident_survey (contract, community, operator, period_start, period_end, opens_at, "
                "closes_at, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}) RETURNING id",
                contract_id,
                community_id,
                operator_id,
                start,
                clock.add_months(start, 3),
                now - timedelta(days=90),
                now - timedelta(seconds=1),
                now,
            )
        )
        survey_id = rows[0]["id"]
        uploader = await scalar("SELECT min(id) AS id FROM account_user")
        org = await scalar("SELECT min(id) AS id FROM organisation")
        marks = [5 if i < satisfied else 2 for i in range(total)]
        await repo.insert_upload(
            survey_id=survey_id,
            user_id=uploader,
            surveyor_org_id=org,
            file_name="线下测评.csv",
            rows=[
                {
                    "row": i + 2,
                    "overall": m,
                    "attitude": m,
                    "responsiveness": m,
                    "quality": m,
                    "price": m,
                    "comment": "",
                }
                for i, m in enumerate(marks)
            ],
            now=now,
        )
    await service.close_due_surveys()
    return survey_id
