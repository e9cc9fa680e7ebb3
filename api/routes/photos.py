"""Incident photos: served only to viewers (API key) and to the device token that filed the
report; listed per incident; and a handler's photo attached to a lifecycle event when
resolving (处置前后对比)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.deps import (
    PhotoStoreDep,
    PhotoViewerDep,
    ReporterOwner,
    SessionDep,
    SessionsDep,
    SettingsDep,
    Viewer,
)
from api.errors import ForbiddenError
from api.reports import attach_photo, photo_public, read_upload
from api.schemas.reports import PhotoPublic
from data import incidents as incident_repo
from data import reports as repo

router = APIRouter(tags=["photos"])

PhotoId = Annotated[int, Path(ge=1, lt=2**63)]
IncidentId = Annotated[int, Path(ge=1, lt=2**63)]
JPEG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}}, "description": "the photo (JPEG, no metadata)"}
}


@router.get(
    "/api/v1/photos/{photo_id}",
    response_class=Response,
    responses=JPEG,
    summary="A photo (viewer key, or the reporter's own device token)",
)
def get_photo(
    photo_id: PhotoId,
    session: SessionDep,
    viewer: PhotoViewerDep,
    store: PhotoStoreDep,
    size: Annotated[Literal["full", "thumb"], Query()] = "full",
) -> Response:
    photo = repo.photo_file(session=session, photo_id=photo_id)
    if viewer.device is not None:
        owner = repo.filed_by(session=session, incident_id=photo["incident_id"])
        if owner != viewer.device.id:
            raise ForbiddenError("this device token did not file the report this photo belongs to")
    # read through the API from either store (a directory or a private bucket): access is
    # checked above, and no storage URL ever leaves the service
    data = store.get(photo["thumb_key"] if size == "thumb" else photo["storage_key"])
    return Response(
        data, media_type=photo["content_type"], headers={"Cache-Control": "private, max-age=86400"}
    )


@router.get(
    "/api/v1/incidents/{incident_id}/photos",
    response_model=list[PhotoPublic],
    summary="An incident's photos: the reporter's and the handlers'",
)
def incident_photos(incident_id: IncidentId, session: SessionDep, _: Viewer) -> list[PhotoPublic]:
    incident_repo.get_incident(session=session, incident_id=incident_id)  # 404 when unknown
    return [photo_public(p) for p in repo.photos_of(session=session, incident_ids=[incident_id])]


@router.post(
    "/api/v1/incidents/{incident_id}/photos",
    status_code=201,
    response_model=PhotoPublic,
    summary="Attach a handler's photo to one of the incident's events (default: the latest)",
)
async def add_incident_photo(
    incident_id: IncidentId,
    photo: Annotated[UploadFile, File(description="JPEG, PNG or WebP")],
    owner: ReporterOwner,
    sessions: SessionsDep,
    settings: SettingsDep,
    store: PhotoStoreDep,
    event_id: Annotated[int | None, Form(ge=1, lt=2**63)] = None,
) -> PhotoPublic:
    upload = await read_upload(photo, settings.photo_max_bytes)

    def attach() -> PhotoPublic:
        with sessions() as session:
            row = attach_photo(
                session=session,
                settings=settings,
                store=store,
                incident_id=incident_id,
                event_id=event_id,
                upload=upload,
                actor=owner.actor,
            )
        return photo_public(row)

    return await run_in_threadpool(attach)
