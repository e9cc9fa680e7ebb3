"""The QGIS round trip as a user runs it: export a community, edit the file, validate it,
redraw from it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import psycopg
import pytest
import shapely
from shapely.geometry import LineString

from geo.topology import move_boundary, polygonal_boundary
from tests.api.test_redraw_live import sample_database

pytestmark = pytest.mark.postgis

COMMUNITY, A, B = "320102001002", "320102001002006", "320102001002008"


@pytest.fixture(scope="module")
def url(pg_url: str) -> str:
    return sample_database(pg_url, "gridmap_cli_grids")


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture()
def gridmap(url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """``gridmap ARGS`` in this process (a subprocess pays seconds of imports per call)."""
    from api.cli import main

    monkeypatch.setenv("GRIDMAP_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str, url: str) -> subprocess.CompletedProcess[str]:
        monkeypatch.setattr(sys, "argv", ["gridmap", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, captured.out, captured.err)

    return run


def test_export_edit_validate_redraw(url: str, gridmap: Run, tmp_path: Path) -> None:
    path = tmp_path / "grids.gpkg"
    exported = gridmap("grids", "export", "--community", COMMUNITY, "-o", str(path), url=url)
    assert exported.returncode == 0, exported.stderr
    frame = gpd.read_file(path)
    assert set(frame["community"]) == {COMMUNITY} and frame["etag"].str.startswith('"g').all()

    a, b = (frame.geometry[frame["code"] == c].iloc[0] for c in (A, B))
    shared = shapely.line_merge(polygonal_boundary(a, b))
    new_a, new_b = move_boundary(a, b, LineString([shared.coords[0], shared.coords[-1]]))
    gap = frame.copy()
    gap.loc[gap["code"] == A, "geometry"] = gpd.GeoSeries([new_a.buffer(-0.0001)]).values
    gap.to_file(tmp_path / "gap.gpkg")
    refused = gridmap("grids", "validate", str(tmp_path / "gap.gpkg"), url=url)
    assert refused.returncode == 1 and '"kind": "gap"' in refused.stdout

    frame.loc[frame["code"] == A, "geometry"] = gpd.GeoSeries([new_a]).values
    frame.loc[frame["code"] == B, "geometry"] = gpd.GeoSeries([new_b]).values
    frame.to_file(path)
    checked = gridmap("grids", "validate", str(path), url=url)
    assert checked.returncode == 0, checked.stderr
    assert '"ok": true' in checked.stdout and '"buildings_moved"' in checked.stdout
    with psycopg.connect(url) as conn:
        before = conn.execute("SELECT count(*) FROM grids").fetchone()
    applied = gridmap("grids", "redraw", str(path), "--reason", "lane rebuilt", url=url)
    assert applied.returncode == 0, applied.stderr
    with psycopg.connect(url) as conn:
        after = conn.execute("SELECT count(*) FROM grids").fetchone()
        reason = conn.execute("SELECT reason FROM grid_versions ORDER BY id DESC").fetchone()
    assert before is not None and after is not None and after[0] == before[0] + 2
    assert reason == ("lane rebuilt",)
    frame.loc[frame["code"] == A, "name"] = "新名"
    frame.to_file(path)
    again = gridmap("grids", "redraw", str(path), "--reason", "rename", url=url)
    assert again.returncode == 1 and "stale" in again.stderr  # the file's etags are old now
