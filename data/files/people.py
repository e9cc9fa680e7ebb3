"""Workers from a CSV file (``gridmap people import``): one person per row.

Columns: ``name`` (required), ``phone``, ``role`` (worker, street, department, handler;
default worker) and ``grids`` (the grid codes they look after, separated by ``;``).
"""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy.orm import Session

from data.errors import ImportFileError, UnknownValueError
from data.people import create_person


def import_people(*, session: Session, path: str | Path) -> list[int]:
    """Store every row as a person in the caller's transaction; returns the new ids."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ImportFileError(f"{path}: {exc}") from None
    ids = []
    for number, row in enumerate(rows, start=2):
        name = (row.get("name") or "").strip()
        if not name:
            raise ImportFileError(f"{path}: line {number} has no name")
        grids = [g.strip() for g in (row.get("grids") or "").split(";") if g.strip()]
        try:
            ids.append(
                create_person(
                    session=session,
                    name=name,
                    phone=(row.get("phone") or "").strip() or None,
                    role=(row.get("role") or "").strip() or "worker",
                    grids=grids,
                )
            )
        except UnknownValueError as exc:
            raise ImportFileError(f"{path}: line {number}: {exc}") from None
    return ids
