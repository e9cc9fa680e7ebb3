"""Small shared request parsers."""

from __future__ import annotations

import math

from fastapi.exceptions import RequestValidationError


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """``minlon,minlat,maxlon,maxlat`` → floats, or a 422 naming the ``bbox`` parameter."""
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    ok = (
        len(values) == 4
        and all(math.isfinite(v) for v in values)
        and -180 <= values[0] <= values[2] <= 180
        and -90 <= values[1] <= values[3] <= 90
    )
    if not ok:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "bbox"),
                    "msg": "expected minlon,minlat,maxlon,maxlat in range",
                    "type": "value_error",
                }
            ]
        )
    return values[0], values[1], values[2], values[3]
