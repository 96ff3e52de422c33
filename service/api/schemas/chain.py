"""Response bodies of the chain: flows as lines, facility loads, the integrity report and the indicators.

Every member says what it is and in which unit: t/day for flows and loads, metres for lengths,
fractions (0–1, not percentages) for shares and utilisation. The indicators' figures are described from
the same definitions that label them on the page and in the reports (`chain.indicator_figures`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, create_model

from service.api.schemas.common import Body
from service.chain.indicator_figures import FIGURES
from service.chain.indicators import DEFINITIONS
from service.reports.columns import Column

T_DAY = "t/day"
SHARE = "fraction 0–1 (1 = 100 %)"


class ChainParametersUsed(Body):
    """The chain's parameters the answer was computed with (environment overrides and the request's
    `waste_kg_per_person_day` applied)."""

    waste_kg_per_person_day: float = Field(description="rural domestic waste per person, kg/person/day")
    excreta_kg_per_person_day: float = Field(
        description="excreta per person using a rebuilt toilet, kg/person/day"
    )
    max_village_collection_m: float = Field(
        description="longest village → collection point link before it is a finding, m"
    )
    utilisation_warning: float = Field(description=f"utilisation above which a load is a warning, {SHARE}")


# -- /chain/flows ----------------------------------------------------------------------------------
class FlowProperties(Body):
    stream: str = Field(description="domestic_waste, fecal_sludge or manure")
    source_layer: str = Field(description="the layer the material comes from (villages, livestock_farms, …)")
    source_id: int = Field(description="the source's id in its layer")
    source_code: str = Field(description="the source's code")
    source_name: str = Field(description="the source's Chinese name")
    target_layer: str = Field(description="the facility layer the material goes to")
    target_id: int = Field(description="the target's id in its layer")
    target_code: str = Field(description="the target's code")
    target_name: str = Field(description="the target's Chinese name")
    flow_t_per_day: float = Field(description=f"material carried by the link, {T_DAY} (4 decimals)")
    length_m: float = Field(description="geodesic length of the link, m (1 decimal)")


class LineString(Body):
    type: str = Field(pattern="^LineString$")
    coordinates: list[list[float]] = Field(description="lon/lat (CRS84), source first, 6 decimals")


class FlowFeature(Body):
    type: str = Field(pattern="^Feature$")
    id: int = Field(description="the chain link's id")
    geometry: LineString
    properties: FlowProperties


class Flows(Body):
    """The chain links (of the stream and town asked for) as GeoJSON lines with their flow."""

    type: str = Field(pattern="^FeatureCollection$")
    features: list[FlowFeature]


# -- /chain/facilities -----------------------------------------------------------------------------
class FacilityLoad(Body):
    layer: str = Field(description="the facility's layer")
    id: int = Field(description="its id in the layer")
    code: str
    name: str = Field(description="Chinese name")
    status: str = Field(description="planned, under_construction, operational, suspended or closed")
    capacity: float | None = Field(description="recorded capacity, in capacity_unit; null when none")
    capacity_unit: str = Field(description="the capacity's unit (t/d)")
    town_code: str | None = Field(description="9-digit code of its town")
    inflow_t_per_day: float = Field(description=f"material arriving, every stream, {T_DAY}")
    inflow_by_stream: dict[str, float] = Field(description=f"stream → material arriving, {T_DAY}")
    utilisation: float | None = Field(description=f"inflow / capacity, {SHARE}; null without capacity")


class StreamTotal(Body):
    stream: str = Field(description="domestic_waste, fecal_sludge or manure")
    generated_t_per_day: float | None = Field(description=f"generated at the sources, {T_DAY}")
    unconnected_t_per_day: float | None = Field(
        description=f"generated at sources with no downstream link, {T_DAY}"
    )
    delivered_t_per_day: float | None = Field(
        description=f"arriving at the end of the chain (plant, biogas centre), {T_DAY}"
    )
    retained_t_per_day: float | None = Field(
        description=f"treated on site at intermediate facilities (not forwarded), {T_DAY}"
    )


class ChainFacilities(Body):
    facilities: list[FacilityLoad] = Field(description="each facility (of the layer and town asked for)")
    streams: list[StreamTotal] = Field(description="each stream's totals (of the town asked for)")
    parameters: ChainParametersUsed


# -- /chain/integrity ------------------------------------------------------------------------------
class IntegritySummary(Body):
    errors: int = Field(description="findings of severity error")
    warnings: int = Field(description="findings of severity warning")
    by_rule: dict[str, int] = Field(description="rule → its findings (rules without any left out)")


class IntegrityFinding(Body):
    rule: str = Field(description="the rule broken (a key of `rules`)")
    severity: str = Field(description="error or warning")
    layer: str = Field(description="the layer of the feature at fault")
    id: int = Field(description="its id in the layer")
    code: str
    name: str = Field(description="Chinese name")
    town_code: str | None = Field(description="9-digit code of its town")
    stream: str | None = Field(description="the stream concerned, or null for a facility as a whole")
    message: str = Field(description="what is wrong, in English")
    numbers: dict[str, Any] = Field(
        description="the figures behind the finding (e.g. inflow_t_per_day, capacity, utilisation, "
        "length_m, max_m), in t/day, m and fractions"
    )


class Integrity(Body):
    summary: IntegritySummary
    rules: dict[str, str] = Field(description="rule → what it checks")
    findings: list[IntegrityFinding] = Field(description="errors first (of the town, stream, severity asked)")


# -- /indicators -----------------------------------------------------------------------------------
def _unit(column: Column) -> str:
    if column.kind == "share":
        return SHARE
    return column.unit_en or ("count" if column.kind == "count" else "")


def _figure_type(column: Column) -> Any:
    if column.kind == "count":
        return int
    if column.kind in ("share", "ratio"):
        return float | None  # no denominator (a town without farms): null
    return float


def _figure_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, column in FIGURES.items():
        unit = _unit(column)
        meaning = DEFINITIONS.get(key, column.en)
        description = f"{column.en} / {column.zh}" + (f", {unit}" if unit else "") + f": {meaning}"
        fields[key] = (_figure_type(column), Field(description=description))
    return fields


_FIGURES = _figure_fields()
IndicatorFigures = create_model(
    "IndicatorFigures",
    __base__=Body,
    __doc__="The city's (or a town's) figures, computed live from the inventory.",
    code=(str, Field(description="6-digit city code, or the 9-digit town code")),
    name=(str, Field(description="Chinese name")),
    name_en=(str | None, Field(description="English name, when recorded")),
    **_FIGURES,
)
TownIndicatorFigures = create_model(
    "TownIndicatorFigures",
    __base__=IndicatorFigures,
    __doc__="A town's figures.",
    kind=(str, Field(description="subdistrict, town or development_zone")),
)


class PlantLoad(Body):
    code: str
    name: str = Field(description="Chinese name")
    name_en: str | None = Field(description="English name, when recorded")
    kind: str = Field(description="incineration or landfill")
    phase: int | None = Field(description="the incineration plant's phase")
    status: str = Field(description="planned, under_construction, operational, suspended or closed")
    capacity: float | None = Field(description=f"{T_DAY}")
    inflow_t_per_day: float = Field(description=f"domestic waste arriving, {T_DAY}")
    utilisation: float | None = Field(description=f"inflow / capacity, {SHARE}")


Indicators = create_model(
    "Indicators",
    __base__=Body,
    __doc__="The indicators of the city (or of one town), its towns and the treatment plants.",
    city=(IndicatorFigures, Field(description="the city's figures (the town's, when `town` is given)")),
    towns=(list[TownIndicatorFigures], Field(description="the same figures per town")),  # type: ignore[valid-type]
    plants=(list[PlantLoad], Field(description="treatment plants with their loads")),
    definitions=(dict[str, str], Field(description="figure → how it is computed")),
    parameters=(ChainParametersUsed, Field(description="the chain's parameters used")),
)


__all__ = ["ChainFacilities", "Flows", "Indicators", "Integrity"]
