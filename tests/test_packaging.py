"""Every package of the house is installed: a package left out of pyproject.toml imports in the tests (they run
from the checkout) but not from the installed `fcom` command or the image."""

from __future__ import annotations

import tomllib

from tests.test_layers import ALLOWED_IMPORTS, ROOT, UNRESTRICTED, project_packages


def test_every_package_is_installed_and_type_checked() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    house = project_packages(ROOT) - UNRESTRICTED
    assert house == set(ALLOWED_IMPORTS)
    installed = {pattern.rstrip("*") for pattern in config["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert installed == house
    assert set(config["tool"]["mypy"]["packages"]) == house
