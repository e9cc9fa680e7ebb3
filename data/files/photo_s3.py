"""Photos in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, Alibaba OSS, Tencent COS, …)
through boto3: the same keys as the directory store (``YYYY/MM/<random>.jpg``) under an
optional prefix, private objects only (never a public URL: the API reads and serves them to
whoever may see them). Credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, an instance role), never from gridmap's settings.
"""

from __future__ import annotations

from typing import Any

from data.errors import NotFoundError, StorageUnavailableError
from data.files.photos import CONTENT_TYPE, new_key

MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


def _why(exc: Exception) -> str:
    """A short reason: the S3 error code and message, or botocore's one line."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"{error.get('Code', '?')}: {error.get('Message', '')}".strip(": ")
    return str(exc).strip().split("\n")[0]


class S3PhotoStore:
    """Photo objects in ``bucket`` under ``prefix``. One boto3 client (thread-safe) per store:
    build the store once per process. Timeouts are short and retries few, so an unreachable
    service fails a request in seconds (503), not minutes."""

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        addressing_style: str = "auto",
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 10.0,
        attempts: int = 3,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        config = Config(
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            retries={"max_attempts": attempts, "mode": "standard"},
            s3={"addressing_style": addressing_style},
            # checksums only where S3 requires them: many S3-compatible services (OSS, COS,
            # older MinIO and Ceph) refuse the CRC32 headers newer boto3 sends by default
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self.client: Any = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=config
        )
        from botocore.exceptions import BotoCoreError, ClientError

        self._errors: tuple[type[Exception], ...] = (BotoCoreError, ClientError)

    def object_key(self, key: str) -> str:
        return self.prefix + key

    def _unavailable(self, doing: str, key: str, exc: Exception) -> StorageUnavailableError:
        """The failure, its object and reason in one line (the API logs it, the CLI says it)."""
        where = f"s3://{self.bucket}/{self.object_key(key)}"
        return StorageUnavailableError(f"photo storage: {doing} {where} failed ({_why(exc)})")

    def put(self, data: bytes, *, suffix: str = ".jpg") -> str:
        key = new_key(suffix)
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.object_key(key),
                Body=data,
                ContentType=CONTENT_TYPE,
            )
        except self._errors as exc:
            raise self._unavailable("writing", key, exc) from exc
        return key

    def get(self, key: str) -> bytes:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
            return bytes(answer["Body"].read())
        except self._errors as exc:
            code = _why(exc).split(":")[0]
            if code in MISSING:
                raise NotFoundError("the photo's file is missing") from None
            raise self._unavailable("reading", key, exc) from exc

    def remove(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))
        except self._errors as exc:  # deleting a missing object is no error in S3
            raise self._unavailable("removing", key, exc) from exc

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"bucket s3://{self.bucket}/{self.prefix}{where}"
