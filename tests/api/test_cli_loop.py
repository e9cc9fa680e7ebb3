"""``gridmap people``, ``keys create --person`` and ``gridmap stats``: one real subprocess,
the rest in-process through the same ``main()`` (each subprocess costs seconds of imports)."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import openpyxl
import psycopg
import pytest

from api.cli import main
from tests.api.test_cli import _error_line, gridmap
from tests.conftest import own_database

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def cli_url(pg_url: str) -> Iterator[str]:
    yield own_database(pg_url, "gridmap_cli_loop")


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture()
def run(cli_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """``gridmap ARGS`` in this process: (returncode, stdout, stderr) like a subprocess."""
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", cli_url)
    monkeypatch.setenv("COLUMNS", "200")

    def invoke(*args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
        monkeypatch.setattr(sys, "argv", ["gridmap", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return invoke


def test_people_keys_and_the_worker_evaluation(cli_url: str, tmp_path: Path, run: Run) -> None:
    added = run("people", "add", "--name", "王五", "--phone", "137", "--grid", "G1", url=cli_url)
    assert added.returncode == 0, added.stderr
    person = int(added.stdout.strip())
    people_csv = tmp_path / "people.csv"
    people_csv.write_text("name,phone,role,grids\n赵六,136,street,G2;G3\n钱七,,worker,\n")
    assert run("people", "import", str(people_csv), url=cli_url).returncode == 0
    listed = run("people", "list", url=cli_url).stdout.splitlines()
    assert [line.split("\t")[2] for line in listed] == ["王五", "赵六", "钱七"]
    assert listed[1].split("\t")[4] == "G2;G3"
    bad = tmp_path / "bad.csv"
    bad.write_text("name,role\n孙八,boss\n")
    assert "line 2" in _error_line(run("people", "import", str(bad), url=cli_url))

    key = gridmap("keys", "create", "--role", "reporter", "--person", str(person), url=cli_url)
    assert key.returncode == 0 and key.stdout.count("\n") == 1 and key.stdout.startswith("gm_")
    with psycopg.connect(cli_url) as conn:
        owner = conn.execute("SELECT person_id FROM api_keys WHERE prefix = %s", [key.stdout[:10]])
        assert owner.fetchone() == (person,)
    assert "no person" in _error_line(
        run("keys", "create", "--role", "viewer", "--person", "999", url=cli_url)
    )

    xlsx, table = tmp_path / "eval.xlsx", tmp_path / "eval.csv"
    for out in (xlsx, table):
        done = run("stats", "--by", "worker", "--month", "2026-11", "-o", str(out), url=cli_url)
        assert done.returncode == 0, done.stderr
    sheet = openpyxl.load_workbook(xlsx).active
    assert sheet is not None
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header[:5] == ["person_id", "name", "phone", "role", "handled"]
    assert {"on_time_closure_rate", "median_response_hours", "reopen_rate"} <= set(header)
    with open(table, encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["name"] for r in rows] == ["王五", "钱七"]  # the workers (赵六 is street staff)
    by_grid = run("stats", "--by", "grid", url=cli_url)
    assert by_grid.returncode == 0, by_grid.stderr  # no incidents here: no rows
    assert "--month" in _error_line(
        run("stats", "--by", "worker", "--month", "2026-13", url=cli_url)
    )
    assert ".xlsx" in _error_line(run("stats", "--by", "grid", "-o", "x.txt", url=cli_url))
    assert "--by" in _error_line(run("stats", "--by", "planet", url=cli_url))
