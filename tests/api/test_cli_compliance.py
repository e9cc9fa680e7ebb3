"""``gridmap coverage kinds …``, ``gridmap coverage compliance -o FILE`` and the offline
``gridmap coverage --compliance`` (in-process through ``main()``, as test_cli_loop does)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import openpyxl
import psycopg
import pytest

from data.facility_kinds import FACILITY_KIND_SEED
from tests.api import test_cli, test_cli_loop
from tests.api.test_cli import FIXTURES, SAMPLE, _error_line
from tests.api.test_cli_loop import Run

pytestmark = pytest.mark.postgis
run = test_cli_loop.run  # the fixture: ``gridmap ARGS`` in this process


full_url = test_cli.full_url  # the fixture: the sample city in a database of its own


@pytest.fixture(scope="module")
def cli_url(full_url: str) -> str:
    return full_url


def test_kinds_are_editable_and_audited(cli_url: str, tmp_path: Path, run: Run) -> None:
    listed = run("coverage", "kinds", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [r[0] for r in rows] == [
        k.kind for k in sorted(FACILITY_KIND_SEED, key=lambda k: (k.minutes, k.kind))
    ]
    assert ["kindergarten", "5", "300", "kindergarten", "幼儿园", "Kindergarten"] in rows

    changed = run("coverage", "kinds", "set", "kindergarten", "--distance-m", "0")
    assert changed.returncode == 0, changed.stderr
    added = run(
        "coverage", "kinds", "set", "pharmacy", "--minutes", "10", "--stations", "health;hospital"
    )
    assert added.returncode == 0, added.stderr
    rows = [line.split("\t") for line in run("coverage", "kinds", "list").stdout.splitlines()]
    assert next(r for r in rows if r[0] == "kindergarten")[:3] == ["kindergarten", "5", ""]
    assert next(r for r in rows if r[0] == "pharmacy")[:4] == [
        "pharmacy",
        "10",
        "",
        "health;hospital",
    ]
    assert "give --minutes" in _error_line(run("coverage", "kinds", "set", "gym"))
    assert "minutes must be 5, 10 or 15" in _error_line(
        run("coverage", "kinds", "set", "pharmacy", "--minutes", "7")
    )
    assert "no facility kind 'nope'" in _error_line(run("coverage", "kinds", "remove", "nope"))

    exported = tmp_path / "kinds.csv"
    assert run("coverage", "kinds", "export", str(exported)).returncode == 0
    table = list(csv.DictReader(exported.open(encoding="utf-8-sig")))
    assert len(table) == len(FACILITY_KIND_SEED) + 1
    kept = [r for r in table if r["kind"] not in ("pharmacy", "post")]
    with exported.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(kept)
    imported = run("coverage", "kinds", "import", str(exported))
    assert imported.returncode == 0, imported.stderr
    names = [line.split("\t")[0] for line in run("coverage", "kinds", "list").stdout.splitlines()]
    assert sorted(names) == sorted(r["kind"] for r in kept)
    bad = tmp_path / "bad.csv"
    bad.write_text("kind,name_zh,name_en,minutes,distance_m,station_kinds\nx,x,x,twenty,,market\n")
    assert "line 2" in _error_line(run("coverage", "kinds", "import", str(bad)))
    with psycopg.connect(cli_url) as conn:
        audited = conn.execute(
            "SELECT action, entity_id FROM audit_log WHERE entity = 'facility_kind' ORDER BY id"
        ).fetchall()
    assert ("set", "pharmacy") in audited and ("remove", "post") in audited


def test_compliance_export(cli_url: str, tmp_path: Path, run: Run) -> None:
    xlsx, table = tmp_path / "compliance.xlsx", tmp_path / "compliance.csv"
    for out, by in ((xlsx, "community"), (table, "grid")):
        done = run("coverage", "compliance", "-o", str(out), "--by", by)
        assert done.returncode == 0, done.stderr
        assert "wrote" in done.stderr and "no facility of this kind" in done.stderr
    book = openpyxl.load_workbook(xlsx)
    assert book.sheetnames == ["compliance", "kinds"]
    header = [c.value for c in next(book["compliance"].iter_rows(max_row=1))]
    assert header[:3] == ["community", "kind", "name_zh"] and "pct_households" in header
    rows = list(csv.DictReader(table.open(encoding="utf-8-sig")))
    grids = {r["grid"] for r in rows} - {"(all)"}
    assert len(grids) > 100
    with psycopg.connect(cli_url) as conn:
        kinds = conn.execute("SELECT count(*) FROM facility_kinds").fetchone()
    assert kinds is not None and len(rows) == (len(grids) + 1) * kinds[0]
    assert "must be one of" in _error_line(
        run("coverage", "compliance", "-o", str(table), "--by", "district")
    )
    assert ".csv or .xlsx" in _error_line(run("coverage", "compliance", "-o", "x.txt"))


def test_offline_compliance_from_files(tmp_path: Path, run: Run) -> None:
    out, report = tmp_path / "coverage.geojson", tmp_path / "report.csv"
    done = run(
        "coverage",
        "--network",
        str(FIXTURES / "osm" / "nanjing_xuanwu.osm.pbf"),
        "--stations",
        str(SAMPLE / "stations.geojson"),
        "--buildings",
        str(SAMPLE / "buildings.geojson"),
        "-o",
        str(out),
        "--compliance",
        "--report",
        str(report),
    )
    assert done.returncode == 0, done.stderr
    assert "community_service (300 m): 0.0% of households — 没有此类设施" in done.stderr
    features = json.loads(out.read_text())["features"]
    props = features[0]["properties"]
    assert {"walk_m", "covered", "kindergarten_m", "kindergarten_ok", "score"} <= props.keys()
    for f in features:
        p = f["properties"]
        oks = [p[f"{k.kind}_ok"] for k in FACILITY_KIND_SEED]
        assert p["score"] == sum(oks)
        assert p["community_service_m"] is None and not p["community_service_ok"]
        if p["kindergarten_m"] is not None:
            assert p["kindergarten_ok"] == (p["kindergarten_m"] <= 300)
            assert p["walk_m"] <= p["kindergarten_m"] + 1e-9  # any station is no farther
    rows = list(csv.DictReader(report.open(encoding="utf-8-sig")))
    assert len(rows) == len(FACILITY_KIND_SEED) and rows[0]["community"] == "(all)"
    assert "need --compliance" in _error_line(
        run(
            "coverage",
            "--network",
            "n",
            "--stations",
            "s",
            "--buildings",
            "b",
            "-o",
            "o",
            "--report",
            "r.csv",
        )
    )
    assert "missing option --network" in _error_line(run("coverage", "-o", "x.geojson"))
