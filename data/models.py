"""The PostGIS schema as SQLAlchemy 2 / GeoAlchemy2 models (SRID 4326, GiST indexes).

Grids are temporal: a redraw never updates a grid row in place, it closes the old row
(``valid_to``) and inserts a new one, both tied to a ``grid_versions`` row saying who
changed what and why. The grids valid at time t are those with ``valid_from <= t`` and
``valid_to`` NULL or later; a redraw may take effect in the future, so "current" is a time
test (``current_sql``), not ``valid_to IS NULL``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from data.lifecycle import INITIAL, OPEN, PERSON_ROLES, PRIORITIES, STATUSES, sql_list

SRID = 4326


def ewkt(geom: BaseGeometry) -> str:
    """A shapely geometry as EWKT in our SRID, the form GeoAlchemy2 columns take on insert
    (shapely's WKT keeps every digit, so coordinates round-trip exactly)."""
    return f"SRID={SRID};{geom.wkt}"


_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def _geom(kind: str) -> Any:
    # spatial_index=False: the GiST indexes are declared explicitly so alembic sees them.
    return mapped_column(Geometry(kind, srid=SRID, spatial_index=False), nullable=False)


class Region(Base):
    """District (区), street (街道) or community (社区) polygon."""

    __tablename__ = "regions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    level: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text)
    parent: Mapped[str | None] = mapped_column(String(64))
    geom: Mapped[Any] = _geom("MULTIPOLYGON")
    __table_args__ = (
        CheckConstraint("level IN ('district', 'street', 'community')", name="level"),
        Index("ix_regions_geom", "geom", postgresql_using="gist"),
    )


class GridVersion(Base):
    """One change set of grid boundaries (an import or a redraw): it takes effect at
    ``valid_from``; ``region`` is where grids changed, and ``applied_at`` when buildings and
    open incidents there were reassigned (NULL: a future change still waiting)."""

    __tablename__ = "grid_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = _now()
    author: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    region: Mapped[Any] = mapped_column(
        Geometry("GEOMETRY", srid=SRID, spatial_index=False), nullable=True
    )
    __table_args__ = (
        Index(
            "ix_grid_versions_pending", "valid_from", postgresql_where=text("applied_at IS NULL")
        ),
    )


class Grid(Base):
    """A grid (网格) as valid from ``valid_from`` until ``valid_to`` (NULL: current)."""

    __tablename__ = "grids"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)
    community: Mapped[str | None] = mapped_column(String(64))
    geom: Mapped[Any] = _geom("MULTIPOLYGON")
    households: Mapped[int] = mapped_column(Integer, server_default="0")
    worker_name: Mapped[str | None] = mapped_column(Text)
    worker_phone: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(ForeignKey("grid_versions.id"))
    valid_from: Mapped[datetime] = _now()
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        Index("ix_grids_geom", "geom", postgresql_using="gist"),
        Index(
            "uq_grids_current_code", "code", unique=True, postgresql_where=text("valid_to IS NULL")
        ),
        Index("ix_grids_code_valid", "code", "valid_from"),
        Index("ix_grids_valid_to", "valid_to"),
    )


class Building(Base):
    __tablename__ = "buildings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    geom: Mapped[Any] = _geom("POINT")
    name: Mapped[str | None] = mapped_column(Text)
    levels: Mapped[int | None] = mapped_column(Integer)
    households: Mapped[int] = mapped_column(Integer, server_default="0")
    population: Mapped[int] = mapped_column(Integer, server_default="0")
    source_id: Mapped[str | None] = mapped_column(Text)
    grid_code: Mapped[str | None] = mapped_column(String(64), index=True)
    __table_args__ = (Index("ix_buildings_geom", "geom", postgresql_using="gist"),)


class Station(Base):
    """A service station; ``level`` is its life-circle tier in minutes (5, 10 or 15)."""

    __tablename__ = "stations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    geom: Mapped[Any] = _geom("POINT")
    kind: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(Text)
    level: Mapped[int] = mapped_column(Integer, server_default="15")
    source_id: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        CheckConstraint("level IN (5, 10, 15)", name="level"),
        Index("ix_stations_geom", "geom", postgresql_using="gist"),
    )


class Incident(Base):
    """A report; ``client_id`` makes retries idempotent (unique, not read-then-write)."""

    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    client_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    category: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, server_default="")
    priority: Mapped[str] = mapped_column(String(16), server_default=PRIORITIES[0])
    status: Mapped[str] = mapped_column(String(16), server_default=INITIAL)
    geom: Mapped[Any] = _geom("POINT")
    grid_code: Mapped[str | None] = mapped_column(String(64))
    reported_at: Mapped[datetime] = _now()
    created_at: Mapped[datetime] = _now()
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reporter: Mapped[str | None] = mapped_column(Text)
    # migration 0003: the closed loop
    assignee: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    address: Mapped[str | None] = mapped_column(Text)
    media_url: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, server_default="1")  # the ETag: id.version
    updated_at: Mapped[datetime] = _now()
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_list(STATUSES)})", name="status"),
        CheckConstraint(f"priority IN ({sql_list(PRIORITIES)})", name="priority"),
        Index("ix_incidents_geom", "geom", postgresql_using="gist"),
        Index("ix_incidents_grid_status", "grid_code", "status"),
        Index("ix_incidents_reported", "reported_at", "id"),
        # statistics: covering indexes, so stats read no heap (index-only scans): by time
        # for a short period (a month), in grid order for a long one (a year: no sort)
        Index(
            "ix_incidents_stats_grid",
            "reported_at",
            "grid_code",
            postgresql_include=["status", "due_at", "closed_at"],
        ),
        # migration 0008: per grid the closed ones in order of hours to close (medians)
        Index(
            "ix_incidents_closed_hours",
            "grid_code",
            text("(date_part('epoch', closed_at - reported_at) / 3600.0)"),
            postgresql_include=["reported_at", "closed_at"],
            postgresql_where=text("status = 'closed'"),
        ),
        Index("ix_incidents_assignee", "assignee", "status"),
        Index(
            "ix_incidents_open_due",
            "due_at",
            postgresql_where=text(f"status IN ({sql_list(OPEN)})"),
        ),
        # migration 0008: the open ones of a period, index-only (overdue counts)
        Index(
            "ix_incidents_open_stats",
            "reported_at",
            postgresql_include=["due_at", "grid_code", "category", "assignee"],
            postgresql_where=text(f"status IN ({sql_list(OPEN)})"),
        ),
    )


class IncidentEvent(Base):
    """One lifecycle transition of an incident, with who did it and when."""

    __tablename__ = "incident_events"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = _now()
    # migration 0003: the person the step was done by, and the one it dispatched to
    actor_person: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    assignee: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    __table_args__ = (Index("ix_incident_events_to_at", "to_status", "at"),)


class Person(Base):
    """A grid worker or another handler (migration 0003); API keys may belong to one."""

    __tablename__ = "people"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _now()
    __table_args__ = (CheckConstraint(f"role IN ({sql_list(PERSON_ROLES)})", name="role"),)


class PersonGrid(Base):
    """Which grids a person looks after (by grid code, so it survives a redraw)."""

    __tablename__ = "person_grids"
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    grid_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    __table_args__ = (Index("ix_person_grids_grid_code", "grid_code"),)


class Category(Base):
    """An incident category (an Open311 service), seeded by migration 0003."""

    __tablename__ = "categories"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16))
    __table_args__ = (CheckConstraint(f"priority IN ({sql_list(PRIORITIES)})", name="priority"),)


class ApiKey(Base):
    """An API key, stored only as its SHA-256 (keys are 256-bit random, so no slow hash)."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))  # migration 0003
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # 0005
    __table_args__ = (CheckConstraint("role IN ('viewer', 'reporter', 'admin')", name="role"),)


class AuditLog(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = _now()
    actor: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class NetworkNode(Base):
    __tablename__ = "network_nodes"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    geom: Mapped[Any] = _geom("POINT")
    __table_args__ = (Index("ix_network_nodes_geom", "geom", postgresql_using="gist"),)


class NetworkEdge(Base):
    """A walkable edge; ``length_m`` is its length in the local UTM zone."""

    __tablename__ = "network_edges"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source: Mapped[int] = mapped_column(ForeignKey("network_nodes.id"))
    target: Mapped[int] = mapped_column(ForeignKey("network_nodes.id"))
    length_m: Mapped[float] = mapped_column(Float)
    osm_id: Mapped[str | None] = mapped_column(Text)
    highway: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = _geom("LINESTRING")
    __table_args__ = (Index("ix_network_edges_geom", "geom", postgresql_using="gist"),)


class DatasetVersion(Base):
    """Change counter per table, bumped by triggers on every write (migration 0002), so
    derived results such as coverage runs know when they are stale."""

    __tablename__ = "dataset_versions"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, server_default="0")


class CoverageRun(Base):
    """One walk-distance computation and the parameters and input versions it used."""

    __tablename__ = "coverage_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = _now()
    kind: Mapped[str | None] = mapped_column(String(64))
    speed_m_per_min: Mapped[float] = mapped_column(Float)
    max_access_m: Mapped[float] = mapped_column(Float)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB)


class CoverageResult(Base):
    """Per building: metres to the nearest station (NULL: unreachable) and which one."""

    __tablename__ = "coverage_results"
    run_id: Mapped[int] = mapped_column(
        ForeignKey("coverage_runs.id", ondelete="CASCADE"), primary_key=True
    )
    building_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    walk_m: Mapped[float | None] = mapped_column(Float)
    station_id: Mapped[int | None] = mapped_column(Integer)


# migration 0007: life-circle compliance (GB 50180-2018)


class FacilityKind(Base):
    """A facility kind of the life circles: its circle (``minutes``; ``distance_m`` overrides
    minutes × speed where set) and the station kinds that count (data.facility_kinds)."""

    __tablename__ = "facility_kinds"
    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    minutes: Mapped[int] = mapped_column(Integer)
    distance_m: Mapped[float | None] = mapped_column(Float)
    station_kinds: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    __table_args__ = (
        CheckConstraint("minutes IN (5, 10, 15)", name="minutes"),
        CheckConstraint("distance_m IS NULL OR distance_m > 0", name="distance_m"),
    )


class ComplianceRun(Base):
    """Per-kind walk distances for every building, computed from the inputs (change
    counters) and the facility kinds (``kinds``: the table as it was) named here."""

    __tablename__ = "compliance_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = _now()
    speed_m_per_min: Mapped[float] = mapped_column(Float)
    max_access_m: Mapped[float] = mapped_column(Float)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB)
    kinds: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)


class ComplianceResult(Base):
    """Per building and facility kind: metres to the nearest facility of that kind (NULL:
    unreachable or none exists) and which station it is. ``building_id`` has no foreign key,
    so replacing buildings never scans these rows: a run of old buildings is stale anyway
    (its counters differ) and is deleted when the next run is computed."""

    __tablename__ = "compliance_results"
    run_id: Mapped[int] = mapped_column(
        ForeignKey("compliance_runs.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    building_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    walk_m: Mapped[float | None] = mapped_column(Float)
    station_id: Mapped[int | None] = mapped_column(Integer)


class DeviceToken(Base):
    """An anonymous per-device token of the resident report page (migration 0006), stored only
    as its SHA-256 like API keys; a phone number only when the resident gives one."""

    __tablename__ = "device_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeviceReport(Base):
    """Which device token filed an incident ("my reports"; migration 0006)."""

    __tablename__ = "device_reports"
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    token_id: Mapped[int] = mapped_column(ForeignKey("device_tokens.id"))
    __table_args__ = (Index("ix_device_reports_token_id", "token_id", "incident_id"),)


class Photo(Base):
    """A photo of an incident, its file (and thumbnail) stored outside the row under
    ``storage_key``; ``kind`` report (the reporter's) or handling (attached to a lifecycle
    event by a handler: before/after). EXIF location kept as a hint, stripped from the file."""

    __tablename__ = "photos"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("incident_events.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))
    storage_key: Mapped[str] = mapped_column(Text, unique=True)
    thumb_key: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    exif_lon: Mapped[float | None] = mapped_column(Float)
    exif_lat: Mapped[float | None] = mapped_column(Float)
    uploaded_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    __table_args__ = (CheckConstraint("kind IN ('report', 'handling')", name="kind"),)
