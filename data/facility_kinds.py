"""The facility kinds of the life circles (生活圈, GB 50180-2018) as data: the vocabulary and
its defaults, pure (nothing of the database), seeded into ``facility_kinds`` by migration 0007.

GB 50180-2018 sets three walking circles — 5 minutes (≈ 300 m), 10 minutes (≈ 500 m) and 15
minutes (≈ 800–1,000 m) — and, in its appendix B (tables B.0.1 and B.0.2), which facilities
each circle must hold, with a service radius (服务半径, "不宜大于") for some of them. A
kind's circle is its ``distance_m`` where set (the standard's radius), else ``minutes`` at
the walking speed (GRIDMAP_WALK_SPEED_M_PER_MIN). ``station_kinds`` are the station kinds
(``stations.kind``; OSM tags mapped on import by ``data.files.osm``) that count for it.
Cities edit the table (``gridmap coverage kinds``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from data.errors import RuleError

CIRCLE_MINUTES = (5, 10, 15)


@dataclass(frozen=True)
class Kind:
    """One facility kind (a row of ``facility_kinds``)."""

    kind: str
    name_zh: str
    name_en: str
    minutes: int
    distance_m: float | None
    station_kinds: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "station_kinds": list(self.station_kinds)}

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Kind:
        """From a mapping with the field names (a stored snapshot, a CSV row parsed)."""
        distance = row.get("distance_m")
        return cls(
            kind=str(row["kind"]),
            name_zh=str(row["name_zh"]),
            name_en=str(row["name_en"]),
            minutes=int(row["minutes"]),
            distance_m=None if distance is None else float(distance),
            station_kinds=tuple(str(s) for s in row["station_kinds"]),
        )

    def checked(self) -> Kind:
        """The kind itself, or RuleError naming what is wrong with it."""
        if not self.kind or len(self.kind) > 64 or not self.kind.isprintable():
            raise RuleError(f"facility kind {self.kind!r}: a name of 1–64 printable characters")
        if self.minutes not in CIRCLE_MINUTES:
            raise RuleError(f"facility kind {self.kind!r}: minutes must be 5, 10 or 15")
        if self.distance_m is not None and not 0 < self.distance_m <= 10_000:
            raise RuleError(f"facility kind {self.kind!r}: distance_m must be in (0, 10000]")
        if not self.station_kinds or any(not s or len(s) > 64 for s in self.station_kinds):
            raise RuleError(
                f"facility kind {self.kind!r}: name at least one station kind (1–64 characters)"
            )
        return self


FACILITY_KIND_SEED: tuple[Kind, ...] = (
    # five-minute circle (表 B.0.2)
    Kind("kindergarten", "幼儿园", "Kindergarten", 5, 300.0, ("kindergarten",)),
    Kind(
        "community_service",
        "社区服务站",
        "Community service station",
        5,
        300.0,
        ("community_service",),
    ),
    Kind(
        "elderly_day_care",
        "老年人日间照料中心",
        "Elderly day care centre",
        5,
        300.0,
        ("elderly_care",),
    ),
    Kind("outdoor_fitness", "室外综合健身场地", "Outdoor fitness ground", 5, 300.0, ("fitness",)),
    # ten-minute circle (表 B.0.1)
    Kind("primary_school", "小学", "Primary school", 10, 500.0, ("primary_school",)),
    Kind("market", "菜市场或生鲜超市", "Market or fresh-food supermarket", 10, 500.0, ("market",)),
    # fifteen-minute circle (表 B.0.1)
    Kind("secondary_school", "初中", "Secondary school", 15, 1000.0, ("secondary_school",)),
    Kind(
        "health_centre",
        "社区卫生服务中心",
        "Community health centre",
        15,
        1000.0,
        ("health", "hospital"),
    ),
    Kind("elderly_home", "养老院", "Elderly care home", 15, None, ("elderly_care",)),
    Kind("culture_centre", "文化活动中心", "Culture centre", 15, None, ("culture",)),
    Kind("sports_centre", "体育馆或全民健身中心", "Sports centre", 15, None, ("sports",)),
    Kind("street_office", "街道办事处", "Sub-district office", 15, None, ("government",)),
    Kind("police", "派出所", "Police station", 15, None, ("police",)),
    Kind("post", "邮政营业场所", "Post office", 15, None, ("post",)),
)
"""The defaults: each row names its circle (minutes), the standard's service radius where
it gives one, and the station kinds that count."""
