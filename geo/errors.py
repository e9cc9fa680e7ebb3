"""Domain errors raised by the pure geometry layer; api/errors.py maps each to a status."""


class GeoError(ValueError):
    """Base class for invalid geometric input."""


class InvalidCoordinatesError(GeoError):
    """Coordinates are NaN, infinite or outside the valid lon/lat range."""


class UnknownCRSError(GeoError):
    """A CRS name that is not one of wgs84, cgcs2000, gcj02, bd09."""


class InvalidGeometryError(GeoError):
    """A polygon or line that is empty, invalid or self-intersecting."""


class DuplicateCodeError(GeoError):
    """Two grid polygons share one code, so "smallest code wins" cannot decide between them."""


class OutsideRegionError(GeoError):
    """A point outside the configured region (by default the grids' extent plus a margin)."""
