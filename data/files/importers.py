"""Importers behind ``gridmap import …``: vector files (via pyogrio), OSM extracts, CSV.

Each importer works inside the caller's transaction, so a file that fails half-way leaves
the database unchanged. ``progress`` is called with the number of features just written;
``report`` (when given) with one line per thing worth telling the user: what was taken
from the file, merged parts, overlaps, what changed.

Modes. A grid import writes only the grids that differ from the current ones (an identical
file changes nothing); ``replace`` retires every current grid not in the file. Buildings and
stations go into an empty table as they are; into a table that has rows only with an
explicit mode: ``replace`` (the file becomes the whole table) or ``key`` (upsert by that
field, stored as ``source_id``: rows with a known key are updated when they differ, the
rest added, an identical file changes nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyrosm.exceptions import PBFException
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from data import grids as grid_repo
from data.db import CHUNK, Progress, bulk_insert
from data.errors import ImportFileError
from data.files.osm import osm_buildings, osm_stations
from data.files.vector import (
    field,
    osm_kind,
    points,
    polygons,
    read_vector,
    require_region,
    text_value,
)
from data.models import Building, Grid, Region, Station, ewkt
from geo.parts import describe_multipart, describe_overlaps, merge_parts, overlaps
from geo.region import Region as Box

Report = Callable[[str], None] | None
DEFAULT_REGION_MARGIN_M = 10_000.0


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


def _say(report: Report, line: str) -> None:
    if report:
        report(line)


def osm_xml_refusal(path: Path) -> ImportFileError:
    return ImportFileError(
        f"{path}: OpenStreetMap XML is not read here (its layers cannot be told apart "
        f"reliably); convert it to PBF first, e.g. `osmium cat {path.name} -o "
        f"{path.stem}.osm.pbf`, and import that"
    )


def _read_osm(path: str | Path, read: Callable[[Path], gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """``read(path)``, with a missing or unreadable extract as one ImportFileError line."""
    path = Path(path)
    if not path.exists():
        raise ImportFileError(f"{path}: no such file")
    try:
        return read(path)
    except (PBFException, ValueError) as exc:  # pyrosm on a corrupt extract, bad amenities
        raise ImportFileError(f"{path}: cannot import from the OSM extract ({exc})") from exc


def grid_region(*, session: Session, margin_m: float = DEFAULT_REGION_MARGIN_M) -> Box | None:
    """The current grids' extent grown by ``margin_m``; None before any grid exists."""
    row = session.execute(
        select(
            func.ST_XMin(func.ST_Extent(Grid.geom)),
            func.ST_YMin(func.ST_Extent(Grid.geom)),
            func.ST_XMax(func.ST_Extent(Grid.geom)),
            func.ST_YMax(func.ST_Extent(Grid.geom)),
        ).where(Grid.valid_to.is_(None))
    ).one()
    if row[0] is None:
        return None
    return Box.around(np.array(row, dtype=np.float64), margin_m)


def read_points_source(
    path: str | Path,
    *,
    osm: Callable[[Path], gpd.GeoDataFrame],
    what: str,
    crs: str | None,
    region: Box | None,
    report: Report = None,
) -> gpd.GeoDataFrame:
    """A file of features for point imports: an OSM extract (detected by its content, not
    its name) through ``osm``, anything else through ``read_vector``; says what it took."""
    path = Path(path)
    kind = osm_kind(path) if path.exists() else None
    if kind == "XML":
        raise osm_xml_refusal(path)
    if kind == "PBF":
        frame = _read_osm(path, osm)
        if region is not None and len(frame):
            require_region(frame.geometry, region, source=str(path), option="--crs")
        _say(report, f"{len(frame)} {what} from the OpenStreetMap extract {path.name}")
        return frame
    frame = read_vector(path, crs=crs, region=region)
    kinds = ", ".join(f"{n} {k}s" for k, n in frame.geometry.geom_type.value_counts().items())
    _say(report, f"{len(frame)} features of {path.name} ({kinds}) taken as {what}")
    return frame


def grid_codes(
    frame: gpd.GeoDataFrame,
    *,
    path: str | Path,
    code_field: str,
    code: str | None = None,
    code_from_filename: bool = False,
) -> list[str]:
    """Each feature's grid code: from ``code_field``, or one ``code`` (or the file's name)
    for every feature of a single-area file without attributes."""
    source = str(path)
    if code is not None and code_from_filename:
        raise ImportFileError(f"{source}: give --code or --code-from-filename, not both")
    if code is not None or code_from_filename:
        value = (code if code is not None else Path(path).name.split(".")[0]).strip()
        if not value:
            raise ImportFileError(f"{source}: the grid code is empty")
        return [value] * len(frame)
    if code_field not in frame.columns:
        fields = [c for c in frame.columns if c != frame.geometry.name]
        hint = (
            "the file has no attributes: name the area with --code VALUE or --code-from-filename"
            if not fields
            else f"fields: {', '.join(map(str, fields))}; choose one with --code-field"
        )
        raise ImportFileError(f"{source}: no field {code_field!r} ({hint})")
    return field(frame, code_field, source=source)


_GRID_ATTRS = ("name", "community", "households", "worker_name", "worker_phone")


def _current_rows(session: Session) -> dict[str, dict[str, Any]]:
    rows = session.execute(
        select(
            Grid.code,
            Grid.name,
            Grid.community,
            Grid.households,
            Grid.worker_name,
            Grid.worker_phone,
            func.ST_AsBinary(Grid.geom),
        ).where(Grid.valid_to.is_(None))
    ).all()
    return {
        r[0]: {**dict(zip(_GRID_ATTRS, r[1:6], strict=True)), "geom": shapely.from_wkb(bytes(r[6]))}
        for r in rows
    }


def _same_grid(new: dict[str, Any], old: dict[str, Any], *, households: bool) -> bool:
    attrs = [a for a in _GRID_ATTRS if households or a != "households"]
    return all(new[a] == old[a] for a in attrs) and bool(
        shapely.equals(grid_repo.as_multi(new["geom"]), old["geom"])
    )


def import_grids(
    *,
    session: Session,
    path: str | Path,
    code_field: str = "code",
    name_field: str | None = None,
    community_field: str | None = None,
    crs: str | None = None,
    code: str | None = None,
    code_from_filename: bool = False,
    author: str = "import",
    replace: bool = False,
    region: Box | None = None,
    progress: Progress = None,
    report: Report = None,
) -> int:
    """Load grid polygons; returns how many grids were written (new or changed).

    Features sharing a code are parts of one grid (merged into a MultiPolygon). Only grids
    that differ from their current version are written, as a new grid version (history
    kept); with ``replace`` every current grid not in the file is retired too, so the file
    becomes the whole city. An identical file writes nothing. Overlapping grids are
    reported (not refused). ``region`` (a configured one) refuses files outside it.
    """
    frame = read_vector(path, crs=crs, region=region)
    source = str(path)
    codes = grid_codes(
        frame, path=path, code_field=code_field, code=code, code_from_filename=code_from_filename
    )
    geoms = polygons(frame, labels=[f"{code_field}={c}" for c in codes], source=source)
    merged = merge_parts(geoms, codes)
    if merged.multipart:
        _say(report, describe_multipart(merged.multipart, field=repr(code_field)))
    if found := overlaps(merged.geoms, merged.codes):
        _say(report, describe_overlaps(found))
    frame = frame.iloc[merged.first_row]
    codes = merged.codes.tolist()
    names = field(frame, name_field, source=source) if name_field else codes
    communities = (
        field(frame, community_field, source=source)
        if community_field
        else _optional(frame, "community")
    )
    has_households = "households" in frame.columns
    rows = [
        {
            "code": c,
            "name": name,
            "community": None if community is None else text_value(community),
            "geom": geom,
            "households": _int_or(hh, 0),
            "worker_name": worker,
            "worker_phone": None if phone is None else text_value(phone),
        }
        for c, name, community, geom, hh, worker, phone in zip(
            codes,
            names,
            communities,
            merged.geoms,
            _optional(frame, "households", 0),
            _optional(frame, "worker_name"),
            _optional(frame, "worker_phone"),
            strict=True,
        )
    ]
    current = _current_rows(session)
    changed = [
        r
        for r in rows
        if r["code"] not in current
        or not _same_grid(r, current[r["code"]], households=has_households)
    ]
    gone = sorted(set(current) - set(codes)) if replace else []
    new = sum(r["code"] not in current for r in changed)
    _say(
        report,
        f"{len(rows)} grids in the file: {new} new, {len(changed) - new} changed, "
        f"{len(rows) - len(changed)} unchanged" + (f", {len(gone)} retired" if gone else ""),
    )
    if not changed and not gone:
        return 0
    version = grid_repo.new_version(
        session=session, author=author, reason=f"import {Path(path).name}"
    )
    grid_repo.retire(session=session, codes=[r["code"] for r in changed] + gone)
    for start in range(0, len(changed), CHUNK):
        chunk = changed[start : start + CHUNK]
        grid_repo.insert_grids(session=session, rows=chunk, version=version)
        if progress:
            progress(len(chunk))
    grid_repo.reassign_buildings(session=session, households=not has_households)
    return len(changed)


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


def _store_points(
    *,
    session: Session,
    model: type[Building] | type[Station],
    rows: list[dict[str, Any]],
    what: str,
    path: str | Path,
    replace: bool,
    key: str | None,
    progress: Progress,
    report: Report,
) -> int:
    """Write point rows (``point`` a shapely Point) by the import mode; returns how many
    rows were inserted or updated (module doc)."""
    existing = session.execute(select(func.count()).select_from(model)).scalar_one()
    if replace:
        session.execute(delete(model))
        _say(report, f"replaced {existing} {what} with the file's {len(rows)}")
        return bulk_insert(session, model, [_geom_row(r) for r in rows], progress)
    if key is None:
        if existing:
            raise ImportFileError(
                f"{path}: the database already holds {existing} {what}; say --replace to "
                "replace them with the file, or --key FIELD to update the ones with the same "
                "FIELD value and add the rest"
            )
        return bulk_insert(session, model, [_geom_row(r) for r in rows], progress)
    keys = pd.Series([r["source_id"] for r in rows], dtype=object)
    if keys.isna().any():
        raise ImportFileError(
            f"{path}: feature {int(keys.isna().to_numpy().argmax())} has no {key!r}"
        )
    if keys.duplicated().any():
        raise ImportFileError(f"{path}: {key!r} repeats {keys[keys.duplicated()].iloc[0]!r}")
    columns = [c for c in rows[0] if c not in ("point", "source_id")] if rows else []
    stored = {
        r[1]: r
        for r in session.execute(
            select(
                model.id,
                model.source_id,
                func.ST_X(model.geom),
                func.ST_Y(model.geom),
                *(getattr(model, c) for c in columns),
            ).where(model.source_id.in_(keys.tolist()))
        )
    }
    added, changed = [], []
    for r in rows:
        old = stored.get(r["source_id"])
        if old is None:
            added.append(_geom_row(r))
        elif (old[2], old[3], *old[4:]) != (r["point"].x, r["point"].y, *(r[c] for c in columns)):
            changed.append({"id": old[0], **_geom_row(r)})
    _say(
        report,
        f"{what} by {key!r}: {len(added)} new, {len(changed)} changed, "
        f"{len(rows) - len(added) - len(changed)} unchanged",
    )
    if changed:
        session.execute(update(model), changed)
    return bulk_insert(session, model, added, progress) + len(changed)


def _geom_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "point"}
    out["geom"] = ewkt(row["point"])
    return out


def _key_values(frame: pd.DataFrame, key: str | None, path: str | Path) -> list[Any]:
    if key is None:
        return [None if v is None else text_value(v) for v in _optional(frame, "source_id")]
    if key not in frame.columns:
        raise ImportFileError(
            f"{path}: no field {key!r} for --key (fields: {', '.join(map(str, frame.columns))})"
        )
    return [None if v is None else text_value(v) for v in _optional(frame, key)]


def import_buildings(
    *,
    session: Session,
    path: str | Path,
    name_field: str = "name",
    crs: str | None = None,
    replace: bool = False,
    key: str | None = None,
    region: Box | None = None,
    progress: Progress = None,
    report: Report = None,
) -> int:
    """Load buildings as points (polygons give their representative point) and assign
    each to its grid; returns how many were written. Optional fields: levels, households,
    population, source_id (or the ``key`` field).

    An OpenStreetMap ``.pbf`` extract (recognised by content) gives every OSM way or
    relation tagged building=* with its household estimate (``data.files.osm.osm_buildings``),
    keyed by ``source_id`` (``way/123``); OSM is WGS84, so ``crs`` does not apply to it.
    ``region`` defaults to the grids' extent plus 10 km (none before any grid exists);
    features outside it refuse the file.
    """
    frame = read_points_source(
        path,
        osm=osm_buildings,
        what="buildings (OSM ways and relations tagged building=*)"
        if osm_kind(Path(path)) == "PBF"
        else "buildings",
        crs=crs,
        region=region or grid_region(session=session),
        report=report,
    )
    locations = points(frame, source=str(path))
    rows = [
        {
            "point": g,
            "name": None if n is None else str(n),
            "levels": _int_or(lv, None),
            "households": _int_or(hh, 0),
            "population": _int_or(pop, 0),
            "source_id": sid,
        }
        for g, n, lv, hh, pop, sid in zip(
            locations,
            _optional(frame, name_field),
            _optional(frame, "levels"),
            _optional(frame, "households", 0),
            _optional(frame, "population", 0),
            _key_values(frame, key, path),
            strict=True,
        )
    ]
    count = _store_points(
        session=session,
        model=Building,
        rows=rows,
        what="buildings",
        path=path,
        replace=replace,
        key=key,
        progress=progress,
        report=report,
    )
    if count or replace:
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
    replace: bool = False,
    key: str | None = None,
    region: Box | None = None,
    progress: Progress = None,
    report: Report = None,
) -> int:
    """Load service stations as points; ``level`` (5/10/15 minutes) defaults to 15.

    An OpenStreetMap ``.pbf`` extract gives its civic amenities classified by
    ``data.files.osm.osm_stations``, restricted to ``amenities`` when given (extracts only).
    Modes as for buildings (module doc). ``region`` defaults to the grids' extent plus
    10 km (none before any grid exists); features outside it refuse the file.
    """
    wanted = ", ".join(amenities) if amenities else "civic amenities"
    frame = read_points_source(
        path,
        osm=lambda p: osm_stations(p, amenities=amenities),
        what=f"stations (OSM nodes and ways tagged amenity=*: {wanted})",
        crs=crs,
        region=region or grid_region(session=session),
        report=report,
    )
    locations = points(frame, source=str(path))
    levels = [_int_or(v, 15) for v in _optional(frame, "level", 15)]
    bad = [i for i, v in enumerate(levels) if v not in (5, 10, 15)]
    if bad:
        raise ImportFileError(f"{path}: feature {bad[0]} has level {levels[bad[0]]}, not 5/10/15")
    rows = [
        {
            "point": g,
            "name": None if n is None else str(n),
            "kind": str(k),
            "level": lv,
            "source_id": sid,
        }
        for g, n, k, lv, sid in zip(
            locations,
            _optional(frame, name_field),
            _optional(frame, kind_field, "service"),
            levels,
            _key_values(frame, key, path),
            strict=True,
        )
    ]
    return _store_points(
        session=session,
        model=Station,
        rows=rows,
        what="stations",
        path=path,
        replace=replace,
        key=key,
        progress=progress,
        report=report,
    )


def import_incidents(**kwargs: Any) -> int:
    """Kept for callers of the old path: see ``data.files.incidents.import_incidents``."""
    from data.files.incidents import import_incidents as run

    return run(**kwargs)
