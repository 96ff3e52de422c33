"""The vocabularies, defined once: facility layers, streams, distance modes and roles, as tuples and enums.

The tuples feed SQL, CHECK constraints and command-line choices; the enums are the same values for
the API's parameters and bodies (FastAPI validates them and lists them in the OpenAPI document).
Re-exported by `service.models`; this module imports nothing of the project, so the command line
reads its choices without loading the models.
"""

from __future__ import annotations

from enum import StrEnum

STREAMS = ("domestic_waste", "fecal_sludge", "manure")
# The facility layers of the domestic-waste chain, upstream to downstream.
WASTE_FACILITY_LAYERS = ("collection_points", "transfer_stations", "treatment_plants")
# The facility layers that take fecal sludge and manure, upstream to downstream.
MANURE_FACILITY_LAYERS = ("manure_centers", "biogas_centers")
# Every facility layer of the chain: what flows, coverage, siting and maps iterate over.
FACILITY_LAYERS = WASTE_FACILITY_LAYERS + MANURE_FACILITY_LAYERS
# Where a stream's material leaves the chain as treated.
END_LAYERS = ("treatment_plants", "biogas_centers")
# How coverage measures a distance: on the WGS84 spheroid, or along the road network.
DISTANCE_MODES = ("geodesic", "road")

# Built from the tuples (mypy cannot list the members of an enum built this way).
FacilityLayer = StrEnum("FacilityLayer", [(name, name) for name in FACILITY_LAYERS])  # type: ignore[misc]
Stream = StrEnum("Stream", [(name, name) for name in STREAMS])  # type: ignore[misc]
DistanceMode = StrEnum("DistanceMode", [(name, name) for name in DISTANCE_MODES])  # type: ignore[misc]

# What an inspector visits: every facility of the chain, the farms' on-site facilities and public toilets.
INSPECTED_LAYERS = (*FACILITY_LAYERS, "livestock_farms", "public_toilets")
# What a visit found, best to worst.
INSPECTION_OUTCOMES = ("ok", "defects", "out_of_service")
# The photo types an inspection keeps, told by their first bytes.
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")

# The roles of an account, least to most: a viewer reads; an inspector records inspections; a planner
# saves scenarios and runs siting; an editor edits the inventory and imports; an admin does everything.
ROLES = ("viewer", "inspector", "planner", "editor", "admin")
