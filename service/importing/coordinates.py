"""Positions as cities' files give them: degrees or DMS text, projected metres, Amap's and Baidu's datums.

Everything ends in WGS 84 longitude/latitude. Likely mistakes (empty, (0, 0), swapped axes, metres in
degree columns, far outside the area) are named, not guessed away.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from service.errors import BadParameter

# pyproj (about 13 MiB with its database) is imported by the first projected CRS, not at start
if TYPE_CHECKING:
    from pyproj import Transformer

# The two datums of Chinese web maps, not EPSG codes: given as the `crs` option of an import.
GCJ02 = "gcj02"  # Amap, Tencent, Google China
BD09 = "bd09"  # Baidu (longitude/latitude, not its Mercator metres)

# What mainland China spans (degrees): a pair outside it read the other way round is a swapped pair.
CHINA_LON = (73.0, 135.5)
CHINA_LAT = (18.0, 53.6)


class CoordinateError(ValueError):
    """A cell's text is not a coordinate this reader understands."""


# -- degrees, minutes, seconds ------------------------------------------------------------------------

_HEMISPHERES = {"n": 1, "e": 1, "s": -1, "w": -1, "北纬": 1, "东经": 1, "南纬": -1, "西经": -1}
_DMS_PARTS = re.compile(r"(\d+(?:\.\d+)?)\s*(°|度|''|′′|'|′|’|分|\"|″|”|秒|:)?")
_HEMISPHERE = re.compile(r"北纬|东经|南纬|西经|[NESWnesw]")


def degrees(value: object) -> float:
    """Decimal degrees from a number or text: "119.40", "119°24'30\"E", "119度24分30秒", "N36:00:00".

    Raises CoordinateError for text that is neither.
    """
    if isinstance(value, bool):
        raise CoordinateError(f"{value!r} is not a coordinate")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().translate(_FULL_WIDTH)
    if not text:
        raise CoordinateError("empty")
    try:
        return float(text)
    except ValueError:
        pass
    sign = 1
    hemisphere = _HEMISPHERE.search(text)
    if hemisphere is not None:
        sign = _HEMISPHERES[hemisphere.group(0).lower()]
        text = (text[: hemisphere.start()] + " " + text[hemisphere.end() :]).strip()
    if text.startswith("-"):
        sign, text = -sign, text[1:]
    parts = _DMS_PARTS.findall(text)
    rest = _DMS_PARTS.sub("", text).strip()
    if not parts or rest or len(parts) > 3:
        raise CoordinateError(f"{value!r} is not degrees or degrees-minutes-seconds")
    numbers = [float(number) for number, _ in parts]
    if any(n >= 60 for n in numbers[1:]):
        raise CoordinateError(f"{value!r}: minutes and seconds are below 60")
    total = numbers[0] + sum(n / 60**i for i, n in enumerate(numbers[1:], start=1))
    return sign * total


_FULL_WIDTH = str.maketrans({"．": ".", "：": ":", "－": "-", "＇": "'", "＂": '"'})


# -- GCJ-02 and BD-09 ---------------------------------------------------------------------------------
# The GCJ-02 offset is not published by its authors; the formula below is the one leaked and used by
# every open converter (Krasovsky 1940 ellipsoid, a = 6378245 m, e² = 0.00669342162296594323), as
# written up e.g. at https://github.com/wandergis/coordtransform (index.js, `wgs84togcj02`) and
# https://github.com/googollee/eviltransform. BD-09 is GCJ-02 with Baidu's own small rotation and
# shift on top (same sources, `gcj02tobd09`). Their inverses are not in closed form: solved here by
# fixed-point iteration to well under a millimetre.

_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_BD_X_PI = math.pi * 3000.0 / 180.0
Shift = Callable[[float, float], tuple[float, float]]


def _in_china(lon: float, lat: float) -> bool:
    # The offset is applied only inside this box (the formula's own rule); outside GCJ-02 is WGS 84.
    return 72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271


def _shift_lat(x: float, y: float) -> float:
    shift = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    shift += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    shift += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    shift += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return shift


def _shift_lon(x: float, y: float) -> float:
    shift = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    shift += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    shift += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    shift += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return shift


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """The GCJ-02 position (what Amap shows) of a WGS 84 one."""
    if not _in_china(lon, lat):
        return lon, lat
    dlat = _shift_lat(lon - 105.0, lat - 35.0)
    dlon = _shift_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - _KRASOVSKY_EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_KRASOVSKY_A * (1 - _KRASOVSKY_EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_KRASOVSKY_A / sqrtmagic * math.cos(radlat) * math.pi)
    return lon + dlon, lat + dlat


def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """The BD-09 position (what Baidu shows) of a GCJ-02 one."""
    z = math.hypot(lon, lat) + 0.00002 * math.sin(lat * _BD_X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _BD_X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def _invert(forward: Shift, lon: float, lat: float) -> tuple[float, float]:
    # The offsets change slowly with position: x ← x − (f(x) − target) converges in a few steps.
    x, y = lon, lat
    for _ in range(30):
        fx, fy = forward(x, y)
        dx, dy = fx - lon, fy - lat
        x, y = x - dx, y - dy
        if abs(dx) < 1e-10 and abs(dy) < 1e-10:
            break
    return x, y


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """The WGS 84 position of a point picked on Amap (GCJ-02)."""
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    return _invert(gcj02_to_bd09, lon, lat)


def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """The WGS 84 position of a point picked on Baidu Maps (BD-09)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


# -- coordinate reference systems ----------------------------------------------------------------------


@cache
def _transformer(crs: str) -> Transformer:
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        source = CRS.from_user_input(crs)
    except CRSError as error:
        raise BadParameter("crs", f"{crs!r} is not a coordinate reference system pyproj knows") from error
    return Transformer.from_crs(source, "EPSG:4326", always_xy=True)


def check_crs(crs: str | None) -> str | None:
    """The option as given, after checking that it names something known (raises BadParameter)."""
    if crs is None or crs.lower() in (GCJ02, BD09):
        return crs
    _transformer(crs)
    return crs


@cache  # asked for every position: pyproj builds a new CRS object each time it is asked
def is_geographic(crs: str | None) -> bool:
    if crs is None or crs.lower() in (GCJ02, BD09):
        return True
    return bool(_transformer(crs).source_crs.is_geographic)  # type: ignore[union-attr]


def to_wgs84(x: float, y: float, crs: str | None) -> tuple[float, float]:
    """Longitude/latitude in WGS 84 of a position given as x (easting, longitude) and y in `crs`.

    None is WGS 84 itself. CGCS2000 (EPSG:4490) and WGS 84 differ by centimetres, below what matters here.
    """
    if crs is None:
        return x, y
    if crs.lower() == GCJ02:
        return gcj02_to_wgs84(x, y)
    if crs.lower() == BD09:
        return bd09_to_wgs84(x, y)
    lon, lat = _transformer(crs).transform(x, y)
    return float(lon), float(lat)


# -- likely mistakes -----------------------------------------------------------------------------------


def _within(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def gauss_kruger_zone(easting: float) -> int | None:
    """The zone number a Gauss-Krüger easting carries in front (40 500 000 → 40): 13–23 are 6° zones,
    25–45 3° zones (the two ranges China spans never meet); None for an easting without one."""
    zone = int(easting // 1_000_000)
    return zone if (13 <= zone <= 23 or 25 <= zone <= 45) and easting % 1_000_000 > 0 else None


def gauss_kruger_epsg(zone: int) -> int:
    """EPSG code of the CGCS2000 Gauss-Krüger zone with the zone in the easting: 6° zones 13–23 are
    EPSG:4491–4501 (zone 20: 4498), 3° zones 25–45 are EPSG:4513–4533 (zone 40: 4528)."""
    return 4491 + zone - 13 if zone <= 23 else 4513 + zone - 25


def cgcs2000_3_degree_epsg(zone: int) -> int:
    """EPSG code of CGCS2000 3° Gauss-Krüger zone `zone` with the zone in the easting (4513 is 25)."""
    return 4513 + zone - 25


def _zone_words(zone: int) -> str:
    width = "6°" if zone <= 23 else "3°"
    return f"CGCS2000 {width} Gauss-Krüger zone {zone}: crs EPSG:{gauss_kruger_epsg(zone)}"


@cache
def crs_label(crs: str) -> str:
    """A short name of a CRS for messages: "EPSG:4528" rather than a .prj's whole WKT."""
    if crs.lower() in (GCJ02, BD09):
        return crs
    from pyproj import CRS

    _transformer(crs)  # BadParameter for a CRS pyproj does not know
    source = CRS.from_user_input(crs)  # as given: the transformer's own is normalised to x/y
    found = source.to_epsg(min_confidence=70)
    return f"EPSG:{found}" if found else str(source.name)


@cache
def _easting_prefix(crs: str) -> int:
    """The zone number a projected CRS writes in front of its eastings (its false easting's
    millions: 40 for EPSG:4528), 0 when it writes none (EPSG:4549)."""
    from pyproj import CRS

    _transformer(crs)
    operation = CRS.from_user_input(crs).coordinate_operation
    for parameter in getattr(operation, "params", None) or []:
        if parameter.name == "False easting":
            return int(parameter.value // 1_000_000)
    return 0


def _zone_problem(x: float, crs: str) -> str | None:
    """An easting whose zone prefix does not fit the CRS: the wrong EPSG code for the file."""
    expected, given = _easting_prefix(crs), gauss_kruger_zone(x)
    label = crs_label(crs)
    if expected == 0 and given is not None:
        return (
            f"easting {x} carries zone number {given} in front but {label} writes none: the file's crs "
            f"is probably {_zone_words(given)}"
        )
    if expected and int(x // 1_000_000) != expected:
        hint = f"; it looks like {_zone_words(given)}" if given is not None else ""
        return f"easting {x} does not start with zone {expected} of {label}: the crs does not fit{hint}"
    return None


@dataclass(frozen=True)
class Position:
    lon: float
    lat: float


def locate(x: float, y: float, crs: str | None) -> tuple[Position | None, list[str]]:
    """WGS 84 position of a row's pair, or None with the problems that keep it from being one."""
    if x == 0 and y == 0:
        return None, ["coordinates are (0, 0): a missing position, not a place"]
    if is_geographic(crs):
        # A latitude in the longitude column reads as > 90: swapped comes before "metres".
        if not _within(x, CHINA_LON) and _within(y, CHINA_LON) and _within(x, CHINA_LAT):
            return None, [f"longitude and latitude look swapped: ({x}, {y})"]
        if abs(x) > 180 or abs(y) > 90:
            zone = gauss_kruger_zone(x) or gauss_kruger_zone(y)
            hint = f" (they look like {_zone_words(zone)})" if zone else ""
            return None, [f"coordinates ({x}, {y}) are metres, not degrees: name the file's crs{hint}"]
    elif gauss_kruger_zone(y) is not None and gauss_kruger_zone(x) is None and y > x:
        # Surveyors write X for northing: an easting with its zone prefix in the y column.
        return None, [f"easting and northing look swapped: ({x}, {y})"]
    elif crs is not None:
        problem = _zone_problem(x, crs)
        if problem is not None:
            return None, [problem]
    lon, lat = to_wgs84(x, y, crs)
    if not (math.isfinite(lon) and math.isfinite(lat)) or abs(lon) > 180 or abs(lat) > 90:
        return None, [f"coordinates ({x}, {y}) are outside the crs's area"]
    if not is_geographic(crs) and not (_within(lon, CHINA_LON) and _within(lat, CHINA_LAT)):
        # Metres read in the wrong projection land far away: a problem, not a mere warning.
        return None, [
            f"coordinates ({x}, {y}) in {crs_label(str(crs))} fall at ({lon:.4f}, {lat:.4f}), outside "
            "China: the crs does not fit the file"
        ]
    return Position(lon, lat), []


def outside(position: Position, area: tuple[float, float, float, float]) -> str | None:
    """A warning when the position lies outside the area (min lon, min lat, max lon, max lat)."""
    min_lon, min_lat, max_lon, max_lat = area
    if min_lon <= position.lon <= max_lon and min_lat <= position.lat <= max_lat:
        return None
    return f"position ({position.lon:.6f}, {position.lat:.6f}) lies outside the area of the import"
