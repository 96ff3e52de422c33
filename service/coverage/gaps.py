"""Gaps: the unserved villages and farms, ranked, and clustered into gap areas (`Coverage.gaps`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from service.errors import BadParameter

MAX_CLUSTER_M = 50_000.0


def utm_srid(conn: Connection) -> int:
    """EPSG code of the WGS84 UTM zone at the centre of the villages: metres for clustering."""
    lon, lat = conn.execute(
        text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)) AS c FROM villages) x")
    ).one()
    if lon is None:
        return 32650
    zone = int((lon + 180) // 6) + 1
    return (32600 if lat >= 0 else 32700) + zone


GAPS_SQL = """
WITH unserved AS (
    SELECT 'village'::text AS kind, g.id, g.code, g.name, NULL::text AS name_en, t.code AS town_code,
           v.population::float8 AS population, 0::float8 AS pig_equivalents, g.geom
    FROM cov_village v JOIN villages g ON g.id = v.id LEFT JOIN towns t ON t.id = g.town_id
    WHERE NOT v.served
    UNION ALL
    SELECT 'farm', g.id, g.code, g.name, g.name_en, t.code, 0, f.pig_equivalents, g.geom
    FROM cov_farm f JOIN livestock_farms g ON g.id = f.id LEFT JOIN towns t ON t.id = g.town_id
    WHERE NOT f.served
), clustered AS (
    SELECT u.*, ST_ClusterKMeans(ST_Transform(u.geom, :srid), 1, :radius) OVER () AS cluster
    FROM unserved u
)
SELECT cluster, kind, id, code, name, name_en, town_code, population, pig_equivalents,
       ST_X(geom) AS lon, ST_Y(geom) AS lat
FROM clustered
ORDER BY cluster, kind, code
"""

CLUSTERS_SQL = """
WITH unserved AS (
    SELECT 'village'::text AS kind, v.population::float8 AS population, 0::float8 AS pig_equivalents, g.geom
    FROM cov_village v JOIN villages g ON g.id = v.id WHERE NOT v.served
    UNION ALL
    SELECT 'farm', 0, f.pig_equivalents, g.geom
    FROM cov_farm f JOIN livestock_farms g ON g.id = f.id WHERE NOT f.served
), clustered AS (
    SELECT u.*, ST_ClusterKMeans(ST_Transform(u.geom, :srid), 1, :radius) OVER () AS cluster
    FROM unserved u
)
SELECT cluster,
       count(*) FILTER (WHERE kind = 'village') AS villages, sum(population) AS population,
       count(*) FILTER (WHERE kind = 'farm') AS farms, sum(pig_equivalents) AS pig_equivalents,
       ST_X(ST_Centroid(ST_Collect(geom))) AS lon, ST_Y(ST_Centroid(ST_Collect(geom))) AS lat,
       ST_AsGeoJSON(ST_ConvexHull(ST_Collect(geom)), 6)::json AS hull
FROM clustered
GROUP BY cluster
ORDER BY sum(population) DESC, sum(pig_equivalents) DESC, cluster
"""


def find(conn: Connection, cluster_radius_m: float, limit: int = 100) -> dict[str, Any]:
    """Unserved villages (by population) and farms (by pig equivalents), and gap clusters.

    Gap areas are k-means clusters grown until none is wider than `cluster_radius_m` (PostGIS
    ST_ClusterKMeans with max_radius), so each one could be served by one new facility of that reach.
    """
    if not 0 < cluster_radius_m <= MAX_CLUSTER_M:
        raise BadParameter(
            "cluster_radius_m", f"must be > 0 and ≤ {MAX_CLUSTER_M:,.0f}, got {cluster_radius_m:g}"
        )
    params = {"srid": utm_srid(conn), "radius": cluster_radius_m}
    members = [dict(r) for r in conn.execute(text(GAPS_SQL), params).mappings()]
    clusters = [dict(r) for r in conn.execute(text(CLUSTERS_SQL), params).mappings()]
    rank = {c["cluster"]: i + 1 for i, c in enumerate(clusters)}
    for c in clusters:
        c["rank"] = rank[c["cluster"]]
        c["population"] = float(c["population"] or 0)
        c["pig_equivalents"] = float(c["pig_equivalents"] or 0)
        mine = [m["code"] for m in members if m["cluster"] == c["cluster"]]
        c["members"] = mine[:limit]
        c["members_total"] = len(mine)  # `limit` cuts the list, never silently
        c["members_truncated"] = len(mine) > limit
    for m in members:
        m["gap_rank"] = rank[m["cluster"]]
    villages = sorted(
        (m for m in members if m["kind"] == "village"), key=lambda m: (-m["population"], m["code"])
    )
    farms = sorted(
        (m for m in members if m["kind"] == "farm"), key=lambda m: (-m["pig_equivalents"], m["code"])
    )
    for c in clusters:
        del c["cluster"]
    for m in members:
        del m["cluster"]
    return {
        "cluster_radius_m": cluster_radius_m,
        "clustering": f"k-means on EPSG:{params['srid']} (UTM) with max_radius = cluster_radius_m",
        "villages": villages[:limit],
        "farms": farms[:limit],
        "villages_unserved": len(villages),
        "farms_unserved": len(farms),
        "clusters": clusters[:limit],
        "clusters_total": len(clusters),
        "limit": limit,
        # which lists `limit` cut (the totals above count everything)
        "truncated": {
            "villages": len(villages) > limit,
            "farms": len(farms) > limit,
            "clusters": len(clusters) > limit,
            "members": any(c["members_truncated"] for c in clusters),
        },
    }
