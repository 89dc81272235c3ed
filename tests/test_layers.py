"""The layer rule: a package imports only the packages below it, never one above or beside it.

Low to high: core < providers < market < leasing < scheduler < app. Packages on one floor (leasing and
residents) do not import each other. tests/ and bench/ sit outside the house and may import anything. The
check reads every module's source with `ast`, so an import inside a function counts as much as one at the
top; a new package fails here until it is given its row in ALLOWED_IMPORTS.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

_BELOW_LEASING = {"core", "providers", "market"}
_DOMAINS = {"providers", "market", "leasing", "residents", "scheduler"}

# Each project package and the project packages its modules may import (itself always included).
ALLOWED_IMPORTS: dict[str, set[str]] = {
    "core": {"core"},
    "providers": {"core", "providers"},
    "market": {"core", "providers", "market"},
    "leasing": _BELOW_LEASING | {"leasing"},
    "residents": _BELOW_LEASING | {"residents"},
    "scheduler": {"core"} | _DOMAINS,
    "web": {"web", "core"} | _DOMAINS,
    "app": {"app", "core", "web"} | _DOMAINS,
}
UNRESTRICTED = {"tests", "bench"}


def project_packages(root: Path) -> set[str]:
    return {path.parent.name for path in root.glob("*/__init__.py")}


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) for every absolute import in the module, at any depth."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def layer_violations(root: Path) -> list[str]:
    packages = project_packages(root)
    violations = [
        f"{name}/: a package with no row in ALLOWED_IMPORTS"
        for name in sorted(packages - set(ALLOWED_IMPORTS) - UNRESTRICTED)
    ]
    for package in sorted(packages & set(ALLOWED_IMPORTS)):
        allowed = ALLOWED_IMPORTS[package]
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for line, module in imported_modules(tree):
                target = module.split(".")[0]
                if target in packages and target not in allowed:
                    violations.append(f"{path.relative_to(root)}:{line} imports {module}")
    return violations


def test_no_package_imports_a_layer_above_or_beside_it() -> None:
    assert layer_violations(ROOT) == []


@pytest.mark.parametrize(
    ("package", "source", "reported"),
    [
        ("core", "def f():\n    from scheduler.jobs import JOBS\n", "core/module.py:2 imports scheduler.jobs"),
        ("providers", "import market.service\n", "providers/module.py:1 imports market.service"),
        ("leasing", "from residents import service\n", "leasing/module.py:1 imports residents"),
        ("residents", "from leasing.tables import Lease\n", "residents/module.py:1 imports leasing.tables"),
        ("scheduler", "from app.domains import collect\n", "scheduler/module.py:1 imports app.domains"),
    ],
)
def test_an_import_against_the_layers_is_reported(tmp_path: Path, package: str, source: str, reported: str) -> None:
    for name in ALLOWED_IMPORTS:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / package / "module.py").write_text(source)
    assert layer_violations(tmp_path) == [reported]


def test_a_package_without_a_row_is_reported(tmp_path: Path) -> None:
    (tmp_path / "gardens").mkdir()
    (tmp_path / "gardens" / "__init__.py").write_text("")
    assert layer_violations(tmp_path) == ["gardens/: a package with no row in ALLOWED_IMPORTS"]
