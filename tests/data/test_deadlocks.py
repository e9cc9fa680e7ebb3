"""Two transactions that lock in opposite orders form a deadlock; PostgreSQL aborts one, and
``retry_deadlocks`` runs the victim again, so both complete (as an incident filed while a
redraw takes the grids' locks does)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from data.db import retry_deadlocks

pytestmark = pytest.mark.postgis


def test_the_victim_of_a_deadlock_goes_again(engine: Engine) -> None:
    barrier = threading.Barrier(2, timeout=30)
    attempts: list[str] = []
    done: list[str] = []
    errors: list[BaseException] = []

    def worker(name: str, first: int, second: int) -> None:
        with Session(engine) as session:

            def work() -> None:
                attempts.append(name)
                session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": first})
                if len(attempts) <= 2:
                    barrier.wait()  # both hold their first lock: the cycle closes
                session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": second})
                session.commit()

            try:
                retry_deadlocks(session, work)
                done.append(name)
            except BaseException as exc:
                errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=("a", 914_001, 914_002)),
        threading.Thread(target=worker, args=("b", 914_002, 914_001)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and sorted(done) == ["a", "b"]
    assert len(attempts) == 3  # one of them was the victim and went once more
