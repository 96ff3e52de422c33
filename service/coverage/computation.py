"""The one entry point of a coverage question: `compute()` prepares it, the `Coverage` reads its answers.

The router, the coverage map and the scenarios all go through here, so the sequence (temporary tables,
summary, road access, features, gaps, map rows) is written once and the `cov_*` tables stay private
to this package.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, text

from service.coverage import gaps, report
from service.coverage import query as cov
from service.coverage.road_reach import RoadNetworkMissing
from service.reports.columns import Lang
from service.roads import network

Rows = TypeVar("Rows")
ROAD_METHOD = "road (pgRouting pgr_drivingDistance)"
# Said before any work when road distances are asked for without a network.
NO_NETWORK = (
    "distance_mode: road needs a road network and none is loaded "
    "(import one with `sanichain roads import FILE`)"
)
MAP_VILLAGES_SQL = """SELECT v.id, g.code, g.name, {latlon}, v.population, v.served,
                   round(v.nearest_m::numeric, 1) AS nearest_m
            FROM cov_village v JOIN villages g ON g.id = v.id ORDER BY v.id"""
MAP_FARMS_SQL = """SELECT f.id, g.code, g.name, {latlon}, g.species,
                   round(f.pig_equivalents::numeric, 1) AS pig_equivalents, f.served,
                   round(f.nearest_m::numeric, 1) AS nearest_m
            FROM cov_farm f JOIN livestock_farms g ON g.id = f.id ORDER BY f.id"""


def require_network(engine: Engine, q: cov.CoverageQuery) -> None:
    """Road mode without a network conflicts with the database's state: RoadNetworkMissing."""
    if q.distance_mode == "road":
        with engine.connect() as conn:
            if not network.loaded(conn):
                raise RoadNetworkMissing(NO_NETWORK)


@dataclass
class Coverage:
    """A prepared coverage question, valid inside the transaction `compute()` ran in."""

    conn: Connection
    query: cov.CoverageQuery
    distance_m: float

    @property
    def road(self) -> bool:
        return self.query.distance_mode == "road"

    def summary(self, subjects: tuple[str, ...] | None = None) -> dict[str, Any]:
        """City, town and facility figures of `subjects` (default: those asked for; the others,
        when named, count as served by nothing)."""
        return cov.summary(self.conn, self.query.subjects if subjects is None else subjects)

    def road_access(self) -> dict[str, Any]:
        """Road mode: the snap tolerance and what lies off the network."""
        return cov.road_access(self.conn, self.query)

    def about(self) -> dict[str, Any]:
        """What was asked and how it was answered: the members before the figures."""
        q = self.query
        meta: dict[str, Any] = {
            "layer": q.layer,
            "distance_m": self.distance_m,
            "method": ROAD_METHOD if self.road else "geodesic",
            "statuses": list(q.statuses),
            "kind": q.kind,
            **({} if q.subjects == cov.SUBJECTS else {"subjects": list(q.subjects)}),
            "distance_source": cov.DISTANCE_SOURCES.get(q.layer) if q.distance_m is None else "request",
        }
        if self.road:
            meta["road"] = self.road_access()
        return meta

    def features(self) -> Iterator[str]:
        """GeoJSON Feature texts: villages and farms with `served`, and each facility's service area."""
        rows = self.conn.execution_options(stream_results=True, max_row_buffer=500).execute(
            text(cov.features_sql(self.distance_m, road=self.road))
        )
        for (feature,) in rows:
            yield feature

    def gaps(self, cluster_radius_m: float | None, limit: int) -> dict[str, Any]:
        """Unserved villages and farms, ranked, and their gap areas (default radius: the reach)."""
        return gaps.find(self.conn, cluster_radius_m or self.distance_m, limit)

    def workbook(
        self, meta: dict[str, Any], result: dict[str, Any], lang: Lang, names: Mapping[str, str]
    ) -> bytes:
        return report.workbook_of_coverage(self.conn, meta, result, lang, names)

    def subject_layers(self, read: Callable[[Connection, str], Rows], latlon: str) -> tuple[Rows, Rows]:
        """Villages and farms with `served` and `nearest_m`, each read by `read(conn, sql)`; `latlon`
        is the SELECT of `lat` and `lon` of `g` (the map's rounding)."""
        return (
            read(self.conn, MAP_VILLAGES_SQL.format(latlon=latlon)),
            read(self.conn, MAP_FARMS_SQL.format(latlon=latlon)),
        )

    def road_service_areas(self) -> list[dict[str, Any]]:
        """Road mode's service areas (hulls of the road nodes within reach) with a geometry, as
        features; a facility off the road network reaches nothing and has none."""
        areas = []
        for (feature_text,) in self.conn.execute(text(cov.service_areas_sql(self.distance_m, road=True))):
            f = json.loads(feature_text)
            if f["geometry"] is not None:
                areas.append(f)
        return areas


def compute(conn: Connection, q: cov.CoverageQuery) -> Coverage:
    """Prepare the question in `conn`'s transaction (CoverageError, RoadNetworkMissing)."""
    return Coverage(conn, q, cov.prepare(conn, q))


@contextmanager
def computed(engine: Engine, q: cov.CoverageQuery) -> Iterator[Coverage]:
    """A transaction with the question prepared; its temporary tables vanish at the end."""
    with engine.connect() as conn, conn.begin():
        yield compute(conn, q)


def feature_texts(engine: Engine, q: cov.CoverageQuery) -> Generator[str, None, None]:
    """The features of `q`, computed on the first `next()`: for a stream that opens its own connection."""
    with computed(engine, q) as coverage:
        yield from coverage.features()
