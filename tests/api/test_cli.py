"""The ``gridmap`` command as a user runs it: a subprocess against its own database."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import own_database

pytestmark = pytest.mark.postgis

FIXTURES = Path(__file__).parents[1] / "fixtures"
SAMPLE = Path(__file__).parents[2] / "data" / "sample" / "nanjing"


@pytest.fixture(scope="module")
def cli_url(pg_url: str) -> Iterator[str]:
    """A database of its own, so the commands' commits never touch other tests' data."""
    yield own_database(pg_url, "gridmap_cli")


def gridmap(*args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    if url:
        env["GRIDMAP_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def _grid_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM grids").fetchone()[0])  # type: ignore[index]


def test_keys_create_prints_only_the_key(cli_url: str) -> None:
    result = gridmap("keys", "create", "--role", "admin", url=cli_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("gm_")
    with psycopg.connect(cli_url) as conn:
        stored = conn.execute("SELECT key_hash FROM api_keys").fetchall()
    assert result.stdout.strip() not in {row[0] for row in stored}
    with psycopg.connect(cli_url) as conn:
        audit = conn.execute("SELECT action, entity, detail->>'role' FROM audit_log").fetchall()
    assert ("create", "api_key", "admin") in audit
    assert "role" in _error_line(gridmap("keys", "create", "--role", "boss", url=cli_url))


def test_import_sample_then_a_third_party_file(cli_url: str) -> None:
    assert gridmap("import", "sample", url=cli_url).returncode == 0
    before = _grid_count(cli_url)
    result = gridmap(
        "import",
        "grids",
        str(FIXTURES / "boundaries" / "sf_block_groups.geojson"),
        "--code-field",
        "GEO_ID",
        "--name-field",
        "NAME",
        url=cli_url,
    )
    assert result.returncode == 0, result.stderr
    assert _grid_count(cli_url) == before + 579


def test_broken_file_is_one_line_and_changes_nothing(cli_url: str, tmp_path: Path) -> None:
    gridmap("db", "migrate", url=cli_url)
    before = _grid_count(cli_url)
    bad = tmp_path / "bad.geojson"
    bad.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"code": "1"},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]],
                        },
                    },
                    {
                        "type": "Feature",
                        "properties": {"code": "2"},
                        "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
                    },
                ],
            }
        )
    )
    line = _error_line(gridmap("import", "grids", str(bad), url=cli_url))
    assert "feature code=2" in line
    assert _grid_count(cli_url) == before
    missing = gridmap("import", "grids", "/nope.gpkg", url=cli_url)  # a usage error, at once
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_map_writes_a_self_contained_page(cli_url: str, tmp_path: Path) -> None:
    gridmap("import", "sample", url=cli_url)
    out = tmp_path / "grids.html"
    result = gridmap("map", "grids", "-o", str(out), url=cli_url)
    assert result.returncode == 0, result.stderr
    html = out.read_text()
    assert "<script src=" not in html and "L.map" in html


def test_offline_assign_without_a_database(tmp_path: Path) -> None:
    rows = tmp_path / "in.csv"
    with rows.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "lng", "lat"])
        writer.writerow([1, 118.7843, 32.0447])
        writer.writerow([2, 0.0, 0.0])
        writer.writerow([3, "junk", ""])
    out = tmp_path / "out.csv"
    result = gridmap(
        "assign",
        str(rows),
        str(out),
        "--grids",
        str(SAMPLE / "grids.geojson"),
        "--code-field",
        "code",
        "--lon-col",
        "lng",
        "--lat-col",
        "lat",
    )
    assert result.returncode == 0, result.stderr
    written = list(csv.DictReader(out.open()))
    assert [r["id"] for r in written] == ["1", "2", "3"]
    assert written[0]["grid_code"].startswith("320102") and written[0]["match"] == "inside"
    assert written[1]["grid_code"] == "" and written[2]["match"] == ""


def test_offline_coverage_without_a_database(tmp_path: Path) -> None:
    out = tmp_path / "coverage.geojson"
    result = gridmap(
        "coverage",
        "--network",
        str(FIXTURES / "osm" / "nanjing_xuanwu.osm.pbf"),
        "--stations",
        str(SAMPLE / "stations.geojson"),
        "--buildings",
        str(SAMPLE / "buildings.geojson"),
        "--minutes",
        "15",
        "-o",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    features = json.loads(out.read_text())["features"]
    assert len(features) == 1193
    props = features[0]["properties"]
    assert {"walk_m", "nearest_station", "covered", "source_id"} <= props.keys()
