"""15-minute service circles: coverage figures, isochrones, gaps and station siting."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import shapely
from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.compliance import By, compliance_report, radii
from api.coverage_service import MAX_CANDIDATES, Suggestion
from api.deps import Admin, CoverageDep, SessionDep, SettingsDep
from api.geojson import GEOJSON_OK, collection, feature, geojson_response
from api.schemas.fields import Code
from api.schemas.points import JsonLat, JsonLon
from data.compliance import list_kinds
from geo.groups import GroupCoverage, gaps_by_group

router = APIRouter(prefix="/api/v1/coverage", tags=["coverage"])

Minutes = Annotated[float, Query(gt=0, le=120, description="walking minutes")]
Kind = Annotated[Code | None, Query(description="only stations of this kind (unknown: 422)")]


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


@router.get("", summary="Buildings, households and people within walking minutes of a station")
def coverage(
    session: SessionDep,
    service: CoverageDep,
    settings: SettingsDep,
    minutes: Minutes = 15,
    kind: Kind = None,
) -> dict[str, Any]:
    covered = service.covered(session, kind=kind, minutes=minutes)
    return {
        "minutes": minutes,
        "kind": kind,
        "speed_m_per_min": settings.walk_speed_m_per_min,
        "distance_m": minutes * settings.walk_speed_m_per_min,
        "run": covered.data.run_id,
        "totals": _figures(covered.by(None)[0]),
        "grids": [_figures(g, "code") for g in covered.by(covered.data.grid)],
        "communities": [_figures(g, "code") for g in covered.by(covered.data.community)],
    }


@router.get(
    "/compliance",
    summary="Life-circle compliance (GB 50180-2018): shares within each facility kind's circle",
)
def compliance(
    session: SessionDep,
    service: CoverageDep,
    settings: SettingsDep,
    by: Annotated[By, Query(description="group rows by community, street or grid")] = "community",
) -> JSONResponse:
    """Per group and facility kind: buildings, households and population within the kind's
    circle (its ``distance_m``, else minutes × walking speed), each group's mean score (kinds
    reached within their circles) and weakest kind. A kind with no facility is 0% with a
    note. The compliance run is computed once per set of inputs (409 before a network is
    imported)."""
    data = service.compliance(session)
    report = compliance_report(data, by=by, speed_m_per_min=settings.walk_speed_m_per_min)
    return JSONResponse(report)  # plain JSON values already: no per-value encoding pass


@router.get("/kinds", summary="The facility kinds and their life circles")
def facility_kinds(session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    speed = settings.walk_speed_m_per_min
    kinds = list_kinds(session=session)
    circles = radii(kinds, speed_m_per_min=speed)
    return {
        "speed_m_per_min": speed,
        "kinds": [
            {**k.as_dict(), "radius_m": float(r)} for k, r in zip(kinds, circles, strict=True)
        ],
    }


@router.get("/gaps", summary="Buildings beyond walking minutes of any station, by grid")
def gaps(
    session: SessionDep, service: CoverageDep, minutes: Minutes = 15, kind: Kind = None
) -> dict[str, Any]:
    run = service.covered(session, kind=kind, minutes=minutes)
    data, covered = run.data, run.covered
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
    session: SessionDep, service: CoverageDep, minutes: Minutes = 15, kind: Kind = None
) -> Response:
    stations, polygons = service.isochrones(session, kind=kind, levels=(minutes,))
    features = (
        feature(
            _geojson(poly),
            {"station_id": int(sid), "name": name, "kind": k, "minutes": minutes},
            id_=int(sid),
        )
        for sid, name, k, poly in zip(
            stations.id, stations.name, stations.kind, polygons[:, 0], strict=True
        )
        if not poly.is_empty
    )
    return geojson_response(collection(features, minutes=minutes))


def _geojson(geom: Any) -> str:
    return str(shapely.to_geojson(shapely.set_precision(geom, 1e-7)))


class SuggestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    minutes: float = Field(default=15, gt=0, le=120, strict=True)
    count: int = Field(default=3, ge=1, le=50, strict=True)
    kind: Code | None = None
    candidates: list[tuple[JsonLon, JsonLat]] | None = Field(
        default=None,
        max_length=MAX_CANDIDATES,
        description="candidate sites; default: see candidate_set",
    )
    facility_kind: Code | None = Field(
        default=None,
        description="site this facility kind (GB 50180 life circles; its circle replaces "
        "minutes): households brought into compliance for it",
    )
    candidate_set: Literal["network", "buildings"] = Field(
        default="network",
        description="without candidates: network nodes or buildings, evenly thinned to 5,000",
    )

    @model_validator(mode="after")
    def _one_circle(self) -> SuggestCreate:
        if self.facility_kind is not None and self.kind is not None:
            raise ValueError("give kind (a station kind) or facility_kind, not both")
        if self.facility_kind is not None and "minutes" in self.model_fields_set:
            raise ValueError("a facility kind's circle is its own: leave minutes out")
        return self


@router.post("/suggest", summary="Greedy siting: new stations that cover the most households")
def suggest(
    body: SuggestCreate, session: SessionDep, service: CoverageDep, _: Admin
) -> dict[str, Any]:
    """Up to ``count`` new sites, each adding the most households not yet within ``minutes``
    of a station (of ``kind``); with ``facility_kind``, within that kind's circle of its
    facilities: the households each proposal brings into compliance for it."""
    candidates = None
    if body.candidates is not None:
        candidates = np.asarray(body.candidates, dtype=np.float64).reshape(-1, 2)
    extra: dict[str, Any] = {}
    if body.facility_kind is not None:
        sited = service.suggest_for_kind(
            session,
            facility_kind=body.facility_kind,
            count=body.count,
            candidates=candidates,
            on_buildings=body.candidate_set == "buildings",
        )
        extra = {
            "facility_kind": body.facility_kind,
            "radius_m": sited.radius_m,
            "facilities": sited.facilities,
        }
        found: Suggestion = sited
    else:
        if candidates is None and body.candidate_set == "buildings":
            candidates = service.building_candidates(session)
        found = service.suggest(
            session, kind=body.kind, minutes=body.minutes, count=body.count, candidates=candidates
        )
    return {
        **extra,
        "minutes": None if body.facility_kind else body.minutes,
        "kind": body.kind,
        "households_covered_before": round(found.households_before),
        "households_covered_after": round(found.households_before + sum(found.added_households)),
        "households_total": round(found.households_total),
        "sites": [
            {
                "rank": rank + 1,
                "lon": float(lon),
                "lat": float(lat),
                "households_added": round(added),
            }
            for rank, ((lon, lat), added) in enumerate(
                zip(found.lonlat, found.added_households, strict=True)
            )
        ],
    }
