"""Indicators: every figure of the source document, computed live from the inventory.

Per city and per town. Nothing is typed in: change the data and the figures change.
Run `flows.compute()` first in the same transaction (flows feed the capacity figures).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from service.models import MANURE_FACILITY_LAYERS

# What each figure means (README "Indicators" explains how they are computed).
DEFINITIONS = {
    "population": "residents: villages plus urban communities",
    "rural_population": "residents of administrative villages",
    "villages": "administrative villages",
    "rural_communities": "rural communities grouping the villages",
    "urban_communities": "urban communities",
    "households": "rural households",
    "toilets_rebuilt": "rural household toilets newly built or rebuilt",
    "toilet_share": "toilets_rebuilt / households",
    "villages_waste_connected": "villages whose domestic waste reaches an operational treatment plant "
    "through operational facilities only",
    "population_waste_connected": "people living in those villages",
    "waste_connected_share": "villages_waste_connected / villages",
    "villages_sludge_connected": "villages whose toilet sludge reaches an operational manure or biogas "
    "centre",
    "waste_generated_t_per_day": "village population × per-capita rate (per-village override where set)",
    "sludge_generated_t_per_day": "rebuilt toilets × household size × excreta per person",
    "transfer_stations": "operational town transfer stations",
    "transfer_stations_campaign": "transfer stations built in the 2018–2020 campaign",
    "transfer_capacity_t_per_day": "summed capacity of the operational transfer stations",
    "transfer_capacity_ratio": "transfer_capacity_t_per_day / waste_generated_t_per_day",
    "large_farms": "farms at or above the large-scale threshold of their species",
    "large_farms_with_manure_facility": "large farms with an on-site manure facility",
    "large_farms_facility_share": "large_farms_with_manure_facility / large_farms",
    "large_farms_connected": "large farms whose manure reaches an operational manure or biogas centre",
    "manure_generated_t_per_day": "head on hand × species coefficient (operational farms)",
    "manure_pig_equivalents": "head on hand in pig equivalents (GB 18596-2001)",
    "manure_centers": "operational fecal/manure collection and treatment centres",
    "biogas_centers": "operational biogas centres",
    "incineration_capacity_t_per_day": "capacity of the operational incineration plants",
    "public_toilets_new": "urban public toilets newly built",
    "public_toilets_rebuilt": "urban public toilets rebuilt",
}

# Where each stream's material counts as treated.
TREATING_LAYERS = {
    "domestic_waste": ("treatment_plants",),
    "fecal_sludge": MANURE_FACILITY_LAYERS,
    "manure": MANURE_FACILITY_LAYERS,
}


def _connected_sql(stream: str, alias: str) -> str:
    """Sources upstream of an operational treating facility through operational nodes only."""
    ends = " UNION ".join(
        f"SELECT '{layer}'::text, id FROM {layer} WHERE status = 'operational'"
        for layer in TREATING_LAYERS[stream]
    )
    return f"""
    {alias}(layer, id) AS (
        {ends}
        UNION
        SELECT l.source_layer, l.source_id
        FROM {alias} u
        JOIN chain_links l ON l.stream = '{stream}' AND l.target_layer = u.layer AND l.target_id = u.id
        JOIN chain_node n ON n.layer = l.source_layer AND n.id = l.source_id AND n.status = 'operational'
    )"""


INDICATORS_SQL = f"""
WITH RECURSIVE
{_connected_sql("domestic_waste", "waste_up")},
{_connected_sql("fecal_sludge", "sludge_up")},
{_connected_sql("manure", "manure_up")},
village AS (
    SELECT v.town_id, count(*) AS villages, sum(v.population) AS rural_population,
           sum(v.households) AS households, sum(v.toilets_rebuilt) AS toilets_rebuilt,
           count(*) FILTER (WHERE w.id IS NOT NULL) AS villages_waste_connected,
           coalesce(sum(v.population) FILTER (WHERE w.id IS NOT NULL), 0) AS population_waste_connected,
           count(*) FILTER (WHERE s.id IS NOT NULL) AS villages_sludge_connected
    FROM villages v
    LEFT JOIN (SELECT DISTINCT id FROM waste_up WHERE layer = 'villages') w ON w.id = v.id
    LEFT JOIN (SELECT DISTINCT id FROM sludge_up WHERE layer = 'villages') s ON s.id = v.id
    GROUP BY v.town_id
), community AS (
    SELECT town_id, count(*) FILTER (WHERE kind = 'rural') AS rural_communities,
           count(*) FILTER (WHERE kind = 'urban') AS urban_communities,
           coalesce(sum(population) FILTER (WHERE kind = 'urban'), 0) AS urban_population
    FROM communities GROUP BY town_id
), generated AS (
    SELECT town_id,
           sum(t_per_day) FILTER (WHERE stream = 'domestic_waste') AS waste_generated_t_per_day,
           sum(t_per_day) FILTER (WHERE stream = 'fecal_sludge') AS sludge_generated_t_per_day,
           sum(t_per_day) FILTER (WHERE stream = 'manure') AS manure_generated_t_per_day,
           sum(pig_equivalents) AS manure_pig_equivalents
    FROM chain_generation GROUP BY town_id
), station AS (
    SELECT town_id, count(*) AS transfer_stations,
           count(*) FILTER (WHERE campaign = '2018-2020') AS transfer_stations_campaign,
           sum(capacity) AS transfer_capacity_t_per_day
    FROM transfer_stations WHERE status = 'operational' GROUP BY town_id
), farm AS (
    SELECT f.town_id, count(*) FILTER (WHERE f.is_large_scale) AS large_farms,
           count(*) FILTER (WHERE f.is_large_scale AND f.has_manure_facility)
               AS large_farms_with_manure_facility,
           count(*) FILTER (WHERE f.is_large_scale AND m.id IS NOT NULL) AS large_farms_connected
    FROM livestock_farms f
    LEFT JOIN (SELECT DISTINCT id FROM manure_up WHERE layer = 'livestock_farms') m ON m.id = f.id
    GROUP BY f.town_id
), centre AS (
    SELECT town_id, count(*) AS manure_centers FROM manure_centers
    WHERE status = 'operational' GROUP BY town_id
), biogas AS (
    SELECT town_id, count(*) AS biogas_centers FROM biogas_centers
    WHERE status = 'operational' GROUP BY town_id
), plant AS (
    SELECT town_id, sum(capacity) AS incineration_capacity_t_per_day FROM treatment_plants
    WHERE status = 'operational' AND kind = 'incineration' GROUP BY town_id
), toilet AS (
    SELECT town_id, count(*) FILTER (WHERE kind = 'new') AS public_toilets_new,
           count(*) FILTER (WHERE kind = 'rebuilt') AS public_toilets_rebuilt
    FROM public_toilets GROUP BY town_id
)
SELECT t.code, t.name, t.name_en, t.kind,
       coalesce(v.villages, 0) AS villages, coalesce(v.rural_population, 0) AS rural_population,
       coalesce(v.households, 0) AS households, coalesce(v.toilets_rebuilt, 0) AS toilets_rebuilt,
       coalesce(v.villages_waste_connected, 0) AS villages_waste_connected,
       coalesce(v.population_waste_connected, 0) AS population_waste_connected,
       coalesce(v.villages_sludge_connected, 0) AS villages_sludge_connected,
       coalesce(c.rural_communities, 0) AS rural_communities,
       coalesce(c.urban_communities, 0) AS urban_communities,
       coalesce(c.urban_population, 0) AS urban_population,
       coalesce(g.waste_generated_t_per_day, 0) AS waste_generated_t_per_day,
       coalesce(g.sludge_generated_t_per_day, 0) AS sludge_generated_t_per_day,
       coalesce(g.manure_generated_t_per_day, 0) AS manure_generated_t_per_day,
       coalesce(g.manure_pig_equivalents, 0) AS manure_pig_equivalents,
       coalesce(s.transfer_stations, 0) AS transfer_stations,
       coalesce(s.transfer_stations_campaign, 0) AS transfer_stations_campaign,
       coalesce(s.transfer_capacity_t_per_day, 0) AS transfer_capacity_t_per_day,
       coalesce(f.large_farms, 0) AS large_farms,
       coalesce(f.large_farms_with_manure_facility, 0) AS large_farms_with_manure_facility,
       coalesce(f.large_farms_connected, 0) AS large_farms_connected,
       coalesce(mc.manure_centers, 0) AS manure_centers, coalesce(b.biogas_centers, 0) AS biogas_centers,
       coalesce(p.incineration_capacity_t_per_day, 0) AS incineration_capacity_t_per_day,
       coalesce(pt.public_toilets_new, 0) AS public_toilets_new,
       coalesce(pt.public_toilets_rebuilt, 0) AS public_toilets_rebuilt
FROM towns t
LEFT JOIN village v ON v.town_id = t.id
LEFT JOIN community c ON c.town_id = t.id
LEFT JOIN generated g ON g.town_id = t.id
LEFT JOIN station s ON s.town_id = t.id
LEFT JOIN farm f ON f.town_id = t.id
LEFT JOIN centre mc ON mc.town_id = t.id
LEFT JOIN biogas b ON b.town_id = t.id
LEFT JOIN plant p ON p.town_id = t.id
LEFT JOIN toilet pt ON pt.town_id = t.id
ORDER BY t.code
"""

SUMMED = (
    "villages",
    "rural_population",
    "households",
    "toilets_rebuilt",
    "villages_waste_connected",
    "population_waste_connected",
    "villages_sludge_connected",
    "rural_communities",
    "urban_communities",
    "urban_population",
    "waste_generated_t_per_day",
    "sludge_generated_t_per_day",
    "manure_generated_t_per_day",
    "manure_pig_equivalents",
    "transfer_stations",
    "transfer_stations_campaign",
    "transfer_capacity_t_per_day",
    "large_farms",
    "large_farms_with_manure_facility",
    "large_farms_connected",
    "manure_centers",
    "biogas_centers",
    "incineration_capacity_t_per_day",
    "public_toilets_new",
    "public_toilets_rebuilt",
)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _with_ratios(figures: dict[str, Any]) -> dict[str, Any]:
    figures["population"] = figures["rural_population"] + figures["urban_population"]
    figures["toilet_share"] = _ratio(figures["toilets_rebuilt"], figures["households"])
    figures["waste_connected_share"] = _ratio(figures["villages_waste_connected"], figures["villages"])
    figures["transfer_capacity_ratio"] = _ratio(
        figures["transfer_capacity_t_per_day"], figures["waste_generated_t_per_day"]
    )
    figures["large_farms_facility_share"] = _ratio(
        figures["large_farms_with_manure_facility"], figures["large_farms"]
    )
    return figures


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def connected_ids(conn: Connection, stream: str, layer: str) -> set[int]:
    """Ids of the `layer` rows whose `stream` reaches an operational treating facility (after compute)."""
    if stream not in TREATING_LAYERS:
        raise ValueError(f"stream: {stream!r} is not one of {list(TREATING_LAYERS)}")
    rows = conn.execute(
        text(
            f"WITH RECURSIVE {_connected_sql(stream, 'up')} SELECT DISTINCT id FROM up WHERE layer = :layer"
        ),
        {"layer": layer},
    )
    return {int(r[0]) for r in rows}


def compute(conn: Connection) -> dict[str, Any]:
    """City totals, per-town figures and plant utilisation."""
    towns = [{k: _plain(v) for k, v in row.items()} for row in conn.execute(text(INDICATORS_SQL)).mappings()]
    city = {key: sum(t[key] for t in towns) for key in SUMMED}
    plants = [
        {k: _plain(v) for k, v in row.items()}
        for row in conn.execute(
            text(
                """
                SELECT p.code, p.name, p.name_en, p.kind, p.phase, p.status, f.capacity, f.inflow_t_per_day,
                       f.utilisation
                FROM treatment_plants p JOIN chain_facility f ON f.layer = 'treatment_plants' AND f.id = p.id
                ORDER BY p.code
                """
            )
        ).mappings()
    ]
    city_row = (
        conn.execute(text("SELECT code, name, name_en FROM cities ORDER BY id LIMIT 1")).mappings().first()
    )
    return {
        "city": {
            "code": city_row["code"] if city_row else None,
            "name": city_row["name"] if city_row else None,
            "name_en": city_row["name_en"] if city_row else None,
            **_with_ratios(city),
        },
        "plants": plants,
        "towns": [_with_ratios(t) for t in towns],
        "definitions": DEFINITIONS,
    }


def scoped(data: dict[str, Any], town: dict[str, Any] | None) -> dict[str, Any]:
    """The figures of one town in the place of the city's (`town`: find_town's row), or all of them."""
    if town is None:
        return data
    towns = [t for t in data["towns"] if t["code"] == town["code"]]
    figures = {k: v for k, v in towns[0].items() if k not in ("code", "name", "name_en", "kind")}
    city = {"code": town["code"], "name": town["name"], "name_en": town["name_en"], **figures}
    return {**data, "towns": towns, "city": city}
