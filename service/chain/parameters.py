"""Planning parameters of the chain computation, each with its source.

The city's own values come from the environment (`service.config.ChainSettings`, `SANICHAIN_…`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.config import ChainSettings, settings
from service.models import STREAMS as STREAMS  # the chain's streams are the models' (one list)

# Stage of each layer in each stream (household → village → town → city).
STAGES: dict[str, dict[str, int]] = {
    "domestic_waste": {"villages": 0, "collection_points": 1, "transfer_stations": 2, "treatment_plants": 3},
    "fecal_sludge": {"villages": 0, "manure_centers": 1, "biogas_centers": 2},
    "manure": {"livestock_farms": 0, "manure_centers": 1, "biogas_centers": 2},
}
# Links that jump a stage on purpose: a farm next to the biogas centre delivers to it directly.
ALLOWED_SKIPS = {("manure", "livestock_farms", "biogas_centers")}
SOURCE_LAYERS = {"domestic_waste": "villages", "fecal_sludge": "villages", "manure": "livestock_farms"}

# Manure per head and day on large farms (kg solid manure, litres wastewater): national coefficient
# tables as given in DESIGN.md.
MANURE_KG_PER_HEAD_DAY = {"pig": 2.0, "dairy": 20.0, "beef": 10.0, "layer": 0.1, "broiler": 0.1, "sheep": 2.6}
WASTEWATER_L_PER_HEAD_DAY = {
    "pig": 10.0,
    "dairy": 48.0,
    "beef": 24.0,
    "layer": 0.25,
    "broiler": 0.25,
    "sheep": 0.0,
}
# Pig equivalents (GB 18596-2001): 30 layers = 60 broilers = 3 sheep = 1 pig; dairy cow 10, beef 5.
PIG_EQUIVALENT_PER_HEAD = {
    "pig": 1.0,
    "dairy": 10.0,
    "beef": 5.0,
    "layer": 1 / 30,
    "broiler": 1 / 60,
    "sheep": 1 / 3,
}
# Where head_count counts animals sold per year, the animals on hand are sold × feeding period / 365.
# Typical feeding periods (days), a planning assumption: fattening pig 180, broiler 60, beef 365, sheep 180.
FEEDING_DAYS = {"pig": 180, "broiler": 60, "beef": 365, "sheep": 180}


class ChainParameters(BaseModel):
    """Defaults from DESIGN.md; every one can be set per city through the environment. Values given
    here win over the environment's, which win over the defaults."""

    model_config = ConfigDict(extra="ignore")

    # Rural domestic waste per person (闫骏 et al. 2014; 李丹 et al. 2018; range seen 0.4–1.1).
    waste_kg_per_person_day: float = Field(default=0.4, gt=0, le=5)
    # Excreta per person using a rebuilt toilet: median faeces 0.128 kg + urine 1.42 L
    # (Rose et al. 2015, "The characterization of feces and urine: a review", Crit. Rev. Env. Sci. Tech.).
    # A toilet's sludge is this × the persons of its household (village population / households).
    excreta_kg_per_person_day: float = Field(default=1.55, gt=0, le=10)
    # Village → collection point: ≤1 km by cart, ≤3 km by small motor vehicle (GB/T 51435-2021 §4.4).
    max_village_collection_m: float = Field(default=3000, gt=0)
    # Utilisation above this ratio is a warning; above 1.0 an error.
    utilisation_warning: float = Field(default=0.9, gt=0, le=1)

    @model_validator(mode="before")
    @classmethod
    def _city_values(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {**settings(ChainSettings).overrides(), **data}
        return data
