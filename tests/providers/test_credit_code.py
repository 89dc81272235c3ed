"""统一社会信用代码: real codes pass, real-world mistakes are refused with a stable code."""

from __future__ import annotations

import random

import asyncpg
import pytest
from piccolo.engine import engine_finder

from providers.credit_code import ALPHABET, check_character, credit_code_problem, make_credit_code
from tests.providers.helpers import operator_payload

REAL_CODES = ["91330100716105852F", "91330000142916567N"]  # published registrations in Zhejiang
GOOD = REAL_CODES[0]

MISTAKES = {
    "wrong check character": GOOD[:-1] + "E",
    "lower case": GOOD.lower(),
    "17 characters": GOOD[:-1],
    "19 characters": GOOD + "1",
    "letter I": GOOD[:10] + "I" + GOOD[11:],
    "letter O": GOOD[:10] + "O" + GOOD[11:],
    "letter S": GOOD[:10] + "S" + GOOD[11:],
    "letter V": GOOD[:10] + "V" + GOOD[11:],
    "letter Z": GOOD[:10] + "Z" + GOOD[11:],
    "two digits swapped": GOOD[:3] + GOOD[4] + GOOD[3] + GOOD[5:],
    "spaces": GOOD[:9] + " " + GOOD[10:],
    # The organisation code inside (GB 11714) is wrong, with the 18th character made to fit: only its own
    # check character, the 17th, shows it. The code reported in issue 16 is one.
    "organisation check character": "91330183685453610X",
    **{
        f"organisation code, {which}": body + check_character(body)
        for which, body in {
            "wrong 17th": GOOD[:16] + "9",
            "digit changed in 9-16": GOOD[:9] + "9" + GOOD[10:17],
            "digits swapped in 9-16": GOOD[:10] + GOOD[11] + GOOD[10] + GOOD[12:17],
        }.items()
    },
}


def single_character_changes(code: str, positions: range) -> list[str]:
    return [code[:i] + ch + code[i + 1 :] for i in positions for ch in ALPHABET if ch != code[i]]


@pytest.mark.parametrize("code", REAL_CODES)
def test_every_single_character_change_is_caught(code):
    assert [c for c in single_character_changes(code, range(18)) if credit_code_problem(c) is None] == []


@pytest.mark.parametrize("code", REAL_CODES)
def test_every_digit_change_in_the_organisation_code_is_caught_even_with_a_fitting_18th(code):
    changed = [
        c[:17] + check_character(c[:17])
        for c in single_character_changes(code, range(8, 17))
        if c[8:17].isdigit() or c[16] == "X"
    ]
    assert changed and [c for c in changed if credit_code_problem(c) is None] == []


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_are_valid(code):
    assert credit_code_problem(code) is None


@pytest.mark.parametrize("label", MISTAKES)
def test_mistakes_are_caught(label):
    assert credit_code_problem(MISTAKES[label]) is not None


def test_generated_codes_are_valid():
    rng = random.Random(7)
    assert all(credit_code_problem(make_credit_code(rng)) is None for _ in range(2000))


@pytest.mark.parametrize("label", MISTAKES)
async def test_api_refuses_a_wrong_code_with_422(world, label):
    payload = operator_payload(world, "错误代码公司", credit_code=MISTAKES[label])
    response = await world.post("district", "/api/v1/operators", json=payload)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "operator.credit_code_invalid"
    assert response.json()["detail"]["field"] == "credit_code"
    assert (await world.get("city", "/api/v1/operators")).json()["total"] == 0


@pytest.mark.parametrize("label", MISTAKES)
async def test_the_database_refuses_a_wrong_code_written_around_the_service(world, label):
    created = await world.post(
        "district", "/api/v1/operators", json=operator_payload(world, "甲公司", credit_code=GOOD)
    )
    assert created.status_code == 201, created.text
    engine = engine_finder()
    # 19 characters do not fit the column; every other mistake meets the check.
    with pytest.raises((asyncpg.CheckViolationError, asyncpg.StringDataRightTruncationError)):
        await engine.run_ddl(
            "UPDATE provider_operator SET credit_code = $1 WHERE id = $2".replace(
                "$1", "'" + MISTAKES[label].replace("'", "''") + "'"
            ).replace("$2", str(created.json()["id"]))
        )
    assert (await world.get("city", f"/api/v1/operators/{created.json()['id']}")).json()["credit_code"] == GOOD


@pytest.mark.parametrize("code", [*REAL_CODES, *(make_credit_code(random.Random(i)) for i in range(20))])
async def test_the_database_and_the_service_agree_on_valid_codes(app, code):
    rows = await engine_finder().run_ddl(f"SELECT provider_credit_code_valid('{code}') AS valid")
    assert rows[0]["valid"] is True


async def test_same_code_twice_is_409(world):
    first = await world.post("district", "/api/v1/operators", json=operator_payload(world, "甲公司", credit_code=GOOD))
    assert first.status_code == 201
    second = await world.post("street_x", "/api/v1/operators", json=operator_payload(world, "乙公司", credit_code=GOOD))
    assert second.status_code == 409 and second.json()["code"] == "operator.credit_code_taken"
