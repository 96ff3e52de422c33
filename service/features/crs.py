"""Coordinate reference systems offered for output and bbox (OGC API Features Part 2).

Data are stored in EPSG:4326 as lon/lat. OGC URIs of EPSG codes mean the EPSG axis order: latitude
first for 4326 and 4490, northing first for the Gauss-Krüger systems 4528 and 4549; CRS84 and 3857 are
x/east first. `swap_axes` says when coordinates must be flipped between storage and the client.
"""

from __future__ import annotations

from dataclasses import dataclass

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/"


@dataclass(frozen=True)
class Crs:
    uri: str
    srid: int
    swap_axes: bool
    metres: bool
    # the valid area in the CRS's own axis order (bbox values outside are clipped to it)
    domain: tuple[float, float, float, float]

    @property
    def digits(self) -> int:
        """Decimal digits of output coordinates: 1e-9 degree or 1 mm."""
        return 3 if self.metres else 9


SUPPORTED: tuple[Crs, ...] = (
    Crs(CRS84, 4326, False, False, (-180, -90, 180, 90)),
    Crs(EPSG_URI + "4326", 4326, True, False, (-90, -180, 90, 180)),
    Crs(EPSG_URI + "4490", 4490, True, False, (-90, -180, 90, 180)),
    # CGCS2000 3-degree Gauss-Krüger zone 40 (false easting 40,500,000) and CM 120E (500,000): N, E
    Crs(EPSG_URI + "4528", 4528, True, True, (0, 39_500_000, 10_000_000, 41_500_000)),
    Crs(EPSG_URI + "4549", 4549, True, True, (0, -500_000, 10_000_000, 1_500_000)),
    Crs(EPSG_URI + "3857", 3857, False, True, (-20_037_508.34, -20_048_966.1, 20_037_508.34, 20_048_966.1)),
)
DEFAULT = SUPPORTED[0]
_BY_URI = {c.uri: c for c in SUPPORTED}
_ALIASES = {
    "CRS84": CRS84,
    "OGC:CRS84": CRS84,
    "[OGC:CRS84]": CRS84,
    "http://www.opengis.net/def/crs/OGC/0/CRS84": CRS84,
    **{f"EPSG:{c.srid}": c.uri for c in SUPPORTED if c.uri.startswith(EPSG_URI)},
    **{f"[EPSG:{c.srid}]": c.uri for c in SUPPORTED if c.uri.startswith(EPSG_URI)},
}


def parse(value: str) -> Crs:
    """The CRS named by a URI (or EPSG:n / CRS84 short form); ValueError when it is not offered."""
    uri = _ALIASES.get(value.strip(), value.strip())
    uri = uri.replace("https://", "http://", 1)
    try:
        return _BY_URI[uri]
    except KeyError:
        raise ValueError(
            f"unsupported CRS {value!r}; offered: {', '.join(c.uri for c in SUPPORTED)}"
        ) from None


def uris() -> list[str]:
    return [c.uri for c in SUPPORTED]
