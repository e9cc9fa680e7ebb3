"""15-minute service circles: coverage figures, isochrones, gaps and station siting."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import shapely
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.caches import Lru
from api.coverage_service import MAX_CANDIDATES, covered_run, default_candidates, stored_network
from api.deps import Admin, SessionDep, SettingsDep
from api.geojson import GEOJSON_OK, collection, feature, geojson_response
from api.schemas.points import JsonLat, JsonLon
from data import coverage as repo
from geo.coverage import GroupCoverage, coverage_by_group, gaps_by_group, isochrones, suggest_sites

router = APIRouter(prefix="/api/v1/coverage", tags=["coverage"])

Minutes = Annotated[float, Query(gt=0, le=120, description="walking minutes")]
Kind = Annotated[str | None, Query(description="only stations of this kind")]


def _figures(group: GroupCoverage, key_name: str | None = None) -> dict[str, Any]:
    row = {
        "buildings": group.buildings,
        "covered_buildings": group.covered_buildings,
        "households": round(group.households),
        "covered_households": round(group.covered_households),
        "population": round(group.population),
        "covered_population": round(group.covered_population),
        "pct_buildings": group.pct_buildings,
        "pct_households": group.pct_households,
        "pct_population": group.pct_population,
    }
    return {key_name: group.key, **row} if key_name else row


def _round(pct: float | None) -> float | None:
    return None if pct is None else round(pct, 2)


@router.get("", summary="Buildings, households and people within walking minutes of a station")
def coverage(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    minutes: Minutes = 15,
    kind: Kind = None,
) -> dict[str, Any]:
    data, covered = covered_run(
        request.app.state.network_cache, session, settings, kind=kind, minutes=minutes
    )
    weights = {"households": data.households, "population": data.population}
    return {
        "minutes": minutes,
        "kind": kind,
        "speed_m_per_min": settings.walk_speed_m_per_min,
        "distance_m": minutes * settings.walk_speed_m_per_min,
        "run": data.run_id,
        "totals": _figures(coverage_by_group(covered, **weights)[0]),
        "grids": [
            _figures(g, "code") for g in coverage_by_group(covered, data.grid, **weights) if g.key
        ],
        "communities": [
            _figures(g, "code")
            for g in coverage_by_group(covered, data.community, **weights)
            if g.key
        ],
    }


@router.get("/gaps", summary="Buildings beyond walking minutes of any station, by grid")
def gaps(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    minutes: Minutes = 15,
    kind: Kind = None,
) -> dict[str, Any]:
    data, covered = covered_run(
        request.app.state.network_cache, session, settings, kind=kind, minutes=minutes
    )
    grouped = gaps_by_group(covered, data.grid)
    b = data.buildings
    return {
        "minutes": minutes,
        "kind": kind,
        "uncovered_buildings": int((~covered).sum()),
        "grids": [
            {
                "code": code or None,
                "households": round(float(data.households[idx].sum())),
                "buildings": [
                    {
                        "id": int(b.id[i]),
                        "name": b.name[i],
                        "households": round(data.households[i]),
                        "walk_m": None
                        if not np.isfinite(data.walk_m[i])
                        else round(float(data.walk_m[i]), 1),
                        "lon": float(b.lonlat[i, 0]),
                        "lat": float(b.lonlat[i, 1]),
                    }
                    for i in idx
                ],
            }
            for code, idx in grouped.items()
        ],
    }


@router.get(
    "/isochrones", summary="Each station's walking area as GeoJSON polygons", responses=GEOJSON_OK
)
def station_isochrones(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    minutes: Minutes = 15,
    kind: Kind = None,
) -> Response:
    stations = repo.load_stations(session=session, kind=kind)
    walk = stored_network(request.app.state.network_cache, session)
    inputs = repo.inputs_state(session=session)
    key = (
        inputs["stations"],
        inputs["network_edges"],
        kind,
        minutes,
        settings.walk_speed_m_per_min,
        settings.max_access_m,
    )
    cache: Lru[Any] = request.app.state.isochrone_cache
    polygons = cache.get_or_make(
        key,
        lambda: (
            isochrones(
                walk,
                stations.lonlat,
                minutes=(minutes,),
                speed_m_per_min=settings.walk_speed_m_per_min,
                max_access_m=settings.max_access_m,
            )[:, 0]
            if len(stations.id)
            else []
        ),
    )
    features = (
        feature(
            _geojson(poly),
            {"station_id": int(sid), "name": name, "kind": k, "minutes": minutes},
            id_=int(sid),
        )
        for sid, name, k, poly in zip(
            stations.id, stations.name, stations.kind, polygons, strict=True
        )
        if not poly.is_empty
    )
    return geojson_response(collection(features, minutes=minutes))


def _geojson(geom: Any) -> str:
    return str(shapely.to_geojson(shapely.set_precision(geom, 1e-7)))


class SuggestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    minutes: float = Field(default=15, gt=0, le=120)
    count: int = Field(default=3, ge=1, le=50)
    kind: str | None = None
    candidates: list[tuple[JsonLon, JsonLat]] | None = Field(
        default=None,
        max_length=MAX_CANDIDATES,
        description="candidate sites; default: network nodes, evenly thinned to 5,000",
    )


@router.post("/suggest", summary="Greedy siting: new stations that cover the most households")
def suggest(
    body: SuggestCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _: Admin,
) -> dict[str, Any]:
    walk = stored_network(request.app.state.network_cache, session)
    data, covered = covered_run(
        request.app.state.network_cache, session, settings, kind=body.kind, minutes=body.minutes
    )
    stations = repo.load_stations(session=session, kind=body.kind)
    if body.candidates is not None:
        candidates = np.asarray(body.candidates, dtype=np.float64).reshape(-1, 2)
    else:
        candidates = default_candidates(walk)
    siting = suggest_sites(
        walk,
        stations.lonlat,
        data.buildings.lonlat,
        data.households,
        candidates,
        minutes=body.minutes,
        count=body.count,
        speed_m_per_min=settings.walk_speed_m_per_min,
        max_access_m=settings.max_access_m,
    )
    before = float(data.households[covered].sum())
    added = [float(a) for a in siting.added_households]
    return {
        "minutes": body.minutes,
        "kind": body.kind,
        "households_covered_before": round(before),
        "households_covered_after": round(before + sum(added)),
        "households_total": round(float(data.households.sum())),
        "sites": [
            {
                "rank": rank + 1,
                "lon": float(candidates[c, 0]),
                "lat": float(candidates[c, 1]),
                "households_added": round(a),
            }
            for rank, (c, a) in enumerate(zip(siting.candidate, added, strict=True))
        ],
    }
