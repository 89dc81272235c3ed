"""The domain packages, in dependency order (core ← providers ← market ← leasing ← scheduler).

Each may offer: `piccolo_app.APP_CONFIG`, `controllers.ROUTES`, `admin.ADMIN_TABLES`, `demo.load()`.
"""

from __future__ import annotations

import importlib

DOMAIN_PACKAGES: list[str] = ["providers", "market", "leasing", "scheduler"]


def domain_modules(module: str) -> list:
    found = []
    for package in DOMAIN_PACKAGES:
        try:
            found.append(importlib.import_module(f"{package}.{module}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.{module}":
                raise
    return found


def collect(module: str, attr: str) -> list:
    return [item for mod in domain_modules(module) for item in getattr(mod, attr, [])]
