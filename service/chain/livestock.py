"""Livestock measures shared by the flows and the coverage: head on hand, manure, pig equivalents.

`FARM_MEASURES_CTE` is two CTEs (`species`, `farm_measure`) to put after WITH; bind `:species` to
`species_json()`. farm_measure has one row per farm: id, town_id, status, the species coefficients
and `head_on_hand` (animals sold per year × feeding period / 365 where the head count is a yearly sale).
"""

from __future__ import annotations

import json

from service.chain.parameters import (
    FEEDING_DAYS,
    MANURE_KG_PER_HEAD_DAY,
    PIG_EQUIVALENT_PER_HEAD,
    WASTEWATER_L_PER_HEAD_DAY,
)


def species_json() -> str:
    return json.dumps(
        [
            {
                "species": species,
                "manure_kg": MANURE_KG_PER_HEAD_DAY[species],
                "wastewater_l": WASTEWATER_L_PER_HEAD_DAY[species],
                "pig_eq": PIG_EQUIVALENT_PER_HEAD[species],
                "feeding_days": FEEDING_DAYS.get(species),
            }
            for species in MANURE_KG_PER_HEAD_DAY
        ]
    )


SPECIES_SQL = """SELECT * FROM json_to_recordset(CAST(:species AS json))
        AS k(species text, manure_kg float8, wastewater_l float8, pig_eq float8, feeding_days float8)"""


def head_on_hand_sql(farm: str = "f", species: str = "k") -> str:
    """Animals on hand of a farm row `farm` joined to its species coefficients `species`."""
    return (
        f"CASE WHEN {farm}.head_count_basis = 'sold_per_year' "
        f"THEN {farm}.head_count * {species}.feeding_days / 365.0 ELSE {farm}.head_count END"
    )


FARM_MEASURES_CTE = f"""
species AS (
    {SPECIES_SQL}
), farm_measure AS (
    SELECT f.id, f.town_id, f.status, f.head_count, k.manure_kg, k.wastewater_l, k.pig_eq,
           {head_on_hand_sql()} AS head_on_hand
    FROM livestock_farms f JOIN species k ON k.species = f.species
)"""
