"""The domain packages, in dependency order (core ← providers ← market ← leasing ← scheduler).

Each may offer: `piccolo_app.APP_CONFIG`, `controllers.ROUTES`, `admin.ADMIN_TABLES`, `labels.ENUM_LABELS`,
`reference.load()`, `demo.load()`.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import leasing
import market
import providers
import scheduler

DOMAIN_PACKAGES: list[ModuleType] = [providers, market, leasing, scheduler]


def domain_modules(module: str) -> list[ModuleType]:
    found = []
    for package in DOMAIN_PACKAGES:
        name = f"{package.__name__}.{module}"
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return found


def collect(module: str, attr: str) -> list[Any]:
    return [item for mod in domain_modules(module) for item in getattr(mod, attr, [])]
