"""What the packages above offer to one below, found without importing them.

The packages are the apps of the Piccolo configuration (app/piccolo_conf.py), in dependency order; a
package offers something by defining `attr` in its module `module` (e.g. `service.BALANCE_COMMITMENTS`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from piccolo.conf.apps import Finder


def _packages() -> list[str]:
    return [path.rsplit(".", 1)[0] for path in Finder().get_app_registry().apps if not path.startswith("core.")]


def modules_named(packages: Iterable[str], module: str) -> list[ModuleType]:
    """The module `module` of each package that has one."""
    found = []
    for package in packages:
        name = f"{package}.{module}"
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return found


def offered(modules: Iterable[ModuleType], attr: str) -> list[Any]:
    """The items each module offers under `attr`, one list."""
    return [item for mod in modules for item in getattr(mod, attr, [])]


def contributing_modules(module: str) -> list[ModuleType]:
    return modules_named(_packages(), module)


def collect(module: str, attr: str) -> list[Any]:
    return offered(contributing_modules(module), attr)
