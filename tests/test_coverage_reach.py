"""The pair query's lon/lat box (D114) loses nothing within reach: farms and villages placed a metre
inside and a metre outside the distance, in every direction, at any latitude, across the antimeridian
and over a pole, with their pig equivalents summed per the chain's coefficients."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from service.chain.parameters import FEEDING_DAYS, PIG_EQUIVALENT_PER_HEAD
from service.coverage import query as cov
from tests import worlds

SPECIES = ("pig", "dairy", "beef", "layer", "broiler", "sheep")
SOLD_PER_YEAR = {"pig", "beef", "sheep", "broiler"}  # the others count head on hand
AZIMUTHS = range(0, 360, 30)


def pig_equivalents(species: str, head_count: int) -> float:
    on_hand = head_count * FEEDING_DAYS[species] / 365 if species in SOLD_PER_YEAR else head_count
    return on_hand * PIG_EQUIVALENT_PER_HEAD[species]


def ring_world(engine: Engine, station: worlds.Lonlat, distance_m: float) -> dict[str, float]:
    """One station; per azimuth a farm and a village 1 m inside the reach and 1 m outside, plus a
    suspended farm at the station. Returns the pig equivalents of the farms within reach, by code."""
    served: dict[str, float] = {}
    with engine.begin() as conn:
        worlds.one_town(conn, worlds.square(119, 36, 0.4), station)  # the outline constrains nothing here
        worlds.facility(conn, "transfer_stations", "S1", station, name="中转站")
        for i, azimuth in enumerate(AZIMUTHS):
            species = SPECIES[i % len(SPECIES)]
            heads = 100 + 37 * i
            for side, metres in (("IN", distance_m - 1), ("OUT", distance_m + 1)):
                at = worlds.offset(station, azimuth, metres)
                worlds.farm(conn, f"F{side}{azimuth}", at, species, heads)
                worlds.village(conn, f"V{side}{azimuth}", at, 10 + i)
            served[f"FIN{azimuth}"] = pig_equivalents(species, heads)
        worlds.farm(conn, "SUSPENDED", station, "pig", 5000, status="suspended")
    return served


@pytest.mark.parametrize(
    ("station", "distance_m"),
    [
        ((119.2, 36.2), 3000.0),  # the service's own latitude, the standard reach
        ((24.0, 68.5), 3000.0),  # far north: a degree of longitude is a third as long
        ((-70.6, -33.4), 25000.0),
        ((10.0, 45.0), 100_000.0),  # the largest reach accepted
        ((179.99, -16.5), 3000.0),  # across the antimeridian
        ((0.0, 89.99), 3000.0),  # over the north pole
    ],
)
def test_every_farm_and_village_within_reach_is_served_and_none_beyond(empty_engine, station, distance_m):
    served = ring_world(empty_engine, station, distance_m)
    with empty_engine.connect() as conn, conn.begin():
        cov.prepare(conn, cov.CoverageQuery("transfer_stations", distance_m))
        farms = dict(
            conn.execute(
                text("SELECT g.code, f.served FROM cov_farm f JOIN livestock_farms g USING (id)")
            ).all()
        )
        villages = dict(
            conn.execute(text("SELECT g.code, v.served FROM cov_village v JOIN villages g USING (id)")).all()
        )
        result = cov.summary(conn)
    assert {code for code, is_served in farms.items() if is_served} == set(served)
    assert "SUSPENDED" not in farms  # only operational farms count
    assert {code for code, is_served in villages.items() if is_served} == {f"VIN{a}" for a in AZIMUTHS}
    city = result["city"]
    assert (city["farms_total"], city["farms_served"]) == (2 * len(AZIMUTHS), len(AZIMUTHS))
    assert city["pig_equivalents_served"] == pytest.approx(sum(served.values()), rel=1e-12)
    # totals: each served farm has a twin 2 m farther out; the suspended farm counts nowhere
    assert city["pig_equivalents_total"] == pytest.approx(2 * sum(served.values()), rel=1e-12)
    assert city["head_count_total"] == 2 * sum(100 + 37 * i for i in range(len(AZIMUTHS)))
    (town,) = result["towns"]
    assert (town["farms_total"], town["farms_served"]) == (2 * len(AZIMUTHS), len(AZIMUTHS))
    assert town["pig_equivalents_total"] == pytest.approx(2 * sum(served.values()), rel=1e-12)
    assert city["villages_served"] == len(AZIMUTHS)
    assert city["population_served"] == sum(10 + i for i in range(len(AZIMUTHS)))
    (station_row,) = result["facilities"]
    assert station_row["farms_served"] == len(AZIMUTHS)
    assert station_row["pig_equivalents_served"] == pytest.approx(sum(served.values()), rel=1e-12)


def test_a_farm_served_by_two_stations_counts_once_in_the_city_and_in_each_station(empty_engine):
    station = (119.2, 36.2)
    other = worlds.offset(station, 90, 4000)
    with empty_engine.begin() as conn:
        worlds.one_town(conn, worlds.square(119, 36, 0.4), station)
        worlds.facility(conn, "transfer_stations", "S1", station, name="一站")
        worlds.facility(conn, "transfer_stations", "S2", other, name="二站")
        worlds.farm(conn, "BOTH", worlds.offset(station, 90, 2000), "dairy", 120)  # 2 km from each
        worlds.farm(conn, "ONLY1", worlds.offset(station, 270, 1000), "pig", 730)
    with empty_engine.connect() as conn, conn.begin():
        cov.prepare(conn, cov.CoverageQuery("transfer_stations", 3000, subjects=("farms",)))
        result = cov.summary(conn, ("farms",))
    assert result["city"]["farms_served"] == 2
    assert result["city"]["pig_equivalents_served"] == pytest.approx(120 * 10 + 730 * 180 / 365)
    by_code = {f["code"]: (f["farms_served"], f["pig_equivalents_served"]) for f in result["facilities"]}
    assert by_code["S1"] == (2, pytest.approx(1200 + 360))
    assert by_code["S2"] == (1, pytest.approx(1200))
