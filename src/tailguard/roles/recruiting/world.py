"""Outside-world data (road conditions, truck parking) behind the interface a live feed would use.

The reference deployment cannot reach a DOT 511 feed or a parking-availability API here, so
the dataset stands in; a live source only has to implement the same Protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa

from tailguard.roles.recruiting import schema as t
from tailguard.roles.recruiting.geo import ZIPS, miles_between, zip_point
from tailguard.roles.recruiting.store import RecruitingStore


class RoadConditionsSource(Protocol):
    """Current road conditions near a place or along a route."""

    def conditions(
        self, *, zip_code: str | None, route: str | None, radius_miles: float
    ) -> list[dict[str, Any]]:
        """Conditions within ``radius_miles`` of ``zip_code`` and/or on ``route``."""
        ...


class ParkingSource(Protocol):
    """Truck parking near a place, with live availability."""

    def near(self, *, zip_code: str, radius_miles: float, min_spaces: int) -> list[dict[str, Any]]:
        """Locations within ``radius_miles`` of ``zip_code`` with at least ``min_spaces`` free."""
        ...


def _within(zip_code: str, origin: str, radius: float) -> float | None:
    point = ZIPS.get(zip_code)
    if point is None:
        return None
    miles = miles_between(zip_point(origin), point)
    return miles if miles <= radius else None


@dataclass(frozen=True, kw_only=True, slots=True)
class DatasetRoadConditions:
    """Road conditions from the reference dataset."""

    store: RecruitingStore

    def conditions(
        self, *, zip_code: str | None, route: str | None, radius_miles: float
    ) -> list[dict[str, Any]]:
        """See :class:`RoadConditionsSource`; sorted by delay, worst first."""
        query = sa.select(t.road_conditions)
        if route:
            query = query.where(t.road_conditions.c.route == route.upper())
        rows = self.store.rows(query)
        out = []
        for row in rows:
            if zip_code:
                miles = _within(row["zip"], zip_code, radius_miles)
                if miles is None:
                    continue
                row["distance_miles"] = round(miles, 1)
            out.append(row)
        return sorted(out, key=lambda r: (-r["delay_min"], r["condition_id"]))


@dataclass(frozen=True, kw_only=True, slots=True)
class DatasetParking:
    """Truck parking from the reference dataset."""

    store: RecruitingStore

    def near(self, *, zip_code: str, radius_miles: float, min_spaces: int) -> list[dict[str, Any]]:
        """See :class:`ParkingSource`; nearest first."""
        zip_point(zip_code)
        rows = self.store.rows(
            sa.select(t.parking).where(t.parking.c.spaces_available >= min_spaces)
        )
        out = []
        for row in rows:
            miles = _within(row["zip"], zip_code, radius_miles)
            if miles is not None:
                row["distance_miles"] = round(miles, 1)
                out.append(row)
        return sorted(out, key=lambda r: (r["distance_miles"], r["location_id"]))
