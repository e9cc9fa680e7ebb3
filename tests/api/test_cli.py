"""The ``gridmap`` command as a user runs it: a subprocess against its own database."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def gridmap_here(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """``gridmap *args`` in this process (what subprocesses cannot afford to repeat): (exit
    code, stdout, stderr)."""
    from api.cli import main

    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["gridmap", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


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


# --- one smoke test per command not covered above ----------------------------------------


@pytest.fixture(scope="module")
def city_url(pg_url: str) -> Iterator[str]:
    """The sample city's grids only, committed in a database of their own: the commands
    below load the rest one file each."""
    from data.db import make_engine, migrate, transaction
    from data.files.importers import import_grids

    url = own_database(pg_url, "gridmap_cli_city")
    migrate(url)
    engine = make_engine(url, pool_size=1)
    try:
        with transaction(engine) as session:
            import_grids(
                session=session,
                path=SAMPLE / "grids.geojson",
                community_field="community",
                name_field="name",
            )
    finally:
        engine.dispose()
    yield url


def _scalar(url: str, query: str) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def test_help_lists_every_command() -> None:
    script = Path(sys.executable).with_name("gridmap")  # the console script users run
    result = subprocess.run(
        [str(script), "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Usage: gridmap" in result.stdout
    for command in ("assign", "coverage", "map", "serve", "demo", "db", "import", "keys"):
        assert f" {command} " in result.stdout, command
    imports = gridmap("import", "--help")
    assert imports.returncode == 0, imports.stderr
    for kind in ("sample", "grids", "buildings", "stations", "network", "incidents"):
        assert f" {kind} " in imports.stdout, kind


def test_db_url_prints_the_configured_database(cli_url: str) -> None:
    result = gridmap("db", "url", url=cli_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == cli_url + "\n"


def test_db_migrate_brings_a_new_database_to_head(pg_url: str) -> None:
    from alembic.script import ScriptDirectory

    from data.db import alembic_config

    url = own_database(pg_url, "gridmap_cli_migrate")
    for _ in range(2):  # idempotent
        result = gridmap("db", "migrate", url=url)
        assert result.returncode == 0, result.stderr
        assert "schema up to date" in result.stderr
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert _scalar(url, "SELECT version_num FROM alembic_version") == head
    assert _scalar(url, "SELECT count(*) FROM grids") == 0


def test_import_buildings_assigns_them_like_postgis(city_url: str) -> None:
    result = gridmap("import", "buildings", str(SAMPLE / "buildings.geojson"), url=city_url)
    assert result.returncode == 0, result.stderr
    assert "imported 1193 buildings" in result.stderr
    assert _scalar(city_url, "SELECT count(*) FROM buildings") == 1193
    wrong = _scalar(
        city_url,
        """SELECT count(*) FROM buildings b WHERE b.grid_code IS DISTINCT FROM (
               SELECT g.code FROM grids g WHERE g.valid_to IS NULL AND ST_Covers(g.geom, b.geom)
               ORDER BY g.code COLLATE "C" LIMIT 1)""",
    )
    assert wrong == 0
    assert _scalar(city_url, "SELECT count(*) FROM buildings WHERE grid_code IS NULL") == 0


def test_import_stations_with_their_kinds(city_url: str) -> None:
    features = json.loads((SAMPLE / "stations.geojson").read_text())["features"]
    hospitals = sum(f["properties"]["kind"] == "hospital" for f in features)
    before = _scalar(city_url, "SELECT count(*) FROM stations")
    result = gridmap("import", "stations", str(SAMPLE / "stations.geojson"), url=city_url)
    assert result.returncode == 0, result.stderr
    assert f"imported {len(features)} stations" in result.stderr
    assert _scalar(city_url, "SELECT count(*) FROM stations") == before + len(features)
    query = "SELECT count(*) FROM stations WHERE kind = 'hospital'"
    assert _scalar(city_url, query) >= hospitals > 0


def test_import_network_from_an_osm_extract(city_url: str) -> None:
    from geo.network import WalkNetwork

    extract = FIXTURES / "osm" / "nanjing_xuanwu.osm.pbf"
    edges = WalkNetwork.from_osm(extract).n_edges
    result = gridmap("import", "network", str(extract), url=city_url)
    assert result.returncode == 0, result.stderr
    assert f"imported {edges} network edges" in result.stderr
    assert _scalar(city_url, "SELECT count(*) FROM network_edges") == edges


def test_import_incidents_from_csv(city_url: str, tmp_path: Path) -> None:
    rows = tmp_path / "reports.csv"
    with rows.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["lon", "lat", "category", "priority"])
        writer.writerow([118.7843, 32.0447, "cli-smoke", "major"])
        writer.writerow([118.7705, 32.0395, "cli-smoke", "routine"])
        writer.writerow([118.70, 32.00, "cli-smoke", "routine"])  # in the region, in no grid
        writer.writerow([100.0, 30.0, "cli-smoke", "routine"])  # outside the region: rejected
    result = gridmap("import", "incidents", str(rows), url=city_url)
    assert result.returncode == 0, result.stderr
    assert "imported 3 incidents" in result.stderr
    assert "1 rejected (first: line 5:" in result.stderr
    wrong = _scalar(
        city_url,
        """SELECT count(*) FROM incidents i WHERE i.category = 'cli-smoke'
           AND i.grid_code IS DISTINCT FROM (
               SELECT g.code FROM grids g WHERE g.valid_to IS NULL AND ST_Covers(g.geom, i.geom)
               ORDER BY g.code COLLATE "C" LIMIT 1)""",
    )
    assert wrong == 0
    assigned = "SELECT count(grid_code) FROM incidents WHERE category = 'cli-smoke'"
    assert _scalar(city_url, assigned) == 2
    major = "SELECT count(*) FROM incidents WHERE category = 'cli-smoke' AND priority = 'major'"
    assert _scalar(city_url, major) == 1


@pytest.fixture(scope="module")
def full_url(pg_url: str) -> Iterator[str]:
    """The whole sample city and three incidents, committed in a database of their own."""
    from data.db import make_engine, migrate, transaction
    from data.sample_loader import load_sample
    from tests.data.test_tiles import add_incidents

    url = own_database(pg_url, "gridmap_cli_full")
    migrate(url)
    engine = make_engine(url, pool_size=1)
    try:
        with transaction(engine) as session:
            load_sample(session=session)
            add_incidents(session, [(118.7705, 32.0395, "reported"), (118.786, 32.047, "closed")])
    finally:
        engine.dispose()
    yield url


@pytest.mark.parametrize(
    ("which", "drawn"),
    [
        ("coverage", "gridmap.pointLayer"),
        ("incidents", "gridmap.incidents("),
        ("stats", "Incident statistics"),
    ],
)
def test_map_pages_write_self_contained_files(
    full_url: str, tmp_path: Path, which: str, drawn: str
) -> None:
    """A fresh database: the coverage map computes (and stores) its coverage run first."""
    out = tmp_path / f"{which}.html"
    result = gridmap(
        "map", which, "-o", str(out), "--minutes", "10", "--tiles", "none", url=full_url
    )
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stderr
    html = out.read_text()
    assert "<script src=" not in html and "L.map" in html and drawn in html
