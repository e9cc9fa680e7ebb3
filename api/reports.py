"""Reports from the resident page, and photos: every photo is checked and cleaned before
anything is written; the report (filed like any other, as ``reported``), the link to the
device token that filed it, its photo rows and the audit entry go in one transaction, and the
photo files are written before it commits and removed again when it does not. A resend with
the page's ``client_id`` answers the stored report and stores nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import UploadFile
from sqlalchemy.orm import Session

from api.intake import Filed, Report, file_report, plausible_time, same_report
from api.locator import Locator
from api.photo_store import forget_photos
from api.schemas.reports import PhotoPublic, ReportForm
from api.settings import Settings
from data import reports as repo
from data.audit import record
from data.errors import ConflictError, RuleError
from data.files.photos import CleanPhoto, PhotoStorage, clean_photo


@dataclass(frozen=True)
class Upload:
    """One uploaded file as received: the name the client gave it, its size, and its bytes
    (only the first ``max_bytes + 1`` of a larger one)."""

    filename: str
    data: bytes
    size: int


async def read_upload(upload: UploadFile, max_bytes: int) -> Upload:
    data = await upload.read(max_bytes + 1)
    return Upload(upload.filename or "", data, max(upload.size or 0, len(data)))


def clean_uploads(uploads: list[Upload], settings: Settings) -> list[CleanPhoto]:
    """Every upload checked by content and cleaned; the first refusal names the photo."""
    return [
        clean_photo(
            u.data,
            size=u.size,
            name=f"photo {i} ({u.filename[:60] or 'unnamed'})",
            max_bytes=settings.photo_max_bytes,
        )
        for i, u in enumerate(uploads, start=1)
    ]


def photo_public(row: dict[str, Any]) -> PhotoPublic:
    url = f"/api/v1/photos/{row['id']}"
    return PhotoPublic.model_validate({**row, "url": url, "thumb_url": f"{url}?size=thumb"})


@contextmanager
def _files_undone_on_failure(store: PhotoStorage) -> Iterator[list[str]]:
    """Yields a list the caller adds written keys to; they are removed if the block fails (a
    file that cannot be removed is logged: no row names it, so it is never served)."""
    written: list[str] = []
    try:
        yield written
    except BaseException:
        forget_photos(store, written)
        raise


def _store(
    session: Session,
    store: PhotoStorage,
    written: list[str],
    photo: CleanPhoto,
    *,
    incident_id: int,
    kind: str,
    actor: str,
    event_id: int | None = None,
) -> dict[str, Any]:
    key = store.put(photo.data)
    written.append(key)
    thumb = store.put(photo.thumb, suffix=".thumb.jpg")
    written.append(thumb)
    return repo.add_photo(
        session=session,
        photo=repo.NewPhoto(
            incident_id=incident_id,
            event_id=event_id,
            kind=kind,
            storage_key=key,
            thumb_key=thumb,
            content_type=photo.content_type,
            bytes=len(photo.data),
            width=photo.width,
            height=photo.height,
            sha256=photo.sha256,
            exif_lon=photo.exif_lon,
            exif_lat=photo.exif_lat,
            uploaded_by=actor,
        ),
    )


def file_device_report(
    *,
    session: Session,
    locator: Locator,
    settings: Settings,
    store: PhotoStorage,
    device: repo.Device,
    form: ReportForm,
    uploads: list[Upload],
    now: datetime,
) -> tuple[Filed, list[dict[str, Any]]]:
    """File the page's report with its photos; returns the filing and the photo rows."""
    photos = clean_uploads(uploads, settings)
    lon, lat, crs = form.lon, form.lat, form.crs
    if lon is None or lat is None:
        hint = next((p for p in photos if p.exif_lon is not None), None)
        if hint is None:
            raise RuleError("the report needs lon and lat (or a photo with an EXIF location)")
        lon, lat, crs = hint.exif_lon, hint.exif_lat, "wgs84"
    assert lon is not None and lat is not None
    report = Report(
        category=form.category,
        description=form.description,
        lon=lon,
        lat=lat,
        crs=crs,
        reported_at=plausible_time(settings.aware(form.reported_at), settings, now),
        # namespaced by the token: another device can neither collide with nor probe it
        client_id=f"page:{device.id}:{form.client_id}",
    )
    filed = file_report(
        session=session,
        locator=locator,
        settings=settings,
        report=report,
        actor=device.actor,
        now=now,
        commit=False,
    )
    incident_id = int(filed.record["id"])
    if not filed.created:
        if not same_report(filed.record, filed.new):
            raise ConflictError(f"client_id {form.client_id!r} was already used for another report")
        session.rollback()
        return filed, repo.photos_of(session=session, incident_ids=[incident_id])
    repo.link_report(session=session, incident_id=incident_id, device=device)
    with _files_undone_on_failure(store) as written:
        rows = [
            _store(
                session,
                store,
                written,
                p,
                incident_id=incident_id,
                kind="report",
                actor=device.actor,
            )
            for p in photos
        ]
        record(
            session=session,
            actor=device.actor,
            action="report",
            entity="incident",
            entity_id=str(incident_id),
            detail={"photos": len(rows), "accuracy_m": form.accuracy_m, "via": "report page"},
        )
        session.commit()  # durable before we acknowledge
    return filed, rows


def attach_photo(
    *,
    session: Session,
    settings: Settings,
    store: PhotoStorage,
    incident_id: int,
    event_id: int | None,
    upload: Upload,
    actor: str,
) -> dict[str, Any]:
    """A handler's photo (before/after, 处置前后对比) linked to one of the incident's events
    (its latest when ``event_id`` is None)."""
    (photo,) = clean_uploads([upload], settings)
    event = repo.event_of(session=session, incident_id=incident_id, event_id=event_id)
    with _files_undone_on_failure(store) as written:
        row = _store(
            session,
            store,
            written,
            photo,
            incident_id=incident_id,
            kind="handling",
            actor=actor,
            event_id=event,
        )
        record(
            session=session,
            actor=actor,
            action="attach photo",
            entity="incident",
            entity_id=str(incident_id),
            detail={"photo": row["id"], "event": event},
        )
        session.commit()
    return row
