"""统一社会信用代码: real codes pass, real-world mistakes are refused with a stable code."""

from __future__ import annotations

import random

import pytest

from providers.credit_code import credit_code_problem, make_credit_code
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
}


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
    assert (await world.get("city", "/api/v1/operators")).json()["total"] == 0


async def test_same_code_twice_is_409(world):
    first = await world.post("district", "/api/v1/operators", json=operator_payload(world, "甲公司", credit_code=GOOD))
    assert first.status_code == 201
    second = await world.post("street_x", "/api/v1/operators", json=operator_payload(world, "乙公司", credit_code=GOOD))
    assert second.status_code == 409 and second.json()["code"] == "operator.credit_code_taken"
