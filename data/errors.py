"""Domain errors raised by the data layer; api/errors.py maps each to an HTTP status."""


class DataError(Exception):
    """Base class for data-layer errors."""


class EmbeddedDatabaseError(DataError):
    """The embedded PostgreSQL cluster cannot be created, started or reached."""


class ImportFileError(DataError):
    """An input file cannot be read or holds unusable features; names the file and feature."""


class NotFoundError(DataError):
    """A requested record does not exist."""


class ConflictError(DataError):
    """The request conflicts with the current state (illegal transition, duplicate code)."""


class PreconditionFailedError(DataError):
    """An If-Match / ETag precondition did not hold."""


class PreconditionRequiredError(DataError):
    """A write that needs If-Match arrived without it."""


class UnknownValueError(DataError):
    """A name the data does not hold (a station kind no station has); lists the known ones."""


class RuleError(DataError):
    """A request well-formed but against a domain rule (a reopen without its reason, an
    assignee on a step that assigns nobody)."""


class PhotoError(DataError):
    """An upload that is not a photo we take: not JPEG, PNG or WebP by content, or broken."""


class PhotoTooLargeError(PhotoError):
    """A photo over the per-photo size limit."""


class StorageUnavailableError(DataError):
    """The photo storage (a directory or an S3-compatible bucket) cannot be written or read
    right now: unreachable, refusing our credentials, or out of space."""
