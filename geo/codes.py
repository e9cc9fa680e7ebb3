"""Grid codes: 15 digits = district (6) + street (3) + community (3) + sequence (3).

A new grid takes the next sequence number in its community after every code the community
has ever had (retired codes are never reused); a batch of new grids is numbered west→east,
ties north→south, by their representative points.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from shapely.geometry.base import BaseGeometry

from geo.errors import GeoError
from geo.topology import ordered

COMMUNITY = re.compile(r"\d{12}")
SEQUENCE_DIGITS = 3


class CodeSpaceError(GeoError):
    """A community code that is not 12 digits, or a community out of sequence numbers."""


def next_codes(community: str, used: Iterable[str], geoms: Sequence[BaseGeometry]) -> list[str]:
    """Codes for ``geoms`` (new grids of ``community``), in the order of ``geoms``."""
    if not COMMUNITY.fullmatch(community):
        raise CodeSpaceError(f"community {community!r} is not a 12-digit code")
    taken = [
        int(code[len(community) :])
        for code in used
        if code.startswith(community)
        and len(code) == len(community) + SEQUENCE_DIGITS
        and code[len(community) :].isdigit()
    ]
    start = max(taken, default=0) + 1
    if start + len(geoms) - 1 >= 10**SEQUENCE_DIGITS:
        raise CodeSpaceError(f"community {community} has no grid codes left")
    codes = [""] * len(geoms)
    for rank, i in enumerate(ordered(geoms)):
        codes[i] = f"{community}{start + rank:0{SEQUENCE_DIGITS}d}"
    return codes
