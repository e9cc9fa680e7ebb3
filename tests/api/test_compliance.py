"""Life-circle compliance on the sample city: the report's shares recomputed independently
from the stored per-kind distances, kinds without facilities at 0% with a note, one run per
set of inputs, and the facility-kinds table as data."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from data.compliance import list_kinds, remove_kind, run_data, set_kinds
from data.facility_kinds import FACILITY_KIND_SEED, Kind
from data.models import ComplianceResult, ComplianceRun

pytestmark = pytest.mark.postgis


def report(client: TestClient, by: str = "community") -> dict[str, Any]:
    answer = client.get("/api/v1/coverage/compliance", params={"by": by})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_kinds_are_seeded_from_the_standard(client: TestClient, session: Session) -> None:
    kinds = {k.kind: k for k in list_kinds(session=session)}
    assert set(kinds) == {k.kind for k in FACILITY_KIND_SEED}
    assert kinds["kindergarten"].minutes == 5 and kinds["kindergarten"].distance_m == 300
    assert kinds["primary_school"].minutes == 10 and kinds["market"].minutes == 10
    assert kinds["secondary_school"].minutes == 15 and kinds["health_centre"].minutes == 15
    listed = client.get("/api/v1/coverage/kinds").json()
    post = next(k for k in listed["kinds"] if k["kind"] == "post")
    assert post["distance_m"] is None and post["radius_m"] == 15 * 75


@pytest.mark.parametrize("by", ["community", "street", "grid"])
def test_shares_recomputed_from_the_distances(
    client: TestClient, session: Session, by: str
) -> None:
    body = report(client, by)
    data = run_data(session=session, run_id=body["run"])
    radius = {k["kind"]: k["radius_m"] for k in body["kinds"]}
    keys = {"community": data.community, "street": data.street, "grid": data.grid}[by]
    # independently, building by building, in plain Python
    total: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    inside: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for i, key in enumerate(keys.tolist()):
        if not key:
            continue
        h, p = float(data.households[i]), float(data.population[i])
        total[key] = [total[key][0] + 1, total[key][1] + h, total[key][2] + p]
        for k, kind in enumerate(data.kinds):
            if data.walk_m[k, i] <= radius[kind.kind]:
                t = inside[(key, kind.kind)]
                inside[(key, kind.kind)] = [t[0] + 1, t[1] + h, t[2] + p]
    assert [r["key"] for r in body["rows"]] == sorted(total)
    assert all(r["key"] for r in body["rows"])
    for row in body["rows"]:
        b, h, p = total[row["key"]]
        assert (row["buildings"], row["households"], row["population"]) == (b, round(h), round(p))
        for kind, figures in row["kinds"].items():
            ib, ih, ip = inside[(row["key"], kind)]
            assert figures["within_buildings"] == ib
            assert figures["within_households"] == round(ih)
            assert figures["pct_buildings"] == pytest.approx(100 * ib / b, abs=0.006)
            if h:
                assert figures["pct_households"] == pytest.approx(100 * ih / h, abs=0.006)
            else:
                assert figures["pct_households"] is None
            if p:
                assert figures["pct_population"] == pytest.approx(100 * ip / p, abs=0.006)
        shares = {
            kind: (f["pct_households"] if h else f["pct_buildings"])
            for kind, f in row["kinds"].items()
        }
        assert shares[row["weakest_kind"]] == min(shares.values())


def test_scores_and_the_distances_stored(client: TestClient, session: Session) -> None:
    body = report(client)
    data = run_data(session=session, run_id=body["run"])
    radius = np.array([k["radius_m"] for k in body["kinds"]])
    score = (data.walk_m <= radius[:, None]).sum(axis=0)
    assert [s["buildings"] for s in body["scores"]] == np.bincount(
        score, minlength=len(radius) + 1
    ).tolist()
    assert (
        body["totals"]["buildings"]
        == len(data.buildings.id)
        == sum(s["buildings"] for s in body["scores"])
    )
    homes = data.households.sum()
    assert body["totals"]["mean_score"] == pytest.approx(
        float((score * data.households).sum() / homes), abs=1e-3
    )
    rows = session.scalar(select(func.count()).where(ComplianceResult.run_id == body["run"]))
    assert rows == len(data.kinds) * len(data.buildings.id)
    # the nearest facility is one of the kind's stations
    kinds: dict[int, str] = dict(session.execute(text("SELECT id, kind FROM stations")).all())
    for k, kind in enumerate(data.kinds):
        reached = data.station_id[k][data.station_id[k] >= 0]
        assert {kinds[int(s)] for s in reached} <= set(kind.station_kinds)


def test_a_kind_without_facilities_is_zero_with_a_note(client: TestClient) -> None:
    body = report(client)
    missing = [k for k in body["kinds"] if k["facilities"] == 0]
    assert {"community_service", "elderly_day_care"} <= {k["kind"] for k in missing}
    for kind in missing:
        assert kind["note"] and any(n.startswith(kind["kind"]) for n in body["notes"])
        assert body["totals"]["kinds"][kind["kind"]]["pct_households"] == 0.0
        assert all(r["kinds"][kind["kind"]]["within_buildings"] == 0 for r in body["rows"])
    present = [k for k in body["kinds"] if k["facilities"] > 0]
    assert present and all(k["note"] is None for k in present)
    assert any(body["totals"]["kinds"][k["kind"]]["pct_households"] > 0 for k in present)


def test_one_run_per_inputs_and_kinds(client: TestClient, session: Session) -> None:
    first = report(client)["run"]
    assert report(client, "grid")["run"] == first
    assert session.scalar(select(func.count()).select_from(ComplianceRun)) == 1
    seed = next(k for k in list_kinds(session=session) if k.kind == "market")
    wider = Kind(**{**seed.__dict__, "distance_m": 2000.0})
    set_kinds(session=session, kinds=[wider], actor="test")
    session.commit()
    body = report(client)
    assert body["run"] != first
    assert next(k for k in body["kinds"] if k["kind"] == "market")["radius_m"] == 2000
    remove_kind(session=session, kind="post", actor="test")
    session.commit()
    assert "post" not in {k["kind"] for k in report(client)["kinds"]}
    assert session.scalar(select(func.count()).select_from(ComplianceRun)) == 1  # stale gone


def test_any_station_coverage_keeps_its_meaning(client: TestClient) -> None:
    """``coverage?minutes=`` still counts any station, whatever the facility kinds say."""
    any_station = client.get("/api/v1/coverage", params={"minutes": 15}).json()["totals"]
    best_kind = max(k["pct_households"] or 0 for k in report(client)["totals"]["kinds"].values())
    assert any_station["pct_households"] >= best_kind - 1e-6


# --- per-kind siting ------------------------------------------------------------------


def suggest(client: TestClient, key: str, **body: Any) -> dict[str, Any]:
    answer = client.post("/api/v1/coverage/suggest", json=body, headers={"X-API-Key": key})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_siting_per_facility_kind(client: TestClient, session: Session, admin_key: str) -> None:
    from data.coverage import load_stations
    from data.network import load_network
    from geo.compliance import nearest_by_kind

    body = report(client)
    totals = body["totals"]["kinds"]
    found = suggest(
        client, admin_key, facility_kind="kindergarten", count=3, candidate_set="buildings"
    )
    assert found["facility_kind"] == "kindergarten" and found["radius_m"] == 300
    assert found["households_covered_before"] == totals["kindergarten"]["within_households"]
    added = [s["households_added"] for s in found["sites"]]
    assert 1 <= len(added) <= 3 and added == sorted(added, reverse=True) and added[0] > 0
    assert found["households_covered_after"] == found["households_covered_before"] + sum(added)
    # independently: the first site as one more kindergarten brings in what it promised
    walk = load_network(session=session)
    assert walk is not None
    data = run_data(session=session, run_id=body["run"])
    stations = load_stations(session=session)
    site = np.array([[found["sites"][0]["lon"], found["sites"][0]["lat"]]])
    own = np.flatnonzero(np.isin(np.asarray(stations.kind, dtype=object), ["kindergarten"]))
    everything = np.vstack([stations.lonlat, site])
    with_site = [np.append(own, len(stations.id))]
    before = nearest_by_kind(walk, stations.lonlat, [own], data.buildings.lonlat)
    after = nearest_by_kind(walk, everything, with_site, data.buildings.lonlat)
    gained = data.households[(after.distance_m[0] <= 300) & (before.distance_m[0] > 300)].sum()
    assert gained == pytest.approx(added[0], abs=0.5)
    # a kind with no facility at all starts from nothing, never an error
    empty = suggest(client, admin_key, facility_kind="community_service", count=2)
    assert empty["facilities"] == 0 and empty["households_covered_before"] == 0
    assert empty["sites"] and empty["sites"][0]["households_added"] > 0


def test_siting_refusals(client: TestClient, admin_key: str, viewer_key: str) -> None:
    url, admin = "/api/v1/coverage/suggest", {"X-API-Key": admin_key}
    for body in (
        {"facility_kind": "nope"},
        {"facility_kind": "market", "kind": "market"},
        {"facility_kind": "market", "minutes": 10},
        {"facility_kind": "market", "candidate_set": "lots"},
    ):
        answer = client.post(url, json=body, headers=admin)
        assert answer.status_code == 422, (body, answer.text)
    viewer = {"X-API-Key": viewer_key}
    assert client.post(url, json={"facility_kind": "market"}, headers=viewer).status_code == 403
    assert client.post(url, json={"facility_kind": "market"}).status_code == 401
    plain = client.post(url, json={"count": 1, "candidate_set": "buildings"}, headers=admin)
    assert plain.status_code == 200 and "facility_kind" not in plain.json()
