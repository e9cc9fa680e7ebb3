"""``gridmap qr`` as a user runs it: a grid's poster as PNG, a community's as a multi-page PDF,
the QR decoding to the report page's address, and one-line refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
from PIL import Image
from typer.testing import CliRunner

from api.cli import app
from api.cli.common import CliError
from data.db import make_engine, migrate, transaction
from data.sample_loader import load_sample
from tests.api.test_cli import gridmap
from tests.conftest import own_database
from tests.screenshots import shot

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def city(pg_url: str) -> str:
    url = own_database(pg_url, "gridmap_cli_qr")
    migrate(url)
    engine = make_engine(url, pool_size=1)
    with transaction(engine) as session:
        load_sample(session=session)
    engine.dispose()
    return url


def test_posters(city: str, tmp_path: Path) -> None:
    with psycopg.connect(city) as conn:
        code, community = conn.execute(
            "SELECT code, community FROM grids WHERE valid_to IS NULL ORDER BY code LIMIT 1"
        ).fetchone()  # type: ignore[misc]
        grids = conn.execute(
            "SELECT count(*) FROM grids WHERE valid_to IS NULL AND community = %s", (community,)
        ).fetchone()[0]  # type: ignore[index]
    png = tmp_path / "one.png"
    done = gridmap(
        "qr", "--grid", code, "-o", str(png), "--base-url", "https://gm.example/", url=city
    )
    assert done.returncode == 0, done.stderr
    with Image.open(png) as page:
        assert page.size == (1240, 1754)
        centre = page.convert("L").crop((210, 700, 1030, 1200))
        assert centre.getextrema() == (0, 255)  # the QR's black modules on white
    pdf = tmp_path / "community.pdf"
    done = gridmap("qr", "--community", community, "-o", str(pdf), url=city)
    assert done.returncode == 0, done.stderr
    data = pdf.read_bytes()
    assert (
        data.startswith(b"%PDF") and data.count(b"/Type /Page\n") + data.count(b"/Type /Page ") >= 1
    )
    assert f"{grids} posters" in done.stderr.replace("\n", " ")
    shutil.copy(png, shot("qr_poster"))


def test_refusals_are_one_line(city: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", city)
    with psycopg.connect(city) as conn:
        code, community = conn.execute(
            "SELECT code, community FROM grids WHERE valid_to IS NULL ORDER BY code LIMIT 1"
        ).fetchone()  # type: ignore[misc]
    for args in (
        ["--grid", "nope", "-o", str(tmp_path / "x.png")],
        ["--community", community, "-o", str(tmp_path / "x.png")],
        ["--grid", code, "-o", str(tmp_path / "x.svg")],
        ["--grid", code, "--community", community, "-o", str(tmp_path / "x.pdf")],
        ["--grid", code, "-o", str(tmp_path / "x.png"), "--base-url", "gm.example"],
    ):
        result = CliRunner().invoke(app, ["qr", *args])
        assert isinstance(result.exception, CliError), result.output
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "x.pdf").exists()


def test_the_qr_code_opens_the_grids_report_page() -> None:
    from api.posters import report_url

    assert (
        report_url("https://gm.example/", "3201 02") == "https://gm.example/report?grid=3201%2002"
    )
