"""Reference for bench/coverage_national.py: coverage of villages and farms in geopandas.

Runs in the anchors' geopandas venv (their pinned stack, no sanichain installed):

    /tmp/bench-geo-venv/bin/python bench/coverage_farms_geopandas.py --url URL --radius 3000 --params JSON

It answers what `GET /coverage?layer=transfer_stations&distance_m=3000` answers for villages and the
operational farms, from the same tables:

1. read the operational stations, all villages and the operational farms: `read_postgis`, as the
   anchors' `bench_coverage.py` does, or with `--read xy` the coordinates as two float columns
   (`ST_X`, `ST_Y`) and `points_from_xy`, which skips the WKB parsing (the faster of the two);
2. project to UTM 50N (EPSG:32650) and take every (station, subject) pair within a planar
   `radius × (1 + MARGIN)` from the stations' STRtree (`sindex.query(predicate="dwithin")`);
3. keep the pairs whose geodesic distance on the WGS84 ellipsoid (pyproj `Geod.inv`, Karney's method,
   as PostGIS geography) is within `radius`: the service's predicate, so the same answer. The planar
   answer (UTM distance ≤ radius, the anchors' predicate) is counted as well, to show the difference;
4. pig equivalents per farm from the coefficients passed as JSON by the caller (pig equivalents per
   head, feeding days where the head count is a yearly sale);
5. city totals and served sums, per town, per station (groupby over the pairs).

Prints one JSON line: the city figures, per-town and per-station figures to compare, phase times.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import argparse  # noqa: E402  (import time is reported on its own, as in the anchors)
import json  # noqa: E402
from typing import Any  # noqa: E402

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from pyproj import Geod  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402

T_IMPORTED = time.perf_counter()

CRS = "EPSG:32650"
# UTM's scale error over lon 114–122 stays below 0.3 %: a planar search 1 % wider misses no
# geodesic pair, and the geodesic test then decides.
MARGIN = 0.01
STATIONS_SQL = "SELECT id, {geom} FROM transfer_stations WHERE status = 'operational'"
VILLAGES_SQL = "SELECT id, town_id, population, households, {geom} FROM villages"
FARMS_SQL = """SELECT id, town_id, species, head_count, head_count_basis, {geom}
               FROM livestock_farms WHERE status = 'operational'"""


def read(conn: Any, sql: str, how: str) -> gpd.GeoDataFrame:
    """One layer as a GeoDataFrame of lon/lat points: WKB through read_postgis, or two floats."""
    if how == "postgis":
        return gpd.read_postgis(sql.format(geom="geom"), conn, geom_col="geom")
    frame = pd.read_sql(sql.format(geom="ST_X(geom) AS lon, ST_Y(geom) AS lat"), conn)
    points = gpd.points_from_xy(frame.pop("lon"), frame.pop("lat"), crs="EPSG:4326")
    return gpd.GeoDataFrame(frame, geometry=points)


def pig_equivalents(farms: pd.DataFrame, params: dict[str, Any]) -> pd.Series:
    """Head on hand (sold per year × feeding days / 365 where so counted) × pig equivalents per head."""
    pig_eq = farms["species"].map(params["pig_equivalent_per_head"]).astype("float64")
    feeding = farms["species"].map(params["feeding_days"]).astype("float64")
    heads = farms["head_count"].astype("float64")
    on_hand = np.where(farms["head_count_basis"] == "sold_per_year", heads * feeding / 365.0, heads)
    return pd.Series(on_hand * pig_eq, index=farms.index)


def pairs_within(
    stations: gpd.GeoDataFrame, subjects: gpd.GeoDataFrame, radius: float, geod: Geod
) -> tuple[np.ndarray, np.ndarray, int]:
    """(station row, subject row) of every geodesic pair within `radius`; and how many subjects a
    planar test (UTM distance ≤ radius) would call served."""
    projected = subjects.geometry.to_crs(CRS)
    subject_i, station_i = stations.sindex.query(
        projected, predicate="dwithin", distance=radius * (1 + MARGIN)
    )
    planar = projected.values[subject_i].distance(stations.geometry.values[station_i])
    lon = subjects.geometry.x.to_numpy()
    lat = subjects.geometry.y.to_numpy()
    _, _, metres = geod.inv(
        stations["lon"].to_numpy()[station_i], stations["lat"].to_numpy()[station_i],
        lon[subject_i], lat[subject_i],
    )  # fmt: skip
    keep = metres <= radius
    return station_i[keep], subject_i[keep], len(np.unique(subject_i[planar <= radius]))


def served_sums(
    subjects: pd.DataFrame,
    station_i: np.ndarray,
    subject_i: np.ndarray,
    stations: pd.DataFrame,
    name: str,
    values: tuple[str, ...],
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, int]:
    """City figures, per-town figures and per-station figures of one subject."""
    served = np.zeros(len(subjects), dtype=bool)
    served[subject_i] = True
    frame = subjects[["town_id", *values]].assign(served=served)
    city: dict[str, Any] = {f"{name}_total": len(frame), f"{name}_served": int(served.sum())}
    for key in values:
        city[f"{key}_total"] = float(frame[key].sum())
        city[f"{key}_served"] = float(frame.loc[served, key].sum())
    totals = frame.groupby("town_id").agg(total=("served", "size"), served=("served", "sum"))
    totals.columns = [f"{name}_{c}" for c in totals.columns]
    for key in values:
        totals[f"{key}_total"] = frame.groupby("town_id")[key].sum()
        totals[f"{key}_served"] = frame.loc[served].groupby("town_id")[key].sum()
    pairs = pd.DataFrame(
        {"station": stations["id"].to_numpy()[station_i], "measure": frame[values[0]].to_numpy()[subject_i]}
    )
    per_station = pairs.groupby("station").agg(count=("measure", "size"), measure=("measure", "sum"))
    return city, totals.fillna(0), per_station, len(subject_i)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--radius", type=float, default=3000.0)
    ap.add_argument("--params", required=True, help="JSON: pig_equivalent_per_head, feeding_days")
    ap.add_argument("--detail", action="store_true", help="print the per-town and per-station figures")
    ap.add_argument("--read", choices=("postgis", "xy"), default="postgis", help="how the points are read")
    a = ap.parse_args()
    params = json.loads(a.params)
    engine = create_engine(a.url)
    t0 = time.perf_counter()
    with engine.connect() as conn:
        stations = read(conn, STATIONS_SQL, a.read)
        villages = read(conn, VILLAGES_SQL, a.read)
        farms = read(conn, FARMS_SQL, a.read)
    t1 = time.perf_counter()
    stations["lon"], stations["lat"] = stations.geometry.x, stations.geometry.y
    stations = stations.set_geometry(stations.geometry.to_crs(CRS))
    farms["pig_equivalents"] = pig_equivalents(farms, params)
    geod = Geod(ellps="WGS84")
    v_station, v_subject, v_planar = pairs_within(stations, villages, a.radius, geod)
    f_station, f_subject, f_planar = pairs_within(stations, farms, a.radius, geod)
    t2 = time.perf_counter()
    v_city, v_towns, v_stations, v_pairs = served_sums(
        villages, v_station, v_subject, stations, "villages", ("population", "households")
    )
    f_city, f_towns, f_stations, f_pairs = served_sums(
        farms, f_station, f_subject, stations, "farms", ("pig_equivalents", "head_count")
    )
    towns = v_towns.join(f_towns, how="outer").fillna(0)
    per_station = (
        pd.DataFrame(index=stations["id"])
        .join(v_stations.rename(columns={"count": "villages_served", "measure": "population_served"}))
        .join(f_stations.rename(columns={"count": "farms_served", "measure": "pig_equivalents_served"}))
        .fillna(0)
    )
    t3 = time.perf_counter()
    out: dict[str, Any] = {
        "city": {**v_city, **f_city},
        "stations": len(stations),
        "read": a.read,
        "pairs": {"villages": v_pairs, "farms": f_pairs},
        "planar_served": {"villages": v_planar, "farms": f_planar},
        "import_s": round(T_IMPORTED - T_START, 3),
        "load_s": round(t1 - t0, 3),
        "project_join_s": round(t2 - t1, 3),
        "aggregate_s": round(t3 - t2, 3),
        "load_project_join_s": round(t3 - t0, 3),
    }
    if a.detail:
        out["towns"] = {str(k): v for k, v in towns.to_dict(orient="index").items()}
        out["facilities"] = {str(k): v for k, v in per_station.to_dict(orient="index").items()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
