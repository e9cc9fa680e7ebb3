"""Facility kinds as a CSV file (UTF-8, a BOM allowed): what ``gridmap coverage kinds export``
writes and ``import`` and the offline ``gridmap coverage --compliance --kinds FILE`` read.

Columns: ``kind, name_zh, name_en, minutes, distance_m, station_kinds``; ``distance_m`` may be
empty (the circle is then minutes × walking speed), ``station_kinds`` lists station kinds
separated by ``;``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from data.errors import ImportFileError, RuleError
from data.facility_kinds import Kind

COLUMNS = ("kind", "name_zh", "name_en", "minutes", "distance_m", "station_kinds")
MAX_KINDS = 200


def read_kinds_csv(path: str | Path) -> list[Kind]:
    """The kinds of a CSV file; ImportFileError naming the file and line of any problem."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            reader = csv.DictReader(file)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ImportFileError(f"{path}: missing columns {', '.join(missing)}")
            kinds = [_kind(row, f"{path}, line {reader.line_num}") for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ImportFileError(f"{path}: cannot read ({exc})") from exc
    if not kinds:
        raise ImportFileError(f"{path}: no facility kinds")
    if len(kinds) > MAX_KINDS:
        raise ImportFileError(f"{path}: more than {MAX_KINDS} facility kinds")
    names = [k.kind for k in kinds]
    if len(set(names)) != len(names):
        raise ImportFileError(f"{path}: a facility kind is named twice")
    return kinds


def _kind(row: dict[str, str | None], where: str) -> Kind:
    def cell(name: str) -> str:
        return (row.get(name) or "").strip()

    try:
        distance = cell("distance_m")
        return Kind(
            kind=cell("kind"),
            name_zh=cell("name_zh"),
            name_en=cell("name_en"),
            minutes=int(cell("minutes")),
            distance_m=float(distance) if distance else None,
            station_kinds=tuple(s.strip() for s in cell("station_kinds").split(";") if s.strip()),
        ).checked()
    except ValueError as exc:
        raise ImportFileError(f"{where}: minutes and distance_m must be numbers ({exc})") from exc
    except RuleError as exc:
        raise ImportFileError(f"{where}: {exc}") from exc


def write_kinds_csv(kinds: Sequence[Kind], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        for k in kinds:
            writer.writerow(
                [
                    k.kind,
                    k.name_zh,
                    k.name_en,
                    k.minutes,
                    "" if k.distance_m is None else f"{k.distance_m:g}",
                    ";".join(k.station_kinds),
                ]
            )
