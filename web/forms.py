"""Form posts read into the API's own request bodies, so a page accepts exactly what the API accepts.

Problems come back per field, in the API's Chinese, to be shown next to the field they concern.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from litestar import Request

from core.errors import DomainError
from core.http.exceptions import MSGSPEC_MESSAGES

T = TypeVar("T")
FORM = "__form__"  # problems that belong to no one field
_AT = re.compile(r"^(?P<reason>.*?)(?: - at `\$\.(?P<field>[\w.\[\]]+)`)?$")
_MISSING = re.compile(r"Object missing required field `(?P<name>[^`]+)`")


class FormData:
    """A posted form: single values, lists for repeated names (checkboxes), blank values left out."""

    def __init__(self, values: dict[str, list[str]]) -> None:
        self.values = values

    def get(self, name: str, default: str = "") -> str:
        found = self.values.get(name)
        return found[0] if found else default

    def getlist(self, name: str) -> list[str]:
        return self.values.get(name, [])

    def fields(self, names: list[str], lists: tuple[str, ...] = ()) -> dict[str, Any]:
        """The named fields that carry a value: lists for `lists`, stripped text for the rest."""
        out: dict[str, Any] = {}
        for name in names:
            if name in lists:
                out[name] = [v for v in self.getlist(name) if v.strip()]
            elif (value := self.get(name).strip()) != "":
                out[name] = value
        return out


async def read_form(request: Request[Any, Any, Any]) -> FormData:
    form = await request.form()
    values: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if key == "_csrf_token" or not isinstance(value, str):
            continue
        values.setdefault(key, []).append(value)
    return FormData(values)


def problem_text(reason: str) -> tuple[str | None, str]:
    """(field, Chinese message) for one msgspec validation message."""
    match = _AT.match(reason)
    field = match["field"] if match else None
    text = match["reason"] if match else reason
    if missing := _MISSING.match(text):
        return (f"{field}.{missing['name']}" if field else missing["name"]), "此项为必填项"
    chinese = next((say(m) for pattern, say in MSGSPEC_MESSAGES if (m := pattern.match(text))), "取值不符合要求")
    return field, chinese


def convert(data: dict[str, Any], cls: type[T]) -> tuple[T | None, dict[str, str]]:
    """The form as the API's body type, or the problem per field."""
    try:
        return msgspec.convert(data, cls, strict=False), {}
    except msgspec.ValidationError as exc:
        field, text = problem_text(str(exc))
        return None, {(field or FORM).split(".")[0].split("[")[0]: text}
    except DomainError as exc:  # raised by a body's own checks (dates out of range)
        return None, domain_problems(exc)


def domain_problems(exc: DomainError, fields: dict[str, str] | None = None) -> dict[str, str]:
    """A service's refusal, next to the field it names (in its detail or by its code), else for the form."""
    detail = exc.detail if isinstance(exc.detail, dict) else {}
    field = detail.get("field") or (fields or {}).get(exc.code) or FORM
    return {str(field).removeprefix("$.").split(".")[0]: exc.message}
