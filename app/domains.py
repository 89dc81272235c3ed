"""The domain packages, in dependency order (core ← providers ← market ← leasing ← scheduler).

Each may offer: `piccolo_app.APP_CONFIG`, `controllers.ROUTES`, `admin.ADMIN_TABLES`, `labels.ENUM_LABELS`,
`reference.load()`, `demo.load()`.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import leasing
import market
import providers
import residents
import scheduler
from core.contributions import modules_named, offered

DOMAIN_PACKAGES: list[ModuleType] = [providers, market, leasing, residents, scheduler]


def domain_modules(module: str) -> list[ModuleType]:
    return modules_named((package.__name__ for package in DOMAIN_PACKAGES), module)


def collect(module: str, attr: str) -> list[Any]:
    return offered(domain_modules(module), attr)
