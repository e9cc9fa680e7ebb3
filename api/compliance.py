"""The life-circle compliance report (GB 50180-2018) from a stored compliance run: per group
(community, street or grid) and facility kind, the share of buildings, households and
population within the kind's circle, the mean score (kinds reached within their circles)
and the weakest kind. Shared by ``GET /api/v1/coverage/compliance``, ``gridmap coverage
compliance`` and the compliance map, so all show the same figures.

A kind with no facility at all is reported as 0% with a note, never as an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from data.compliance import ComplianceData, radii
from data.facility_kinds import Kind
from geo.compliance import (
    Compliance,
    compliance_by_group,
    score,
    within_circles,
)

By = Literal["community", "street", "grid"]
BY: tuple[By, ...] = ("community", "street", "grid")
NO_FACILITY = "没有此类设施 · no facility of this kind: 0% within the circle"
MEASURES = ("buildings", "households", "population")


@dataclass(frozen=True)
class Circles:
    """A run's per-building view: each kind's circle (metres) and who lies within it."""

    data: ComplianceData
    radius_m: NDArray[np.float64]
    within: NDArray[np.bool_]  # (kinds, buildings)

    @classmethod
    def of(cls, data: ComplianceData, *, speed_m_per_min: float) -> Circles:
        radius = radii(data.kinds, speed_m_per_min=speed_m_per_min)
        return cls(data, radius, within_circles(data.walk_m, radius))

    def groups(self, by: By | None) -> Compliance:
        keys = None if by is None else getattr(self.data, by)
        return compliance_by_group(
            self.within, keys, households=self.data.households, population=self.data.population
        )

    def score(self) -> NDArray[np.int64]:
        return score(self.within)

    def kind_entry(self, k: int) -> dict[str, Any]:
        kind: Kind = self.data.kinds[k]
        facilities = self.data.facilities.get(kind.kind, 0)
        return {
            **kind.as_dict(),
            "radius_m": float(self.radius_m[k]),
            "facilities": facilities,
            "note": None if facilities else NO_FACILITY,
        }


def group_rows(circles: Circles, table: Compliance) -> list[dict[str, Any]]:
    """One row per group: totals, mean score, weakest kind and the per-kind figures (the
    arithmetic in numpy, then one conversion to Python values per column)."""
    kinds = [k.kind for k in circles.data.kinds]
    none = np.array([not circles.data.facilities.get(k, 0) for k in kinds])[:, None]
    columns: list[list[list[Any]]] = []
    for what in MEASURES:
        part = getattr(table, f"within_{what}")
        whole = getattr(table, what)
        with np.errstate(invalid="ignore", divide="ignore"):
            pct = np.where(none, 0.0, np.round(100.0 * part / whole, 2)).astype(object)
        pct[:, whole <= 0] = None  # no denominator
        counts = part.astype(np.int64) if what == "buildings" else np.round(part).astype(np.int64)
        columns += [counts.T.tolist(), pct.T.tolist()]
    wb, pb, wh, ph, wp, pp = columns
    weakest = table.weakest().tolist()
    totals = zip(
        table.keys,
        table.buildings.astype(np.int64).tolist(),
        np.round(table.households).astype(np.int64).tolist(),
        np.round(table.population).astype(np.int64).tolist(),
        np.round(table.mean_score, 3).tolist(),
        weakest,
        strict=True,
    )
    return [
        {
            "key": key,
            "buildings": b,
            "households": h,
            "population": p,
            "mean_score": score,
            "weakest_kind": kinds[w] if w >= 0 else None,
            "kinds": {
                kind: {
                    "within_buildings": x1,
                    "pct_buildings": x2,
                    "within_households": x3,
                    "pct_households": x4,
                    "within_population": x5,
                    "pct_population": x6,
                }
                for kind, x1, x2, x3, x4, x5, x6 in zip(
                    kinds, wb[g], pb[g], wh[g], ph[g], wp[g], pp[g], strict=True
                )
            },
        }
        for g, (key, b, h, p, score, w) in enumerate(totals)
    ]


def compliance_report(data: ComplianceData, *, by: By, speed_m_per_min: float) -> dict[str, Any]:
    """The report as the API answers it (module doc)."""
    circles = Circles.of(data, speed_m_per_min=speed_m_per_min)
    totals = group_rows(circles, circles.groups(None))[0] if len(data.buildings.id) else None
    points = circles.score()
    hist = np.bincount(points, minlength=len(data.kinds) + 1)
    homes = np.bincount(points, weights=data.households, minlength=len(data.kinds) + 1)
    if totals is not None:
        totals.pop("key")
    return {
        "by": by,
        "run": data.run_id,
        "speed_m_per_min": speed_m_per_min,
        "kinds": [circles.kind_entry(k) for k in range(len(data.kinds))],
        "totals": totals,
        "scores": [
            {"score": s, "buildings": int(hist[s]), "households": round(float(homes[s]))}
            for s in range(len(hist))
        ],
        "rows": [r for r in group_rows(circles, circles.groups(by)) if r["key"]],
        "notes": [
            f"{k.kind}: {NO_FACILITY}" for k in data.kinds if not data.facilities.get(k.kind)
        ],
    }


def flat_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report as one row per (group, kind), for CSV and Excel (totals first, key "")."""
    kinds = {k["kind"]: k for k in report["kinds"]}
    groups = ([{"key": "", **report["totals"]}] if report["totals"] else []) + report["rows"]
    out = []
    for row in groups:
        for name, figures in row["kinds"].items():
            kind = kinds[name]
            out.append(
                {
                    report["by"]: row["key"] or "(all)",
                    "kind": name,
                    "name_zh": kind["name_zh"],
                    "name_en": kind["name_en"],
                    "minutes": kind["minutes"],
                    "radius_m": kind["radius_m"],
                    "facilities": kind["facilities"],
                    "buildings": row["buildings"],
                    "households": row["households"],
                    "population": row["population"],
                    **figures,
                    "mean_score": row["mean_score"],
                    "weakest_kind": row["weakest_kind"],
                    "note": kind["note"] or "",
                }
            )
    return out
