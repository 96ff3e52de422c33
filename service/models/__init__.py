"""The inventory's tables. `LAYERS` maps the public layer names to their models."""

from service.models.accounts import ApiToken, AuditEntry, User
from service.models.areas import City, Community, Grid, Town, Village
from service.models.base import SRID, STATUSES, Base
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
from service.models.history import FeatureHistory
from service.models.imports import ImportJob
from service.models.inspections import Inspection, InspectionPhoto
from service.models.planning import PlanningScenario
from service.models.roads import ROAD_CLASSES, RoadNode, RoadSegment
from service.vocabulary import (
    DISTANCE_MODES,
    END_LAYERS,
    FACILITY_LAYERS,
    MANURE_FACILITY_LAYERS,
    ROLES,
    STREAMS,
    WASTE_FACILITY_LAYERS,
    DistanceMode,
    FacilityLayer,
    Stream,
)

# The public layer names: fixed, used by export, OGC API, maps and import.
LAYERS: dict[str, type[Base]] = {
    "towns": Town,
    "grids": Grid,
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

__all__ = [
    "DISTANCE_MODES",
    "END_LAYERS",
    "FACILITY_LAYERS",
    "LAYERS",
    "MANURE_FACILITY_LAYERS",
    "ROAD_CLASSES",
    "ROLES",
    "SOURCE_COLUMNS",
    "SRID",
    "STATUSES",
    "STREAMS",
    "TARGET_COLUMNS",
    "WASTE_FACILITY_LAYERS",
    "ApiToken",
    "AuditEntry",
    "Base",
    "BiogasCenter",
    "ChainLink",
    "City",
    "CollectionPoint",
    "Community",
    "DistanceMode",
    "FacilityLayer",
    "FeatureHistory",
    "Grid",
    "ImportJob",
    "Inspection",
    "InspectionPhoto",
    "LivestockFarm",
    "ManureCenter",
    "PlanningScenario",
    "PublicToilet",
    "RoadNode",
    "RoadSegment",
    "Stream",
    "Town",
    "TransferStation",
    "TreatmentPlant",
    "User",
    "Village",
]
