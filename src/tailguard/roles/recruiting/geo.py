"""Zip-code centroids and great-circle distance for the reference dataset.

The table holds approximate centroids (rounded to 0.01 degree) of real US ZIP codes around
major freight hubs; it is enough to rank postings by distance, not to navigate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tailguard.errors import InvalidInputError


@dataclass(frozen=True, kw_only=True, slots=True)
class ZipPoint:
    """One ZIP code's centroid, city, state and freight region."""

    zip: str
    city: str
    state: str
    lat: float
    lon: float
    region: str
    hub: str


# zip, city, state, lat, lon, region, hub (the freight market it belongs to)
_ZIPS: tuple[tuple[str, str, str, float, float, str, str], ...] = (
    ("75001", "Addison", "TX", 32.96, -96.84, "South", "DFW"),
    ("75006", "Carrollton", "TX", 32.96, -96.89, "South", "DFW"),
    ("75024", "Plano", "TX", 33.08, -96.81, "South", "DFW"),
    ("75050", "Grand Prairie", "TX", 32.75, -97.00, "South", "DFW"),
    ("75061", "Irving", "TX", 32.82, -96.94, "South", "DFW"),
    ("75067", "Lewisville", "TX", 33.04, -97.00, "South", "DFW"),
    ("75149", "Mesquite", "TX", 32.77, -96.60, "South", "DFW"),
    ("75201", "Dallas", "TX", 32.79, -96.80, "South", "DFW"),
    ("76051", "Grapevine", "TX", 32.93, -97.08, "South", "DFW"),
    ("76101", "Fort Worth", "TX", 32.75, -97.33, "South", "DFW"),
    ("77001", "Houston", "TX", 29.76, -95.37, "South", "HOU"),
    ("78201", "San Antonio", "TX", 29.47, -98.53, "South", "SAT"),
    ("79901", "El Paso", "TX", 31.76, -106.49, "Southwest", "ELP"),
    ("73101", "Oklahoma City", "OK", 35.47, -97.52, "South", "OKC"),
    ("72201", "Little Rock", "AR", 34.75, -92.27, "South", "LIT"),
    ("70112", "New Orleans", "LA", 29.96, -90.08, "South", "MSY"),
    ("38103", "Memphis", "TN", 35.15, -90.05, "Southeast", "MEM"),
    ("37201", "Nashville", "TN", 36.17, -86.78, "Southeast", "BNA"),
    ("35203", "Birmingham", "AL", 33.52, -86.81, "Southeast", "BHM"),
    ("30303", "Atlanta", "GA", 33.75, -84.39, "Southeast", "ATL"),
    ("31401", "Savannah", "GA", 32.08, -81.09, "Southeast", "SAV"),
    ("32202", "Jacksonville", "FL", 30.33, -81.66, "Southeast", "JAX"),
    ("33101", "Miami", "FL", 25.78, -80.20, "Southeast", "MIA"),
    ("28202", "Charlotte", "NC", 35.23, -80.84, "Southeast", "CLT"),
    ("29201", "Columbia", "SC", 34.00, -81.03, "Southeast", "CAE"),
    ("23219", "Richmond", "VA", 37.54, -77.43, "Northeast", "RIC"),
    ("21201", "Baltimore", "MD", 39.29, -76.62, "Northeast", "BAL"),
    ("19103", "Philadelphia", "PA", 39.95, -75.17, "Northeast", "PHL"),
    ("07102", "Newark", "NJ", 40.74, -74.17, "Northeast", "EWR"),
    ("10001", "New York", "NY", 40.75, -73.99, "Northeast", "NYC"),
    ("02110", "Boston", "MA", 42.36, -71.05, "Northeast", "BOS"),
    ("15222", "Pittsburgh", "PA", 40.44, -80.00, "Northeast", "PIT"),
    ("43215", "Columbus", "OH", 39.96, -83.00, "Midwest", "CMH"),
    ("45202", "Cincinnati", "OH", 39.10, -84.51, "Midwest", "CVG"),
    ("40202", "Louisville", "KY", 38.25, -85.76, "Midwest", "SDF"),
    ("46204", "Indianapolis", "IN", 39.77, -86.16, "Midwest", "IND"),
    ("48226", "Detroit", "MI", 42.33, -83.05, "Midwest", "DTW"),
    ("60601", "Chicago", "IL", 41.89, -87.62, "Midwest", "CHI"),
    ("53202", "Milwaukee", "WI", 43.04, -87.90, "Midwest", "MKE"),
    ("55401", "Minneapolis", "MN", 44.98, -93.27, "Midwest", "MSP"),
    ("63101", "St. Louis", "MO", 38.63, -90.19, "Midwest", "STL"),
    ("64105", "Kansas City", "MO", 39.10, -94.58, "Midwest", "MKC"),
    ("68102", "Omaha", "NE", 41.26, -95.93, "Midwest", "OMA"),
    ("80202", "Denver", "CO", 39.75, -104.99, "West", "DEN"),
    ("84101", "Salt Lake City", "UT", 40.76, -111.89, "West", "SLC"),
    ("85004", "Phoenix", "AZ", 33.45, -112.07, "Southwest", "PHX"),
    ("87102", "Albuquerque", "NM", 35.08, -106.65, "Southwest", "ABQ"),
    ("89101", "Las Vegas", "NV", 36.17, -115.14, "West", "LAS"),
    ("90012", "Los Angeles", "CA", 34.06, -118.24, "West", "LAX"),
    ("94103", "San Francisco", "CA", 37.77, -122.41, "West", "SFO"),
    ("97204", "Portland", "OR", 45.52, -122.68, "West", "PDX"),
    ("98104", "Seattle", "WA", 47.60, -122.33, "West", "SEA"),
)

ZIPS: dict[str, ZipPoint] = {
    z: ZipPoint(zip=z, city=c, state=s, lat=la, lon=lo, region=r, hub=h)
    for z, c, s, la, lo, r, h in _ZIPS
}
REGIONS: tuple[str, ...] = ("Midwest", "Northeast", "South", "Southeast", "Southwest", "West")
EARTH_RADIUS_MILES = 3958.8


def zip_point(zip_code: str) -> ZipPoint:
    """The centroid of ``zip_code``; an unknown ZIP is an input error naming the known ones."""
    point = ZIPS.get(str(zip_code).strip())
    if point is None:
        raise InvalidInputError(
            f"unknown ZIP {zip_code!r}: the reference dataset covers {len(ZIPS)} freight-hub "
            "ZIP codes (see docs/recruiting.md)"
        )
    return point


def miles_between(a: ZipPoint, b: ZipPoint) -> float:
    """Great-circle distance in miles (haversine)."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dphi = phi2 - phi1
    dlmb = math.radians(b.lon - a.lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(h)))
