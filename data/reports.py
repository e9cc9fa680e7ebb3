"""The resident report page's records (migration 0006): anonymous device tokens (stored only as
their SHA-256, like API keys), which token filed which incident, photo rows (the files live
outside the database, see data/files/photos.py), a token's own reports, and what the page may
show about a grid (its name and worker's display name, never a phone number)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from data.errors import NotFoundError
from data.keys import digest, find_secret
from data.models import DeviceReport, DeviceToken, Incident, IncidentEvent, Photo

TOKEN_PREFIX = "gmd_"


@dataclass(frozen=True)
class Device:
    """A live device token: its row id and the actor name events and the audit log carry."""

    id: int
    actor: str


def issue_token(*, session: Session, phone: str | None = None) -> tuple[str, Device]:
    """Store a new device token and return the only copy of its plain text."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    prefix = token[:12]
    token_id = session.execute(
        insert(DeviceToken)
        .values(token_hash=digest(token), prefix=prefix, phone=phone)
        .returning(DeviceToken.id)
    ).scalar_one()
    return token, Device(int(token_id), f"device:{prefix}")


def device_of_digest(*, session: Session, token_digest: str) -> Device | None:
    """The live device token with this digest, or None (unknown or revoked)."""
    row = session.execute(
        select(DeviceToken.id, DeviceToken.prefix).where(
            DeviceToken.token_hash == token_digest, DeviceToken.revoked_at.is_(None)
        )
    ).first()
    return None if row is None else Device(int(row.id), f"device:{row.prefix}")


def link_report(*, session: Session, incident_id: int, device: Device) -> None:
    session.execute(insert(DeviceReport).values(incident_id=incident_id, token_id=device.id))


def filed_by(*, session: Session, incident_id: int) -> int | None:
    """The id of the device token that filed the incident, None when none did."""
    found = session.execute(
        select(DeviceReport.token_id).where(DeviceReport.incident_id == incident_id)
    ).scalar()
    return None if found is None else int(found)


@dataclass(frozen=True)
class NewPhoto:
    incident_id: int
    kind: str  # report | handling
    storage_key: str
    thumb_key: str
    content_type: str
    bytes: int
    width: int
    height: int
    sha256: str
    exif_lon: float | None
    exif_lat: float | None
    uploaded_by: str
    event_id: int | None = None


PHOTO_COLUMNS = (
    Photo.id,
    Photo.incident_id,
    Photo.event_id,
    Photo.kind,
    Photo.content_type,
    Photo.bytes,
    Photo.width,
    Photo.height,
    Photo.exif_lon,
    Photo.exif_lat,
    Photo.created_at,
)


def add_photo(*, session: Session, photo: NewPhoto) -> dict[str, Any]:
    row = session.execute(insert(Photo).values(**photo.__dict__).returning(*PHOTO_COLUMNS)).one()
    return dict(row._mapping)


def photos_of(*, session: Session, incident_ids: list[int]) -> list[dict[str, Any]]:
    """The photos of these incidents, oldest first."""
    rows = session.execute(
        select(*PHOTO_COLUMNS)
        .where(Photo.incident_id.in_(incident_ids))
        .order_by(Photo.incident_id, Photo.id)
    )
    return [dict(r._mapping) for r in rows]


def photo_file(*, session: Session, photo_id: int) -> dict[str, Any]:
    """A photo's storage keys, type and incident; NotFoundError when there is none."""
    row = session.execute(
        select(
            Photo.id, Photo.incident_id, Photo.storage_key, Photo.thumb_key, Photo.content_type
        ).where(Photo.id == photo_id)
    ).first()
    if row is None:
        raise NotFoundError(f"no photo {photo_id}")
    return dict(row._mapping)


def event_of(*, session: Session, incident_id: int, event_id: int | None) -> int:
    """The incident's event ``event_id`` (its latest when None); NotFoundError otherwise."""
    if session.get(Incident, incident_id) is None:
        raise NotFoundError(f"no incident {incident_id}")
    query = select(IncidentEvent.id).where(IncidentEvent.incident_id == incident_id)
    if event_id is not None:
        query = query.where(IncidentEvent.id == event_id)
    found = session.execute(
        query.order_by(IncidentEvent.at.desc(), IncidentEvent.id.desc())
    ).scalar()
    if found is None:
        raise NotFoundError(f"incident {incident_id} has no event {event_id}")
    return int(found)


MINE = text(
    """
    SELECT i.id, i.category, c.name_zh AS category_zh, c.name_en AS category_en,
           i.description, i.status, i.grid_code, g.name AS grid_name, i.reported_at,
           i.due_at, i.closed_at, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat,
           (SELECT e.note FROM incident_events e WHERE e.incident_id = i.id
            ORDER BY e.at DESC, e.id DESC LIMIT 1) AS last_note
    FROM device_reports d
    JOIN incidents i ON i.id = d.incident_id
    LEFT JOIN categories c ON c.code = i.category
    LEFT JOIN grids g ON g.code = i.grid_code AND g.valid_to IS NULL
    WHERE d.token_id = :token
    ORDER BY i.id DESC
    LIMIT :limit
    """
)


def reports_of(*, session: Session, device: Device, limit: int = 100) -> list[dict[str, Any]]:
    """The device's reports, newest first, with the latest event's note."""
    rows = session.execute(MINE, {"token": device.id, "limit": limit})
    return [dict(r._mapping) for r in rows]


GRID_INFO = """
    SELECT g.code, g.name, g.community, {geometry}
           coalesce((SELECT p.name FROM person_grids pg
                     JOIN people p ON p.id = pg.person_id AND p.role = 'worker'
                     WHERE pg.grid_code = g.code ORDER BY p.id LIMIT 1),
                    g.worker_name) AS worker
    FROM grids g
    WHERE g.code = ANY(:codes) AND g.valid_to IS NULL
    ORDER BY g.code
"""


def grid_info(
    *, session: Session, codes: list[str], geometry: bool = False
) -> list[dict[str, Any]]:
    """Name, community and worker's display name of current grids (no phone numbers), and
    their outline as a GeoJSON geometry when asked."""
    column = "ST_AsGeoJSON(g.geom, 7)::json AS geometry," if geometry else ""
    rows = session.execute(text(GRID_INFO.format(geometry=column)), {"codes": codes})
    return [dict(r._mapping) for r in rows]


def grids_of_community(*, session: Session, community: str) -> list[str]:
    rows = session.execute(
        text("SELECT code FROM grids WHERE community = :c AND valid_to IS NULL ORDER BY code"),
        {"c": community},
    )
    return [str(c) for c in rows.scalars()]


def photo_keys(*, session: Session, incident_ids: list[int]) -> list[str]:
    """The storage keys (photos and thumbnails) of these incidents' photos, to remove the files
    once the rows are gone."""
    rows = session.execute(
        select(Photo.storage_key, Photo.thumb_key).where(Photo.incident_id.in_(incident_ids))
    )
    return [key for row in rows for key in row]


@dataclass(frozen=True)
class DeviceInfo:
    """A device token as ``gridmap devices list`` shows it (never the token itself)."""

    id: int
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    reports: int


_DEVICE_INFO = (
    DeviceToken.id,
    DeviceToken.prefix,
    DeviceToken.created_at,
    DeviceToken.revoked_at,
    select(func.count())
    .where(DeviceReport.token_id == DeviceToken.id)
    .correlate(DeviceToken)
    .scalar_subquery(),
)


def list_devices(*, session: Session) -> list[DeviceInfo]:
    rows = session.execute(select(*_DEVICE_INFO).order_by(DeviceToken.id))
    return [DeviceInfo(*row) for row in rows]


def find_device(*, session: Session, ref: str) -> DeviceInfo:
    """The one device token ``ref`` names: its id (digits), its prefix (``gmd_xxxxxxxx``) or
    the start of it, or the whole token. NotFoundError when none matches, ConflictError when
    several do."""
    row = find_secret(
        session=session,
        ref=ref,
        columns=_DEVICE_INFO,
        hash_column=DeviceToken.token_hash,
        prefix_column=DeviceToken.prefix,
        prefix_length=len(TOKEN_PREFIX) + 8,
        what="device token",
    )
    return DeviceInfo(*row)


def revoke_device(*, session: Session, device_id: int) -> datetime | None:
    """Revoke device token ``device_id`` now (its reports stay); returns when, or None when it
    was revoked already (the first revocation's time is kept)."""
    when: datetime | None = session.execute(
        update(DeviceToken)
        .where(DeviceToken.id == device_id, DeviceToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(DeviceToken.revoked_at)
    ).scalar()
    return when
