"""Bulk intake of incident reports from a CSV (or a GeoJSON/GPKG file of points): the job
behind ``gridmap import incidents``.

Rows without usable coordinates (blank, not numbers, not lon/lat degrees, outside the
region), with an unreadable time, or whose ``client_id`` is known with another body are
*rejected*: named by their file line number (CSV; the header is line 1) or feature number,
written to a rejects CSV when asked, and the rest imported. ``strict`` turns the first
rejected row into a refusal of the whole file. A file where most rows are not lon/lat
degrees (projected coordinates) is refused as a whole, suggesting ``--crs``.

Times without a zone are wall-clock times in ``timezone`` (the GRIDMAP_TIMEZONE setting);
stored times are UTC. An ``id_col`` becomes each report's ``client_id``, so importing the
same file again adds nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data import grids as grid_repo
from data.db import CHUNK, Progress
from data.errors import ImportFileError
from data.files.history import HISTORY_COLUMNS, row_steps
from data.files.importers import Report, grid_region, osm_xml_refusal
from data.files.vector import osm_kind, points_to_lonlat, read_vector, require_mostly_lonlat
from data.incidents import NewIncident, PastStep, insert_history, insert_many
from data.lifecycle import PRIORITIES
from data.models import Incident
from data.people import workers_by_grid
from geo.locate import GridIndex
from geo.region import Region

VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb")


@dataclass(frozen=True)
class Columns:
    """Which input columns hold what (CSV column or vector field names)."""

    lon: str = "lon"
    lat: str = "lat"
    category: str = "category"
    description: str = "description"
    time: str = "reported_at"
    priority: str = "priority"
    id: str | None = None


@dataclass
class _Row:
    where: str  # "line 7" or "feature 3"
    values: dict[str, str]


def _csv_rows(path: Path, columns: Columns) -> tuple[list[str], Iterator[_Row]]:
    """The header and the rows of a UTF-8 CSV, each with the line it starts on."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
        reader = csv.reader(handle)
        header = next(reader, None)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ImportFileError(f"{path}: not a usable CSV ({exc})") from exc
    if not header:
        raise ImportFileError(f"{path}: empty file")
    for col in (columns.lon, columns.lat):
        if col not in header:
            raise ImportFileError(
                f"{path}: no column {col!r} (columns: {', '.join(header)}); "
                "name them with --lon-col and --lat-col"
            )

    def rows() -> Iterator[_Row]:
        with handle:
            start = reader.line_num + 1
            try:
                for record in reader:
                    if any(cell.strip() for cell in record):
                        values = dict(zip(header, record, strict=False))
                        yield _Row(f"line {start}", values)
                    start = reader.line_num + 1
            except (UnicodeDecodeError, csv.Error) as exc:
                raise ImportFileError(f"{path}: line {start}: not a usable CSV ({exc})") from exc

    return header, rows()


def _vector_rows(path: Path, columns: Columns, crs: str | None) -> tuple[list[str], Iterator[_Row]]:
    """Point features as rows whose lon/lat come from the geometry (already WGS84)."""
    frame = read_vector(path, crs=crs)
    header = [str(c) for c in frame.columns if c != frame.geometry.name]
    geoms = frame.geometry

    def rows() -> Iterator[_Row]:
        for k, (geom, record) in enumerate(
            zip(geoms, frame[header].itertuples(index=False, name=None), strict=True)
        ):
            values = {h: "" if pd.isna(v) else str(v) for h, v in zip(header, record, strict=True)}
            ok = geom is not None and not geom.is_empty
            point = (
                geom
                if ok and geom.geom_type == "Point"
                else geom.representative_point()
                if ok
                else None
            )
            values[columns.lon] = "" if point is None else repr(point.x)
            values[columns.lat] = "" if point is None else repr(point.y)
            yield _Row(f"feature {k}", values)

    return header, rows()


def _number(text: str | None) -> float:
    try:
        return float((text or "").strip())
    except ValueError:
        return float("nan")


def _time(text: str, zone: ZoneInfo) -> datetime | None:
    """A UTC time; a naive one is wall-clock time in ``zone``. ValueError if unreadable."""
    when = pd.Timestamp(text.strip())
    if pd.isna(when):
        raise ValueError("not a time")
    stamp = when.to_pydatetime()
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=zone)
    return stamp.astimezone(UTC)


def import_incidents(
    *,
    session: Session,
    path: str | Path,
    deadlines: dict[str, timedelta],
    lon_col: str = "lon",
    lat_col: str = "lat",
    crs: str = "wgs84",
    tolerance_m: float = 50.0,
    category_col: str = "category",
    description_col: str = "description",
    time_col: str = "reported_at",
    id_col: str | None = None,
    timezone: str = "Asia/Shanghai",
    strict: bool = False,
    rejects: str | Path | None = None,
    region: Region | None = None,
    progress: Progress = None,
    report: Report = None,
) -> int:
    """Store each usable report with its grid (the point→grid rule); returns how many were
    stored. See the module doc for rejected rows, ``strict``, times and ``id_col``.
    ``region`` defaults to the current grids' extent plus 10 km."""
    path = Path(path)
    if not path.exists():
        raise ImportFileError(f"{path}: no such file")
    columns = Columns(lon_col, lat_col, category_col, description_col, time_col, "priority", id_col)
    zone = ZoneInfo(timezone)
    points_to_lonlat(np.empty(0), np.empty(0), crs)  # an unknown CRS fails before any work
    if osm_kind(path) == "XML":
        raise osm_xml_refusal(path)
    vector = path.suffix.lower() in VECTOR_SUFFIXES
    header, rows = (
        _vector_rows(path, columns, None if crs.lower() == "wgs84" else crs)
        if vector
        else _csv_rows(path, columns)
    )
    if id_col is not None and id_col not in header:
        raise ImportFileError(
            f"{path}: no column {id_col!r} for --id-col (columns: {', '.join(header)})"
        )
    grids = grid_repo.current_grids(session=session)
    index = (
        GridIndex([g.geom for g in grids], [g.code for g in grids], tolerance_m=tolerance_m)
        if grids
        else None
    )
    region = region or grid_region(session=session)
    now = datetime.now(UTC)
    rejected: list[tuple[_Row, str]] = []
    # last year's work orders: rows with ``events`` or ``status`` keep their history
    history = any(c in header for c in HISTORY_COLUMNS)
    workers = workers_by_grid(session=session) if history else {}
    steps_of: dict[int, list[PastStep]] = {}
    seen: set[str] = set()
    total = unchanged = 0
    all_rows = list(rows)
    _refuse_projected(path, all_rows, columns, crs, vector)
    for start in range(0, len(all_rows), CHUNK):
        chunk = all_rows[start : start + CHUNK]
        lon = np.array([_number(r.values.get(columns.lon)) for r in chunk])
        lat = np.array([_number(r.values.get(columns.lat)) for r in chunk])
        x, y = points_to_lonlat(lon, lat, "wgs84" if vector else crs)
        usable = ~np.isnan(x)
        inside = region.contains(x, y) if region is not None else usable
        found = index.locate(x, y).code_index if index is not None else np.full(lon.size, -1)
        new: list[NewIncident] = []
        origins: list[_Row] = []
        for k, row in enumerate(chunk):
            why = _problem(row, lon[k], lat[k], bool(usable[k]), bool(inside[k]), region)
            client_id = (row.values.get(id_col) or "").strip() or None if id_col else None
            if why is None and client_id is not None and client_id in seen:
                why = f"{id_col} {client_id!r} repeats an earlier row"
            when = None
            if why is None and (text := (row.values.get(columns.time) or "").strip()):
                try:
                    when = _time(text, zone)
                except (ValueError, OverflowError):
                    why = f"unreadable {columns.time} {text!r}"
            if why is not None:
                if strict:
                    raise ImportFileError(
                        f"{path}: {row.where}: {why}; nothing was imported (--strict)"
                    )
                rejected.append((row, why))
                continue
            grid_code = grids[int(found[k])].code if found[k] >= 0 else None
            steps: list[PastStep] = []
            if history:
                try:
                    steps = _past_steps(row, when, workers.get(grid_code or ""))
                except ImportFileError as exc:
                    if strict:
                        raise ImportFileError(
                            f"{path}: {exc}; nothing was imported (--strict)"
                        ) from None
                    rejected.append((row, str(exc).split(": ", 1)[-1]))
                    continue
            if client_id is not None:
                seen.add(client_id)
            priority = (row.values.get("priority") or "").strip()
            origins.append(row)
            incident = NewIncident(
                category=(row.values.get(columns.category) or "").strip() or "unspecified",
                description=row.values.get(columns.description) or "",
                lon=float(x[k]),
                lat=float(y[k]),
                grid_code=grid_code,
                priority=priority if priority in PRIORITIES else "routine",
                reported_at=when,
                client_id=client_id,
            )
            steps_of[id(incident)] = steps
            new.append(incident)
        new, same, clashes = _known(session, new, origins)
        unchanged += same
        for row, why in clashes:
            if strict:
                raise ImportFileError(
                    f"{path}: {row.where}: {why}; nothing was imported (--strict)"
                )
            rejected.append((row, why))
        if history:
            insert_history(
                session=session,
                rows=[(n, steps_of[id(n)]) for n in new],
                deadlines=deadlines,
                actor="import",
                now=now,
            )
        else:
            insert_many(session=session, rows=new, deadlines=deadlines, reporter="import", now=now)
        total += len(new)
        if progress:
            progress(len(chunk))
    line = f"{total} reports stored"
    if unchanged:
        line += f", {unchanged} already stored (same {id_col})"
    if rejected:
        first_row, first_why = rejected[0]
        line += f", {len(rejected)} rejected (first: {first_row.where}: {first_why})"
        if rejects is not None:
            _write_rejects(Path(rejects), header, rejected)
            line += f" → {rejects}"
    if report:
        report(line)
    return total


def _past_steps(row: _Row, when: datetime | None, worker: int | None) -> list[PastStep]:
    """A row's history (data/files/history.py); ImportFileError naming the row if unusable."""
    if when is None:
        raise ImportFileError(f"{row.where}: a report with a history needs its reported_at")
    values = {k: (v if v and v.strip() else None) for k, v in row.values.items()}
    return row_steps(values, reported=when, worker=worker, where=row.where)


def _problem(
    row: _Row, lon: float, lat: float, usable: bool, inside: bool, region: Region | None
) -> str | None:
    if np.isnan(lon) or np.isnan(lat):
        return "no usable coordinates"
    if not usable:
        return f"[{lon:g}, {lat:g}] are not lon/lat degrees"
    if not inside:
        return f"[{lon:g}, {lat:g}] lies outside the region {region}"
    return None


def _refuse_projected(
    path: Path, rows: list[_Row], columns: Columns, crs: str, vector: bool
) -> None:
    """A file whose rows mostly hold numbers that are not lon/lat in ``crs`` is refused."""
    if vector or not rows:
        return
    lon = np.array([_number(r.values.get(columns.lon)) for r in rows])
    lat = np.array([_number(r.values.get(columns.lat)) for r in rows])
    try:
        require_mostly_lonlat(lon, lat, points_to_lonlat(lon, lat, crs)[0], crs=crs)
    except ImportFileError as exc:
        raise ImportFileError(f"{path}: {exc}") from exc


def _known(
    session: Session,
    new: list[NewIncident],
    origins: list[_Row],
) -> tuple[list[NewIncident], int, list[tuple[_Row, str]]]:
    """Drop reports whose client_id is stored already: same body → unchanged, another body
    → a clash (rejected)."""
    ids = [n.client_id for n in new if n.client_id is not None]
    if not ids:
        return new, 0, []
    stored = {
        r[0]: r
        for r in session.execute(
            select(
                Incident.client_id,
                Incident.category,
                Incident.description,
                func.ST_X(Incident.geom),
                func.ST_Y(Incident.geom),
            ).where(Incident.client_id.in_(ids))
        )
    }
    keep, same, clashes = [], 0, []
    for n, row in zip(new, origins, strict=True):
        old = stored.get(n.client_id) if n.client_id is not None else None
        if old is None:
            keep.append(n)
        elif (old[1], old[2]) == (n.category, n.description) and (
            max(abs(old[3] - n.lon), abs(old[4] - n.lat)) < 1e-9
        ):
            same += 1
        else:
            clashes.append((row, f"client_id {n.client_id!r} is stored with another body"))
    return keep, same, clashes


def _write_rejects(path: Path, header: list[str], rejected: list[tuple[_Row, str]]) -> None:
    """The rejected rows as a CSV: where, why, then the input columns as given."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["where", "reason", *header])
    for row, why in rejected:
        writer.writerow([row.where, why, *(row.values.get(h, "") for h in header)])
    try:
        path.write_text(buffer.getvalue(), encoding="utf-8")
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot write the rejects ({exc})") from exc
