"""Incident CSVs that carry their history keep status, times and steps (history import)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from data.errors import ImportFileError
from data.files.importers import import_incidents
from data.lifecycle import DEFAULT_DEADLINE_HOURS
from data.people import workers_by_grid
from tests.api.test_hostile import checksum

pytestmark = pytest.mark.postgis

DEADLINES: dict[str, timedelta] = {p: timedelta(hours=h) for p, h in DEFAULT_DEADLINE_HOURS.items()}


def _place(session: Session) -> tuple[float, float, str]:
    lon, lat, code = session.execute(
        text("SELECT ST_X(geom), ST_Y(geom), grid_code FROM buildings WHERE grid_code IS NOT NULL "
             "ORDER BY id LIMIT 1")
    ).one()  # fmt: skip
    return float(lon), float(lat), str(code)


def test_statuses_times_and_events_are_kept(session: Session, tmp_path: Path) -> None:
    lon, lat, code = _place(session)
    reopened = json.dumps(
        [
            {"status": "accepted", "at": "2025-12-01T09:00:00+08:00"},
            {"status": "dispatched", "at": "2025-12-01T09:30:00+08:00"},
            {"status": "resolved", "at": "2025-12-02T10:00:00+08:00"},
            {"status": "dispatched", "at": "2025-12-02T12:00:00+08:00", "note": "复核未通过"},
            {"status": "resolved", "at": "2025-12-03T10:00:00+08:00"},
            {"status": "closed", "at": "2025-12-03T18:00:00+08:00"},
        ]
    )
    quoted = reopened.replace('"', '""')
    path = tmp_path / "orders.csv"
    path.write_text(
        "lon,lat,category,priority,reported_at,status,accepted_at,dispatched_at,resolved_at,"
        "closed_at,events\n"
        f'{lon},{lat},E01,complex,2025-12-01T08:00:00+08:00,,,,,,"{quoted}"\n'
        f"{lon},{lat},C02,routine,2025-12-05T08:00:00+08:00,closed,2025-12-05T08:10:00+08:00,"
        "2025-12-05T08:20:00+08:00,,2025-12-07T08:00:00+08:00,\n"
        f"{lon},{lat},G01,routine,2025-12-06T08:00:00+08:00,dispatched,,,,,\n"
        f"{lon},{lat},G02,routine,2025-12-06T08:00:00+08:00,rejected,,,,,\n",
        encoding="utf-8",
    )
    assert import_incidents(session=session, path=path, deadlines=DEADLINES) == 4
    rows = session.execute(
        text("SELECT id, category, status, closed_at, assignee, version FROM incidents ORDER BY id")
    ).all()
    worker = workers_by_grid(session=session)[code]
    assert [(r.category, r.status) for r in rows] == [
        ("E01", "closed"), ("C02", "closed"), ("G01", "dispatched"), ("G02", "rejected"),
    ]  # fmt: skip
    assert rows[0].closed_at.isoformat().startswith("2025-12-03T10:00:00")  # in UTC
    assert rows[1].closed_at.isoformat().startswith("2025-12-07T00:00:00")
    assert rows[0].assignee == rows[1].assignee == rows[2].assignee == worker
    assert rows[3].assignee is None and rows[0].version == 7
    events = session.execute(
        text("SELECT from_status, to_status, note, at FROM incident_events "
             "WHERE incident_id = :i ORDER BY at, id"), {"i": rows[0].id}
    ).all()  # fmt: skip
    assert [(e.from_status, e.to_status) for e in events][3:5] == [
        ("dispatched", "resolved"),
        ("resolved", "dispatched"),
    ]
    assert events[4].note == "复核未通过"
    # resolved_at missing: the step takes the previous step's time
    second = session.execute(
        text("SELECT to_status, at FROM incident_events WHERE incident_id = :i ORDER BY at, id"),
        {"i": rows[1].id},
    ).all()
    assert [e.to_status for e in second] == ["reported", "accepted", "dispatched", "resolved",
                                             "closed"]  # fmt: skip
    assert second[3].at == second[2].at


@pytest.mark.parametrize(
    ("columns", "good", "bad", "message"),
    [
        ("status", "accepted", "done", "status 'done'"),
        ("events", "", '"[{""status"": ""closed"", ""at"": ""2025-12-02""}]"', "reported → closed"),
        ("events", "", '"[{""status"": ""accepted"", ""at"": ""2025-11-02""}]"', "comes before"),
        ("events", "", "not json", "JSON list"),
        ("status,closed_at", "accepted,", "closed,yesterday", "not a time"),
    ],
)
def test_a_bad_history_rejects_the_file(
    session: Session, tmp_path: Path, columns: str, good: str, bad: str, message: str
) -> None:
    lon, lat, _ = _place(session)
    path = tmp_path / "bad.csv"
    row = f"{lon},{lat},E01,2025-12-01T08:00:00+08:00"
    path.write_text(
        f"lon,lat,category,reported_at,{columns}\n{row},{good}\n{row},{bad}\n", encoding="utf-8"
    )
    before = checksum(session)
    with pytest.raises(ImportFileError, match=message) as caught, session.begin_nested():
        import_incidents(session=session, path=path, deadlines=DEADLINES, strict=True)
    assert "line 3" in str(caught.value)
    assert checksum(session) == before
