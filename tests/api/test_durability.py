"""Nothing acknowledged is lost and nothing is doubled, while the server is killed with
SIGKILL and restarted under load: field apps on flaky networks retry with the same client_id
until they get an answer, and sometimes resend after one; handlers retry lifecycle steps
(with the If-Match they first sent, or blind) until they get one."""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from data.db import make_engine, migrate, transaction
from data.embedded import free_port
from data.keys import create_key
from data.people import create_person
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


def _city(pg_url: str, name: str) -> tuple[str, Engine, str]:
    """A database of its own with the sample city, its engine and a reporter key."""
    url = own_database(pg_url, name)
    migrate(url)
    engine = make_engine(url)
    with transaction(engine) as session:
        load_sample(session=session)
        key = create_key(session=session, role="reporter")
    return url, engine, key


def _while_killed(
    server: subprocess.Popen[bytes],
    url: str,
    port: int,
    rng: random.Random,
    work: Callable[[int], None],
) -> None:
    """Run ``work(i)`` in ``CLIENTS`` threads while the server is SIGKILLed ``KILLS`` times,
    1–3 s apart, and restarted each time; stop the last one when the work is done."""
    threads = [threading.Thread(target=work, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(1.0, 3.0))
            server.send_signal(signal.SIGKILL)
            server.wait()
            server = _start(url, port)
        for t in threads:
            t.join(timeout=600)
    finally:
        server.kill()
        server.wait()


def test_acknowledged_reports_survive_kill_9_exactly_once(pg_url: str) -> None:
    url, engine, key = _city(pg_url, "gridmap_durability")
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

    _while_killed(server, url, port, rng, client)
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


INCIDENTS = int(os.environ.get("GRIDMAP_DURABILITY_INCIDENTS", "200"))
# Each incident's whole loop: (status, note, which assignee); a hand-over and a reopen too.
STEPS: list[tuple[str, str | None, int]] = [
    ("accepted", None, 0),
    ("dispatched", None, 0),
    ("dispatched", "handed over", 1),
    ("resolved", None, 0),
    ("dispatched", "verification failed", 0),
    ("resolved", None, 0),
    ("closed", None, 0),
]


def test_acknowledged_steps_survive_kill_9_exactly_once(pg_url: str) -> None:
    """Handlers drive many incidents through the loop while the server is SIGKILLed three
    times. Half send If-Match (a retry of a step that was applied is answered 200 with the
    ETag it produced), half do not (such a retry is 409). Afterwards each incident holds
    every step exactly once, in order, and its status and version agree with its events."""
    url, engine, key = _city(pg_url, "gridmap_durability_steps")
    with transaction(engine) as session:
        people = [create_person(session=session, name=n, role="worker") for n in ("甲", "乙")]
    port = free_port()
    server = _start(url, port)
    headers = {"X-API-Key": key}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=5) as http:
        ids = [
            http.post(
                "/api/v1/incidents",
                json={"category": "市容环境", "lon": 118.79, "lat": 32.05 + n * 1e-5},
            ).json()["id"]
            for n in range(INCIDENTS)
        ]
    todo: queue.Queue[int] = queue.Queue()
    for ident in ids:
        todo.put(ident)
    done: list[int] = []
    failures: list[str] = []
    retries: list[int] = []  # one entry per step sent again after no answer or a 5xx
    replays: list[int] = []  # one per step sent again after its answer (written once)
    rng = random.Random(11)

    def step(http: httpx.Client, ident: int, n: int, etag: str | None, mine: random.Random) -> str:
        """Send step ``n`` until it is acknowledged; returns the incident's ETag after it."""
        status, note, who = STEPS[n]
        body: dict[str, object] = {"status": status, "note": note}
        if status == "dispatched":
            body["assignee"] = people[who]
        extra = {} if etag is None else {"If-Match": etag}
        mine_resent = mine.random() < 0.05  # sometimes a resend after an answer
        tries, sends = 0, 2 if mine_resent else 1
        answer_etag = ""
        while sends:
            tries += 1
            try:
                answer = http.patch(f"/api/v1/incidents/{ident}", json=body, headers=extra)
            except httpx.TransportError:
                retries.append(ident)
                time.sleep(0.05)
                continue
            if answer.status_code >= 500:
                retries.append(ident)
                time.sleep(0.05)
                continue
            if answer.status_code == 200:
                assert answer.json()["status"] == status
                assert answer_etag in ("", answer.headers["ETag"])  # a replay: the same ETag
                answer_etag = answer.headers["ETag"]
            elif not (answer.status_code == 409 and etag is None and tries > 1):
                raise AssertionError(f"{ident} step {n}: {answer.status_code} {answer.text}")
            sends -= 1
            if sends == 0 and tries > 1 and mine_resent:
                replays.append(ident)
        return answer_etag

    def handler(seed: int) -> None:
        mine = random.Random(seed)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=5) as http:
            while True:
                try:
                    ident = todo.get_nowait()
                except queue.Empty:
                    return
                etag: str | None = f'"{ident}.1"' if ident % 2 else None
                try:
                    for n in range(len(STEPS)):
                        after = step(http, ident, n, etag, mine)
                        etag = after if etag is not None else None
                except AssertionError as exc:
                    failures.append(str(exc))
                    return
                done.append(ident)

    _while_killed(server, url, port, rng, handler)
    assert not failures, failures[:5]
    assert sorted(done) == sorted(ids)
    print(f"{len(ids) * len(STEPS)} steps, {len(retries)} retries, {len(replays)} resends")
    assert retries and replays  # the kills hit steps in flight; some were sent twice
    with engine.connect() as conn:
        events = conn.execute(
            text(
                "SELECT incident_id, array_agg(to_status ORDER BY id), "
                "array_agg(coalesce(note, '') ORDER BY id), array_agg(assignee ORDER BY id) "
                "FROM incident_events WHERE incident_id = ANY(:ids) GROUP BY incident_id"
            ),
            {"ids": ids},
        ).all()
        states = conn.execute(
            text("SELECT id, status, version FROM incidents WHERE id = ANY(:ids)"), {"ids": ids}
        ).all()
        audited = conn.execute(
            text(
                "SELECT count(*) FROM audit_log WHERE action = 'transition' "
                "AND entity_id = ANY(:ids)"
            ),
            {"ids": [str(i) for i in ids]},
        ).scalar_one()
    engine.dispose()
    expected = (
        ["reported", *(s for s, _, _ in STEPS)],
        ["", *(note or "" for _, note, _ in STEPS)],
    )
    wrong = [row for row in events if (list(row[1]), list(row[2])) != expected]
    assert len(events) == INCIDENTS and wrong == []  # every step once, in order, none doubled
    dispatched_to = [people[who] for status, _, who in STEPS if status == "dispatched"]
    for row in events:
        assert [
            a for a, s in zip(row[3], row[1], strict=True) if s == "dispatched"
        ] == dispatched_to
    assert {(status, version) for _, status, version in states} == {("closed", 1 + len(STEPS))}
    assert audited == INCIDENTS * len(STEPS)  # one audit row per step applied
