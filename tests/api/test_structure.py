"""The code's shape, checked: routes reach the worker's state only through api/deps.py,
route modules do not import each other, and the import contract that keeps file readers out
of data/'s PostGIS side names every module of that side."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]
ROUTES = ROOT / "api" / "routes"


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


def test_the_postgis_side_contract_names_every_module_of_it() -> None:
    """A new module at the top of data/ is held to "no file readers" from its first commit:
    import-linter only checks the modules its contract lists."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = next(
        c
        for c in config["tool"]["importlinter"]["contracts"]
        if "data.files" in c.get("forbidden_modules", [])
    )
    modules = {
        f"data.{p.stem}"
        for p in (ROOT / "data").glob("*.py")
        if p.stem not in ("__init__", "sample_loader")
    }
    assert set(contract["source_modules"]) == modules
