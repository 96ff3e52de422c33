"""The inventory's tables. `LAYERS` maps the public layer names to their models."""

from service.models.areas import City, Community, Town, Village
from service.models.base import SRID, STATUSES, STREAMS, Base
from service.models.chain import SOURCE_COLUMNS, TARGET_COLUMNS, ChainLink
from service.models.facilities import (
    BiogasCenter,
    CollectionPoint,
    LivestockFarm,
    ManureCenter,
    PublicToilet,
    TransferStation,
    TreatmentPlant,
)
from service.models.planning import PlanningScenario
from service.models.roads import ROAD_CLASSES, RoadNode, RoadSegment

# The public layer names: fixed, used by export, OGC API, maps and import.
LAYERS: dict[str, type[Base]] = {
    "towns": Town,
    "villages": Village,
    "collection_points": CollectionPoint,
    "transfer_stations": TransferStation,
    "treatment_plants": TreatmentPlant,
    "manure_centers": ManureCenter,
    "biogas_centers": BiogasCenter,
    "livestock_farms": LivestockFarm,
    "public_toilets": PublicToilet,
    "chain_links": ChainLink,
}

# The chain's facility layers, upstream to downstream: what flows, coverage and maps iterate over.
FACILITY_LAYERS = (
    "collection_points",
    "transfer_stations",
    "treatment_plants",
    "manure_centers",
    "biogas_centers",
)

__all__ = [
    "FACILITY_LAYERS",
    "LAYERS",
    "ROAD_CLASSES",
    "SOURCE_COLUMNS",
    "SRID",
    "STATUSES",
    "STREAMS",
    "TARGET_COLUMNS",
    "Base",
    "BiogasCenter",
    "ChainLink",
    "City",
    "CollectionPoint",
    "Community",
    "LivestockFarm",
    "ManureCenter",
    "PlanningScenario",
    "PublicToilet",
    "RoadNode",
    "RoadSegment",
    "Town",
    "TransferStation",
    "TreatmentPlant",
    "Village",
]
