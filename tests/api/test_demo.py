"""``gridmap demo`` as a user runs it: a fresh embedded cluster, the sample city, the server,
then Ctrl-C (SIGINT to the whole process group, as a terminal sends it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from data.embedded import Cluster, free_port

pytestmark = pytest.mark.postgis


def _wait_until_served(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "gridmap demo exited before serving"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"gridmap demo did not serve {url} within {timeout_s:.0f} s")


def test_ctrl_c_says_the_embedded_database_keeps_running(tmp_path: Path) -> None:
    # Under /tmp itself: as root the cluster belongs to postgres, which cannot enter tmp_path.
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="gridmap-test-demo-")), free_port())
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "GRIDMAP_DATABASE_URL"}
    env |= {"GRIDMAP_HOME": str(cluster.home), "GRIDMAP_DB_PORT": str(cluster.port)}
    gridmap = [sys.executable, "-c", "from api.cli import main; main()"]
    stderr = tmp_path / "stderr"
    try:
        with stderr.open("wb") as errors:
            demo = subprocess.Popen(
                [*gridmap, "demo", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,  # its own process group, like a terminal's job
            )
            try:
                _wait_until_served(f"http://127.0.0.1:{port}/health", demo, timeout_s=120)
                os.killpg(demo.pid, signal.SIGINT)
                assert demo.wait(timeout=30) == 0  # uvicorn.run returns on Ctrl-C
            finally:
                if demo.poll() is None:
                    demo.kill()
                    demo.wait()
        lines = stderr.read_text(encoding="utf-8").strip().splitlines()
        assert lines[-1] == "the embedded database keeps running; stop it with: gridmap db stop"
        assert "Traceback" not in "\n".join(lines)
        assert cluster.is_running()  # what the line says
    finally:
        cluster.destroy()
