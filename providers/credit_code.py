"""统一社会信用代码 (Unified Social Credit Code), GB 32100-2015: validation and generation. Pure functions.

Layout of the 18 characters:
  1     registration authority (1 机构编制, 5 民政, 9 工商, Y 其他 ...)
  2     kind of entity within that authority
  3-8   administrative division code (digits)
  9-17  organisation code (GB 11714: eight body characters and its own check character)
  18    check character over the first 17, modulo 31

The alphabet has 31 characters: digits and upper-case letters except I, O, S, V and Z.
"""

from __future__ import annotations

import random

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]

# GB 11714 organisation code: weights for the eight body characters, check modulo 11.
ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]
ORG_BODY_ALPHABET = ALPHABET


def check_character(first17: str) -> str:
    total = sum(VALUE[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def _org_code_value(ch: str) -> int:
    # GB 11714 counts letters A=10 … Z=35 (including the ones the credit code does not use).
    return int(ch) if ch.isdigit() else ord(ch) - ord("A") + 10


def org_check_character(body8: str) -> str:
    remainder = 11 - sum(_org_code_value(ch) * w for ch, w in zip(body8, ORG_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(remainder, str(remainder))


def credit_code_problem(code: str) -> str | None:
    """None when the code is valid; otherwise what is wrong, in Chinese, for the person who typed it."""
    if len(code) != 18:
        return f"统一社会信用代码应为18位，当前为{len(code)}位"
    if code != code.upper():
        return "统一社会信用代码中的字母应为大写"
    bad = sorted({ch for ch in code if ch not in VALUE})
    if bad:
        return f"统一社会信用代码不使用字符：{''.join(bad)}（不含 I、O、S、V、Z）"
    if not code[2:8].isdigit():
        return "第3至8位应为行政区划代码（数字）"
    if check_character(code[:17]) != code[17]:
        return "校验位不正确，请核对后重新输入"
    if org_check_character(code[8:16]) != code[16]:
        return "第9至17位组织机构代码的校验位不正确，请核对后重新输入"
    return None


def is_valid_credit_code(code: str) -> bool:
    return credit_code_problem(code) is None


def make_credit_code(rng: random.Random, *, region: str = "330111", authority: str = "9", kind: str = "1") -> str:
    """A valid code with a valid embedded organisation code, for demo data and benchmarks."""
    body = "".join(rng.choice(ORG_BODY_ALPHABET[:10] if i < 2 else ORG_BODY_ALPHABET) for i in range(8))
    first17 = f"{authority}{kind}{region}{body}{org_check_character(body)}"
    return first17 + check_character(first17)
