"""Importers behind ``gridmap import …``: vector files (via pyogrio), OSM extracts, CSV.

Each importer works inside the caller's transaction, so a file that fails half-way leaves
the database unchanged. ``progress`` is called with the number of features just written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from pyrosm.exceptions import PBFException
from sqlalchemy import delete
from sqlalchemy.orm import Session

from data import grids as grid_repo
from data.db import CHUNK, Progress, bulk_insert
from data.errors import ImportFileError
from data.files.history import has_history, row_steps
from data.files.osm import osm_buildings, osm_stations
from data.files.vector import field, points, polygons, read_vector
from data.incidents import NewIncident, PastStep, insert_history, insert_many
from data.lifecycle import PRIORITIES
from data.models import Building, Region, Station, ewkt
from data.people import workers_by_grid
from geo.crs import to_wgs84, validate_lonlat
from geo.errors import InvalidCoordinatesError
from geo.locate import GridIndex


def _optional(frame: pd.DataFrame, name: str | None, default: Any = None) -> list[Any]:
    """Column values as Python objects (None for missing), or ``default`` everywhere."""
    if name is None or name not in frame.columns:
        return [default] * len(frame)
    return [None if pd.isna(v) else v for v in frame[name].tolist()]


def _int_or(value: Any, default: int | None) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def _is_pbf(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".pbf"


def _read_osm(path: str | Path, read: Callable[[Path], gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """``read(path)``, with a missing or unreadable extract as one ImportFileError line."""
    path = Path(path)
    if not path.exists():
        raise ImportFileError(f"{path}: no such file")
    try:
        return read(path)
    except (PBFException, ValueError) as exc:  # pyrosm on a corrupt extract, bad amenities
        raise ImportFileError(f"{path}: cannot import from the OSM extract ({exc})") from exc


def import_grids(
    *,
    session: Session,
    path: str | Path,
    code_field: str = "code",
    name_field: str | None = None,
    community_field: str | None = None,
    crs: str | None = None,
    author: str = "import",
    replace: bool = False,
    progress: Progress = None,
) -> int:
    """Load grid polygons as a new grid version.

    Grids whose code is already current are superseded (history kept); with ``replace``
    every other current grid is retired too, so the file becomes the whole city.
    """
    frame = read_vector(path, crs=crs)
    source = str(path)
    codes = field(frame, code_field, source=source)
    duplicates = pd.Series(codes)[pd.Series(codes).duplicated()].unique().tolist()
    if duplicates:
        raise ImportFileError(f"{source}: duplicate codes {duplicates[:5]} in {code_field!r}")
    geoms = polygons(frame, labels=[f"{code_field}={c}" for c in codes], source=source)
    names = field(frame, name_field, source=source) if name_field else codes
    communities = (
        field(frame, community_field, source=source)
        if community_field
        else _optional(frame, "community")
    )
    has_households = "households" in frame.columns
    households = _optional(frame, "households", 0)
    version = grid_repo.new_version(
        session=session, author=author, reason=f"import {Path(path).name}"
    )
    grid_repo.retire(session=session, codes=None if replace else codes)
    rows = [
        {
            "code": code,
            "name": name,
            "community": community,
            "geom": geom,
            "households": _int_or(hh, 0),
            "worker_name": worker,
            "worker_phone": phone,
        }
        for code, name, community, geom, hh, worker, phone in zip(
            codes,
            names,
            communities,
            geoms,
            households,
            _optional(frame, "worker_name"),
            _optional(frame, "worker_phone"),
            strict=True,
        )
    ]
    for start in range(0, len(rows), CHUNK):
        grid_repo.insert_grids(session=session, rows=rows[start : start + CHUNK], version=version)
        if progress:
            progress(len(rows[start : start + CHUNK]))
    grid_repo.reassign_buildings(session=session, households=not has_households)
    return len(rows)


def import_regions(*, session: Session, path: str | Path, crs: str | None = None) -> int:
    """Load district/street/community polygons (fields code, level, name, parent)."""
    frame = read_vector(path, crs=crs)
    source = str(path)
    codes = field(frame, "code", source=source)
    geoms = polygons(frame, labels=codes, source=source)
    rows = [
        {
            "code": c,
            "level": lv,
            "name": n,
            "parent": p,
            "geom": ewkt(grid_repo.as_multi(g)),
        }
        for c, lv, n, p, g in zip(
            codes,
            field(frame, "level", source=source),
            field(frame, "name", source=source),
            _optional(frame, "parent"),
            geoms,
            strict=True,
        )
    ]
    session.execute(delete(Region).where(Region.code.in_(codes)))
    return bulk_insert(session, Region, rows)


def import_buildings(
    *,
    session: Session,
    path: str | Path,
    name_field: str = "name",
    crs: str | None = None,
    progress: Progress = None,
) -> int:
    """Load buildings as points (polygons give their representative point) and assign
    each to its grid. Optional fields: levels, households, population, source_id.

    An ``.osm.pbf`` extract gives every OSM building with its household estimate
    (``data.files.osm.osm_buildings``); OSM is WGS84, so ``crs`` does not apply to it.
    """
    frame = _read_osm(path, osm_buildings) if _is_pbf(path) else read_vector(path, crs=crs)
    locations = points(frame, source=str(path))
    rows = [
        {
            "geom": g,
            "name": None if n is None else str(n),
            "levels": _int_or(lv, None),
            "households": _int_or(hh, 0),
            "population": _int_or(pop, 0),
            "source_id": None if sid is None else str(sid),
        }
        for g, n, lv, hh, pop, sid in zip(
            [ewkt(g) for g in locations],
            _optional(frame, name_field),
            _optional(frame, "levels"),
            _optional(frame, "households", 0),
            _optional(frame, "population", 0),
            _optional(frame, "source_id"),
            strict=True,
        )
    ]
    count = bulk_insert(session, Building, rows, progress)
    grid_repo.reassign_buildings(session=session)
    return count


def import_stations(
    *,
    session: Session,
    path: str | Path,
    name_field: str = "name",
    kind_field: str = "kind",
    crs: str | None = None,
    amenities: Sequence[str] | None = None,
    progress: Progress = None,
) -> int:
    """Load service stations as points; ``level`` (5/10/15 minutes) defaults to 15.

    An ``.osm.pbf`` extract gives its civic amenities classified by ``data.files.osm.osm_stations``,
    restricted to ``amenities`` when given; ``amenities`` applies to extracts only.
    """
    frame = (
        _read_osm(path, lambda p: osm_stations(p, amenities=amenities))
        if _is_pbf(path)
        else read_vector(path, crs=crs)
    )
    locations = points(frame, source=str(path))
    levels = [_int_or(v, 15) for v in _optional(frame, "level", 15)]
    bad = [i for i, v in enumerate(levels) if v not in (5, 10, 15)]
    if bad:
        raise ImportFileError(f"{path}: feature {bad[0]} has level {levels[bad[0]]}, not 5/10/15")
    rows = [
        {
            "geom": g,
            "name": None if n is None else str(n),
            "kind": str(k),
            "level": lv,
            "source_id": None if sid is None else str(sid),
        }
        for g, n, k, lv, sid in zip(
            [ewkt(g) for g in locations],
            _optional(frame, name_field),
            _optional(frame, kind_field, "service"),
            levels,
            _optional(frame, "source_id"),
            strict=True,
        )
    ]
    return bulk_insert(session, Station, rows, progress)


def import_incidents(
    *,
    session: Session,
    path: str | Path,
    deadlines: dict[str, timedelta],
    lon_col: str = "lon",
    lat_col: str = "lat",
    crs: str = "wgs84",
    tolerance_m: float = 50.0,
    progress: Progress = None,
) -> int:
    """Bulk intake of a CSV of reports: each row gets its grid by the point→grid rule.

    Columns ``category``, ``description``, ``priority`` and ``reported_at`` are used when
    present; ``events`` or ``status`` (with ``<status>_at`` times) keep each report's history
    (data/files/history.py). A row with unusable coordinates rejects the whole file, naming
    its line.
    """
    grids = grid_repo.current_grids(session=session)
    index = GridIndex([g.geom for g in grids], [g.code for g in grids], tolerance_m=tolerance_m)
    now = datetime.now(UTC)
    total = 0
    try:
        chunks = pd.read_csv(path, chunksize=CHUNK, dtype={lon_col: "float64", lat_col: "float64"})
        for number, chunk in enumerate(chunks):
            for col in (lon_col, lat_col):
                if col not in chunk.columns:
                    raise ImportFileError(
                        f"{path}: no column {col!r} (columns: {', '.join(chunk.columns)})"
                    )
            lon = chunk[lon_col].to_numpy()
            lat = chunk[lat_col].to_numpy()
            try:
                validate_lonlat(lon, lat)
            except InvalidCoordinatesError as exc:
                first_line = number * CHUNK + 2  # header is line 1
                raise ImportFileError(
                    f"{path}: bad coordinates in the chunk from line {first_line}: {exc}"
                ) from exc
            lon, lat = to_wgs84(lon, lat, crs)
            found = index.locate(lon, lat).code_index
            rows = [
                NewIncident(
                    category=str(cat or "unspecified"),
                    description=str(desc or ""),
                    lon=float(x),
                    lat=float(y),
                    grid_code=grids[i].code if i >= 0 else None,
                    priority=pri if pri in PRIORITIES else "routine",
                    reported_at=None if when is None else pd.Timestamp(when).to_pydatetime(),
                )
                for x, y, i, cat, desc, pri, when in zip(
                    lon,
                    lat,
                    found,
                    _optional(chunk, "category"),
                    _optional(chunk, "description"),
                    _optional(chunk, "priority"),
                    _optional(chunk, "reported_at"),
                    strict=True,
                )
            ]
            if has_history(chunk):  # last year's work orders: status, times and steps kept
                histories = _histories(session, chunk, rows, first_line=number * CHUNK + 2)
                insert_history(
                    session=session, rows=histories, deadlines=deadlines, actor="import", now=now
                )
            else:
                insert_many(
                    session=session, rows=rows, deadlines=deadlines, reporter="import", now=now
                )
            total += len(rows)
            if progress:
                progress(len(rows))
    except (ValueError, pd.errors.ParserError) as exc:
        raise ImportFileError(f"{path}: not a usable CSV ({exc})") from exc
    return total


def _histories(
    session: Session, chunk: pd.DataFrame, rows: list[NewIncident], *, first_line: int
) -> list[tuple[NewIncident, list[PastStep]]]:
    """Each row of ``chunk`` with its past steps (data/files/history.py)."""
    workers = workers_by_grid(session=session)
    records = [
        {str(k): v for k, v in r.items()}
        for r in chunk.astype(object).where(chunk.notna(), None).to_dict("records")
    ]
    out = []
    for offset, (new, row) in enumerate(zip(rows, records, strict=True)):
        where = f"line {first_line + offset}"
        if new.reported_at is None:
            raise ImportFileError(f"{where}: a report with a history needs its reported_at")
        worker = workers.get(new.grid_code) if new.grid_code else None
        out.append((new, row_steps(row, reported=new.reported_at, worker=worker, where=where)))
    return out
