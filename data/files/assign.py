"""Offline point → grid assignment of a CSV, no database: the job behind ``gridmap assign``.

The CSV is streamed in chunks, so files larger than memory work; every input column is
copied through as text, untouched, and two columns are added: ``grid_code`` (empty when no
grid) and ``match`` (``inside``, ``boundary``, ``nearest``, or empty). A row whose lon/lat
is missing, unparsable, NaN/inf or out of range gets both empty rather than failing the run.
``assign_frame`` is the same step for one in-memory frame (a dask partition, for instance).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from data.errors import ImportFileError
from data.files.vector import (
    field,
    points_to_lonlat,
    polygons,
    read_vector,
    require_mostly_lonlat,
)
from geo.locate import GridIndex
from geo.parts import describe_multipart

VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb")

MATCH_LABELS = np.array(["", "inside", "boundary", "nearest"], dtype=object)  # by Match value


def load_index(
    grids_path: str | Path,
    *,
    code_field: str,
    tolerance_m: float = 50.0,
    crs: str | None = None,
    report: Callable[[str], None] | None = None,
) -> GridIndex:
    """Grid polygons from any vector file (reprojected to EPSG:4326 from the file's CRS or
    ``crs``, invalid ones repaired the same way as ``gridmap import grids``).

    Features sharing a code are parts of one grid (``geo.parts.merge_parts``; ``report``
    gets one line saying how many). Raises ``ImportFileError`` naming the file and feature
    for a missing code field, empty codes, features that are not (repairable) polygons and
    coordinates that are not lon/lat (suggesting ``--grids-crs``).
    """
    frame = read_vector(grids_path, crs=crs, crs_option="--grids-crs")
    source = str(grids_path)
    codes = field(frame, code_field, source=source)
    geoms = polygons(frame, labels=[f"{code_field}={c}" for c in codes], source=source)
    index = GridIndex(geoms, codes, tolerance_m=tolerance_m)
    if index.multipart and report:
        report(describe_multipart(index.multipart, field=repr(code_field)))
    return index


def _coordinates(values: pd.Series) -> NDArray[np.float64]:
    """Numbers from text; blanks and junk become NaN."""
    if not pd.api.types.is_numeric_dtype(values):
        values = values.astype(str).str.strip()
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _locate_rows(
    frame: pd.DataFrame, index: GridIndex, *, lon_col: str, lat_col: str, crs: str
) -> tuple[NDArray[np.object_], NDArray[np.object_], NDArray[np.bool_]]:
    """Grid code and match label per row, and which rows had usable coordinates."""
    for col in (lon_col, lat_col):
        if col not in frame.columns:
            columns = ", ".join(map(str, frame.columns))
            raise ImportFileError(f"no column {col!r} (columns: {columns})")
    x, y = points_to_lonlat(_coordinates(frame[lon_col]), _coordinates(frame[lat_col]), crs)
    usable = ~np.isnan(x)
    found = index.locate(x, y)
    codes = np.where(found.code_index >= 0, index.codes[found.code_index], "").astype(object)
    return codes, MATCH_LABELS[found.match], usable


def assign_frame(
    frame: pd.DataFrame, index: GridIndex, *, lon_col: str, lat_col: str, crs: str = "wgs84"
) -> pd.DataFrame:
    """``frame`` plus ``grid_code`` and ``match`` columns (replacing any of those names).

    A pure function of the frame and the index, so it runs unchanged inside
    ``dask.dataframe.map_partitions``; the index pickles, for distributed workers.
    """
    codes, labels, _ = _locate_rows(frame, index, lon_col=lon_col, lat_col=lat_col, crs=crs)
    return frame.assign(grid_code=codes, match=labels)


def assign_csv(
    in_path: str | Path,
    out_path: str | Path,
    *,
    grids_path: str | Path,
    code_field: str,
    lon_col: str,
    lat_col: str,
    crs: str = "wgs84",
    grids_crs: str | None = None,
    chunk_rows: int = 200_000,
    tolerance_m: float = 50.0,
    progress: Callable[[int], None] | None = None,
    report: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Write ``out_path``: ``in_path`` (UTF-8 CSV) with each row's grid; see the module doc.

    ``in_path`` may also be a GeoJSON/GPKG/Shapefile of points (in ``crs``, or its own CRS):
    its properties plus ``lon_col``/``lat_col`` (WGS84) are the input columns then.
    ``grids_crs`` names the grid file's CRS when it does not say it (or says it wrongly).
    ``progress`` is called after each chunk with the number of rows just written (it plugs
    into a rich progress bar's ``advance``). Returns row counts: ``rows``, one per match
    (``inside``, ``boundary``, ``nearest``, ``none``) and ``bad_coordinates`` (among none).
    """
    in_path, out_path = Path(in_path), Path(out_path)
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    if not in_path.exists():
        raise ImportFileError(f"{in_path}: no such file")
    points_to_lonlat(np.empty(0), np.empty(0), crs)  # an unknown CRS fails before any work
    if in_path.suffix.lower() in VECTOR_SUFFIXES:
        frame = _point_table(in_path, crs=crs, lon_col=lon_col, lat_col=lat_col)
        staged = _as_csv(frame, out_path)
        try:
            return assign_csv(
                staged,
                out_path,
                grids_path=grids_path,
                code_field=code_field,
                lon_col=lon_col,
                lat_col=lat_col,
                grids_crs=grids_crs,
                chunk_rows=chunk_rows,
                tolerance_m=tolerance_m,
                progress=progress,
                report=report,
            )
        finally:
            staged.unlink(missing_ok=True)
    index = load_index(
        grids_path, code_field=code_field, tolerance_m=tolerance_m, crs=grids_crs, report=report
    )
    options = {"lon_col": lon_col, "lat_col": lat_col, "crs": crs}
    counts = dict.fromkeys(("rows", "inside", "boundary", "nearest", "none", "bad_coordinates"), 0)
    try:
        header = pd.read_csv(in_path, nrows=0, dtype=str, encoding="utf-8-sig")
        _locate_rows(header, index, **options)  # a missing column fails before any output
        chunks = pd.read_csv(
            in_path, chunksize=chunk_rows, dtype=str, keep_default_na=False, encoding="utf-8-sig"
        )
        with out_path.open("w", encoding="utf-8", newline="") as out:
            header.assign(grid_code=[], match=[]).to_csv(out, index=False)
            for chunk in chunks:
                codes, labels, usable = _locate_rows(chunk, index, **options)
                if counts["rows"] == 0 and lon_col in chunk and lat_col in chunk:
                    x, y = _coordinates(chunk[lon_col]), _coordinates(chunk[lat_col])
                    require_mostly_lonlat(x, y, np.where(usable, 0.0, np.nan), crs=crs)
                chunk.assign(grid_code=codes, match=labels).to_csv(out, index=False, header=False)
                for label in ("inside", "boundary", "nearest"):
                    counts[label] += int((labels == label).sum())
                counts["none"] += int((labels == "").sum())
                counts["bad_coordinates"] += int((~usable).sum())
                counts["rows"] += len(chunk)
                if progress:
                    progress(len(chunk))
    except ImportFileError as exc:
        out_path.unlink(missing_ok=True)
        raise ImportFileError(f"{in_path}: {exc}") from exc
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        out_path.unlink(missing_ok=True)
        raise ImportFileError(f"{in_path}: not a usable CSV ({exc})") from exc
    return counts


def _point_table(path: Path, *, crs: str, lon_col: str, lat_col: str) -> pd.DataFrame:
    """A vector file of points as a table: its properties plus WGS84 lon/lat columns."""
    frame = read_vector(path, crs=None if crs.lower() == "wgs84" else crs)
    geoms = frame.geometry
    where = geoms.where(geoms.geom_type == "Point", geoms.representative_point())
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    table[lon_col] = where.x.map(repr)
    table[lat_col] = where.y.map(repr)
    return table


def _as_csv(table: pd.DataFrame, out_path: Path) -> Path:
    """``table`` written beside ``out_path`` as the CSV input of the streaming job."""
    staged = out_path.with_name(f".{out_path.name}.points.csv")
    table.to_csv(staged, index=False)
    return staged
