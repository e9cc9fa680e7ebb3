"""The API's shape, checked: routes reach the worker's state only through api/deps.py, and
route modules do not import each other."""

from __future__ import annotations

import ast
from pathlib import Path

ROUTES = Path(__file__).parents[2] / "api" / "routes"


def _modules() -> list[Path]:
    return sorted(p for p in ROUTES.glob("*.py") if p.name != "__init__.py")


def test_no_route_reads_app_state() -> None:
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "state":
                raise AssertionError(f"{path.name}:{node.lineno} reads .state; use api/deps.py")


def test_route_modules_do_not_import_each_other() -> None:
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
                assert not any(n.startswith("api.routes.") for n in names), (
                    f"{path.name}:{node.lineno} imports {node.module}"
                )
