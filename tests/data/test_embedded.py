"""The embedded cluster manager: idempotent start, clean stop, readable errors."""

from __future__ import annotations

import tempfile
from pathlib import Path

import psycopg
import pytest

from data import embedded
from data.embedded import Cluster, free_port
from data.errors import EmbeddedDatabaseError

pytestmark = pytest.mark.postgis


def test_start_is_idempotent_and_stop_is_clean() -> None:
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="gridmap-emb-")), free_port())
    try:
        url = cluster.start()
        assert url.startswith("postgresql://") and cluster.start() == url
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT PostGIS_Version()").fetchone()
        assert (cluster.pwfile.stat().st_mode & 0o777) == 0o600
        cluster.stop()
        assert not cluster.is_running()
        cluster.stop()
        assert cluster.start() == url  # restarts on the same data
    finally:
        cluster.destroy()
    assert not cluster.home.exists()


def test_missing_packages_name_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "PG_VERSION", "99")
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="gridmap-emb-")), free_port())
    with pytest.raises(EmbeddedDatabaseError, match="apt-get install"):
        cluster.start()
