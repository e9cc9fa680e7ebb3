"""``gridmap import`` with awkward real-world files, as a user runs it: one clear line for
each refusal and nothing written; usage errors short; the database URL kept off screen."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from data.db import sqlalchemy_url
from tests.api.test_cli import FIXTURES, _error_line, gridmap
from tests.api.test_hostile import checksum
from tests.conftest import own_database

pytestmark = pytest.mark.postgis
AWKWARD = FIXTURES / "awkward"


@pytest.fixture(scope="module")
def city_url(pg_url: str) -> Iterator[str]:
    url = own_database(pg_url, "gridmap_intake")
    assert gridmap("import", "sample", url=url).returncode == 0
    yield url


def _checksum(url: str) -> dict[str, str]:
    engine = create_engine(sqlalchemy_url(url))
    try:
        with Session(engine) as session:
            return checksum(session)
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (
            [
                "grids",
                str(AWKWARD / "sf_blocks_feet" / "sf_blocks_feet.shp"),
                "--code-field",
                "GEO_ID",
            ],
            ["not lon/lat degrees", "--crs"],
        ),
        (["grids", str(AWKWARD / "610113.geojson")], ["--code-from-filename"]),
        (["buildings", str(AWKWARD / "nanjing_buildings_utm.geojson")], ["--crs EPSG:"]),
        (["buildings", str(AWKWARD / "nanjing_head.osm")], ["OpenStreetMap XML"]),
        (["stations", str(AWKWARD / "nanjing_head.osm")], ["OpenStreetMap XML"]),
        (["network", str(AWKWARD / "nanjing_head.osm")], ["OpenStreetMap XML"]),
        (
            [
                "incidents",
                str(AWKWARD / "sf_vandalism_feet.csv"),
                "--lon-col",
                "X",
                "--lat-col",
                "Y",
            ],
            ["not lon/lat degrees"],
        ),
        (
            [
                "incidents",
                str(AWKWARD / "hotline_naive_times.csv"),
                "--lon-col",
                "经度",
                "--lat-col",
                "纬度",
                "--strict",
            ],
            ["line 4: no usable coordinates"],
        ),
    ],
)
def test_awkward_file_is_one_line_and_writes_nothing(
    city_url: str,
    args: list[str],
    needles: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """In-process (the entry point with its error handling), to keep the suite quick."""
    from api.cli import main

    before = _checksum(city_url)
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", city_url)
    monkeypatch.setattr(sys, "argv", ["gridmap", "import", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    stderr = capsys.readouterr().err
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert exited.value.code == 1 and len(lines) == 1 and "Traceback" not in stderr, stderr
    for needle in needles:
        assert needle in lines[0]
    assert _checksum(city_url) == before


def test_hotline_import_reports_rejects_and_reimport_changes_nothing(
    city_url: str, tmp_path: Path
) -> None:
    args = [
        "import", "incidents", str(AWKWARD / "hotline_naive_times.csv"), "--lon-col", "经度",
        "--lat-col", "纬度", "--category-col", "类别", "--time-col", "受理时间",
        "--id-col", "工单编号", "--rejects", str(tmp_path / "rejects.csv"),
    ]  # fmt: skip
    first = gridmap(*args, url=city_url)
    assert first.returncode == 0, first.stderr
    assert "36 reports stored, 4 rejected (first: line 4" in first.stderr
    assert (tmp_path / "rejects.csv").read_text(encoding="utf-8").count("\n") == 5
    before = _checksum(city_url)
    again = gridmap(*args, url=city_url)
    assert again.returncode == 0 and "nothing to change" in again.stderr
    assert _checksum(city_url) == before


def test_identical_grid_reimport_changes_nothing(city_url: str) -> None:
    sample = Path(__file__).parents[2] / "data" / "sample" / "nanjing" / "grids.geojson"
    args = [
        "import",
        "grids",
        str(sample),
        "--name-field",
        "name",
        "--community-field",
        "community",
    ]
    gridmap(*args, url=city_url)
    before = _checksum(city_url)
    result = gridmap(*args, url=city_url)
    assert result.returncode == 0 and "121 unchanged" in result.stderr
    assert _checksum(city_url) == before


def test_remove_commands_are_audited(city_url: str) -> None:
    with psycopg.connect(city_url) as conn:
        building = conn.execute("SELECT min(id) FROM buildings").fetchone()[0]  # type: ignore[index]
    assert gridmap("remove", "building", str(building), url=city_url).returncode == 0
    assert "no building" in _error_line(gridmap("remove", "building", str(building), url=city_url))
    with psycopg.connect(city_url) as conn:
        audit = conn.execute(
            "SELECT action, entity, entity_id FROM audit_log ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert audit == ("delete", "building", str(building))


@pytest.mark.parametrize(
    "args", [["import", "grid", "x.geojson"], ["serve", "--port", "abc"], ["import", "grids"]]
)
def test_usage_errors_are_short(args: list[str]) -> None:
    result = gridmap(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Usage:" in result.stderr and len(result.stderr.strip().splitlines()) <= 6


def test_version() -> None:
    result = gridmap("--version")
    assert result.returncode == 0 and result.stdout.startswith("gridmap ")


def test_db_start_keeps_the_password_off_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    from api.cli import app, db

    class Cluster:
        def start(self) -> str:
            return "postgresql://gridmap:s3cret@127.0.0.1:5999/gridmap"

    monkeypatch.setattr(db, "default_cluster", Cluster)
    result = CliRunner().invoke(app, ["db", "start"])
    assert result.exit_code == 0 and "s3cret" not in result.output
    assert "gridmap db url" in result.output
