"""The one place that picks where photo files live from the settings (a directory, or an
S3-compatible bucket: GRIDMAP_PHOTO_STORE), and forgets files whose rows are gone: after a
commit a failed removal is logged and reported, never an error of the request or command."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from api.settings import Settings
from data.files.photos import PhotoStorage, PhotoStore

log = logging.getLogger("gridmap.photos")


def photo_store(settings: Settings) -> PhotoStorage:
    """The configured store; build it once per process (an S3 store holds a client)."""
    if settings.photo_store == "s3":
        from data.files.photo_s3 import S3PhotoStore

        assert settings.s3_bucket  # the settings refuse s3 without a bucket
        return S3PhotoStore(
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            addressing_style=settings.s3_addressing_style,
        )
    return PhotoStore(settings.photo_root())


def forget_photos(store: PhotoStorage, keys: Iterable[str]) -> list[str]:
    """Remove these files; returns the keys that could not be removed (each logged)."""
    failed = []
    for key in keys:
        try:
            store.remove(key)
        except Exception as exc:  # a leftover file is served to nobody: log, go on
            log.warning("photo %s not removed from %s: %s", key, store.describe(), exc)
            failed.append(key)
    return failed
