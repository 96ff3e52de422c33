"""Livestock measures shared by the flows and the coverage: head on hand, manure, pig equivalents.

`FARM_MEASURE_SELECT` has one row per farm: id, town_id, status, head_count, the species
coefficients and `head_on_hand` (animals sold per year × feeding period / 365 where the head count is
a yearly sale); `FARM_MEASURES_CTE` names it `farm_measure`, to put after WITH. Where a query joins
farms to their coefficients instead (`SPECIES_SQL`, a few thousand grouped rows), bind `:species` to
`species_json()`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

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


def head_on_hand_sql(farm: str = "f", feeding_days: str = "k.feeding_days") -> str:
    """Animals on hand of a farm row `farm`, given the SQL of its feeding days (by default the
    column of its species row `k`)."""
    return (
        f"CASE WHEN {farm}.head_count_basis = 'sold_per_year' "
        f"THEN {farm}.head_count * {feeding_days} / 365.0 ELSE {farm}.head_count END"
    )


def per_species(coefficients: Mapping[str, float], farm: str = "f") -> str:
    """A farm's coefficient as a CASE over its species (NULL for a species without one). The values
    are this module's constants written as float8 literals (`repr` round-trips a float exactly), so
    the figures equal the join's to the bit."""
    whens = " ".join(f"WHEN '{kind}' THEN {float(value)!r}::float8" for kind, value in coefficients.items())
    return f"CASE {farm}.species {whens} END"


# Every farm with its coefficients, without a join: the rows keep the order they are read in, so
# the whole chain's first hop reads the farms in id order along their links' range, a merge instead
# of a hash of 850,000 links (0.3-0.4 s less on national data, D124).
KNOWN_SPECIES = ", ".join(f"'{species}'" for species in MANURE_KG_PER_HEAD_DAY)
FARM_MEASURE_SELECT = f"""
SELECT f.id, f.town_id, f.status, f.head_count, {per_species(MANURE_KG_PER_HEAD_DAY)} AS manure_kg,
       {per_species(WASTEWATER_L_PER_HEAD_DAY)} AS wastewater_l,
       {per_species(PIG_EQUIVALENT_PER_HEAD)} AS pig_eq,
       {head_on_hand_sql("f", per_species(FEEDING_DAYS))} AS head_on_hand
FROM livestock_farms f WHERE f.species IN ({KNOWN_SPECIES})"""

FARM_MEASURES_CTE = f"farm_measure AS ({FARM_MEASURE_SELECT})"
