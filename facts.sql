\timing on
SET work_mem='256MB'; SET jit=off;
SELECT count(*), ST_NPoints(geom) FROM towns GROUP BY 2 ORDER BY 2 DESC LIMIT 3;
SELECT ST_NPoints(geom) FROM cities;
VACUUM ANALYZE k_import_rows;
CREATE TEMP TABLE a1 AS SELECT s.n, NULL::bigint AS target_id,
   CASE WHEN s.geom IS NOT NULL THEN (SELECT min(t.id) FROM towns t WHERE ST_Covers(t.geom, s.geom)) END AS town_id,
   CASE WHEN s.geom IS NOT NULL THEN EXISTS (SELECT 1 FROM cities c WHERE ST_CoveredBy(s.geom, c.geom)) END AS inside
   FROM k_import_rows s;
CREATE TEMP TABLE a2 AS SELECT s.n, (SELECT min(t.id) FROM towns t WHERE ST_Covers(t.geom, s.geom)) AS town_id FROM k_import_rows s;
CREATE TEMP TABLE a3 AS SELECT s.n, EXISTS (SELECT 1 FROM cities c WHERE ST_CoveredBy(s.geom, c.geom)) AS inside FROM k_import_rows s;
CREATE TEMP TABLE a4 AS SELECT s.n FROM k_import_rows s;
