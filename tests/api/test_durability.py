"""Nothing acknowledged is lost and nothing is doubled, while the server is killed with
SIGKILL and restarted under load: field apps on flaky networks retry with the same client_id
until they get an answer, and sometimes resend after one."""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from data.db import make_engine, migrate, transaction
from data.embedded import free_port
from data.keys import create_key
from data.sample_loader import load_sample
from tests.conftest import own_database

pytestmark = pytest.mark.postgis

REPORTS = int(os.environ.get("GRIDMAP_DURABILITY_REPORTS", "10000"))
KILLS = 3
CLIENTS = 8


def _start(url: str, port: int) -> subprocess.Popen[bytes]:
    gridmap = str(Path(sys.executable).with_name("gridmap"))
    env = {
        **os.environ,
        "GRIDMAP_DATABASE_URL": url,
        "GRIDMAP_POOL_SIZE": "12",
        "GRIDMAP_WRITE_LIMIT_PER_KEY": "1000000",  # one key here stands for thousands of phones
        "GRIDMAP_WRITE_LIMIT_PER_IP": "1000000",
    }
    server = subprocess.Popen(
        [gridmap, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise AssertionError("the server did not come up")


def test_acknowledged_reports_survive_kill_9_exactly_once(pg_url: str) -> None:
    url = own_database(pg_url, "gridmap_durability")
    migrate(url)
    engine = make_engine(url)
    with transaction(engine) as session:
        load_sample(session=session)
        key = create_key(session=session, role="reporter")
    port = free_port()
    server = _start(url, port)
    todo: queue.Queue[int] = queue.Queue()
    for n in range(REPORTS):
        todo.put(n)
    acked: dict[str, int] = {}
    lock = threading.Lock()
    rng = random.Random(7)

    def client(seed: int) -> None:
        mine = random.Random(seed)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            while True:
                try:
                    n = todo.get_nowait()
                except queue.Empty:
                    return
                client_id = f"phone-{n}"
                body = {
                    "client_id": client_id,
                    "category": "市容环境",
                    "description": f"report {n}",
                    "lon": 118.79 + mine.uniform(-0.01, 0.01),
                    "lat": 32.05 + mine.uniform(-0.01, 0.01),
                }
                sends = 2 if mine.random() < 0.05 else 1  # a resend after an answer
                while sends:
                    try:
                        answer = http.post(
                            "/api/v1/incidents", json=body, headers={"X-API-Key": key}
                        )
                    except httpx.TransportError:
                        time.sleep(0.05)  # the server is down: retry the same report
                        continue
                    if answer.status_code >= 500:
                        time.sleep(0.05)
                        continue
                    assert answer.status_code in (200, 201), answer.text
                    with lock:
                        ident = acked.setdefault(client_id, answer.json()["id"])
                    assert ident == answer.json()["id"]
                    sends -= 1

    clients = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in clients:
        t.start()
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(1.0, 3.0))
            server.send_signal(signal.SIGKILL)
            server.wait()
            server = _start(url, port)
        for t in clients:
            t.join(timeout=600)
    finally:
        server.kill()
        server.wait()
    assert len(acked) == REPORTS
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT client_id, id FROM incidents WHERE client_id LIKE 'phone-%'")
        ).all()
        events = conn.execute(
            text(
                "SELECT count(*), count(DISTINCT incident_id) FROM incident_events e "
                "JOIN incidents i ON i.id = e.incident_id WHERE i.client_id LIKE 'phone-%'"
            )
        ).one()
    engine.dispose()
    assert dict(rows) == acked  # every acknowledged report, once, under the id it was given
    assert tuple(events) == (REPORTS, REPORTS)  # one first event each, none doubled
