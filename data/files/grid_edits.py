"""The QGIS round trip: a community's grids written to a GeoPackage with each grid's ETag,
and an edited file read back as a redraw change set.

Reading the file back, per community in it: a feature whose ``code`` is current and whose
geometry or attributes differ is a change (with the ``etag`` it was exported with); a feature
without a code is a new grid; a current grid of the community missing from the file is
retired (with its current ETag: deleting a feature is the edit). Unchanged features are no
change at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from data.errors import ImportFileError, NotFoundError
from data.files.vector import read_vector
from data.grids import current_sql
from data.redraw import EDITABLE, Change

COLUMNS = ("code", "name", "community", *EDITABLE[1:], "households", "etag")

_GRIDS = f"""
    SELECT g.id, g.code, g.name, g.community, g.worker_name, g.worker_phone, g.households,
           g.geom
    FROM grids g WHERE {current_sql("g")} AND g.community = ANY(:communities) ORDER BY g.code
"""


def _current(session: Session, communities: list[str]) -> gpd.GeoDataFrame:
    frame = gpd.read_postgis(
        text(_GRIDS),
        session.connection(),
        geom_col="geom",
        params={"communities": communities},
    )
    frame["etag"] = [f'"g{i}"' for i in frame["id"]]
    return frame.drop(columns="id")


def export_grids(*, session: Session, community: str, path: Path) -> int:
    """Write ``community``'s current grids (WGS84, with ``etag``) to ``path``; returns count."""
    frame = _current(session, [community])
    if frame.empty:
        raise NotFoundError(f"community {community!r} has no current grids")
    frame = frame.rename_geometry("geometry")
    frame.to_file(path, engine="pyogrio", layer="grids")
    return len(frame)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return str(value).strip() or None


def _same_geometry(a: BaseGeometry, b: BaseGeometry) -> bool:
    return bool(shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), 0.0))


def changes_from_file(*, session: Session, path: Path) -> list[Change]:
    """The change set an edited export stands for (see the module docstring)."""
    frame = read_vector(path)
    missing = [c for c in ("code", "community", "etag") if c not in frame.columns]
    if missing:
        raise ImportFileError(f"{path}: no {', '.join(missing)} field (export it with gridmap)")
    communities = sorted({c for c in map(_text, frame["community"]) if c})
    if not communities:
        raise ImportFileError(f"{path}: no feature names its community")
    current = {row.code: row for row in _current(session, communities).itertuples()}
    changes: list[Change] = []
    seen: set[str] = set()
    for k, row in enumerate(frame.itertuples()):
        code, geom = _text(row.code), row.geometry
        props = {f: _text(getattr(row, f, None)) for f in EDITABLE if f in frame.columns}
        if code is None:
            community = _text(row.community)
            if community is None:
                raise ImportFileError(f"{path}: feature {k + 1} has neither code nor community")
            named = {f: v for f, v in props.items() if v is not None}
            changes.append(Change(code=None, community=community, geometry=geom, properties=named))
            continue
        if code in seen:
            raise ImportFileError(f"{path}: code {code} appears twice")
        seen.add(code)
        old = current.get(code)
        etag = _text(row.etag)
        if old is None:  # retired since the export, or never there: the commit decides
            changes.append(Change(code=code, etag=etag, geometry=geom, properties=props))
            continue
        diff = {
            f: v
            for f, v in props.items()
            if v != _text(getattr(old, f)) and not (f == "name" and v is None)
        }
        moved = geom is None or not _same_geometry(geom, old.geom)
        if diff or moved:
            changes.append(
                Change(code=code, etag=etag, geometry=geom if moved else None, properties=diff)
            )
    for code, old in current.items():
        if code not in seen:
            changes.append(Change(code=code, etag=old.etag, retire=True))
    return changes
