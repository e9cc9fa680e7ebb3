"""Shared fixtures: one throwaway PostGIS cluster per test session, never a mock.

Set ``GRIDMAP_TEST_DATABASE_URL`` to use an existing server instead (its database is
wiped of gridmap tables first). In CI (``CI`` set) a PostGIS or browser test that is
skipped fails the run — see pytest_terminal_summary.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from data.embedded import Cluster, free_port


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """libpq URL of a PostGIS database that lives as long as the test session."""
    if url := os.environ.get("GRIDMAP_TEST_DATABASE_URL"):
        yield url
        return
    home = Path(tempfile.mkdtemp(prefix="gridmap-test-pg-"))
    cluster = Cluster(home, free_port())
    try:
        yield cluster.start()
    finally:
        cluster.destroy()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if os.environ.get("CI") and skipped:
        terminalreporter.write_line(f"FAIL: {len(skipped)} tests skipped in CI", red=True)
        terminalreporter._session.exitstatus = 1  # type: ignore[attr-defined]
