"""Which properties of each editable layer a client may write, and which the database derives.

Read from the layer catalogue, so a column added to a model is editable (or derived) without a list to
update here: computed columns, ids, timestamps, versions and the town are never taken from input.
"""

from __future__ import annotations

from functools import cache

from service.features import catalogue
from service.features.catalogue import Field
from service.models import LAYERS, SOURCE_COLUMNS, TARGET_COLUMNS

# Everything any layer may edit: the inventory's layers (communities and the city are not served).
EDITABLE_LAYERS: tuple[str, ...] = tuple(LAYERS)
# Set by the database on every layer that has them (the town from the feature's position).
DERIVED = frozenset({"town_id", "town_code", "created_at", "updated_at", "version"})
# Layers whose geometry the database draws itself (a chain link runs from its source to its target).
DERIVED_GEOMETRY = frozenset({"chain_links"})


def _computed(field: Field) -> bool:
    column = getattr(field.column, "computed", None)
    return column is not None


@cache
def writable(layer_name: str) -> dict[str, Field]:
    """The properties a feature of this layer may set, by name."""
    layer = catalogue.layer(layer_name)
    return {f.name: f for f in layer.fields if f.name not in DERIVED and not f.derived and not _computed(f)}


@cache
def read_only(layer_name: str) -> frozenset[str]:
    """The properties served for this layer that a client may not set."""
    layer = catalogue.layer(layer_name)
    return frozenset(f.name for f in layer.fields) - frozenset(writable(layer_name))


# Names a client may use for a derived value that is not served under that name: refused as derived.
DERIVED_ALIASES = {"large_scale": "is_large_scale", "town": "town_code", "id": "id"}
# Columns that point at another table's row (checked to exist, and not closed).
REFERENCES: dict[str, dict[str, str]] = {
    "towns": {"city_id": "cities"},
    "villages": {"community_id": "communities"},
    "collection_points": {"village_id": "villages"},
    "chain_links": {
        **{column: layer for column, layer in SOURCE_COLUMNS.items()},
        **{column: layer for column, layer in TARGET_COLUMNS.items()},
    },
}
# Code format per layer (the CHECK constraints'); layers not listed have no code.
CODE_PATTERNS = {
    "towns": r"^[0-9]{9}$",
    **{name: r"^[A-Za-z0-9][A-Za-z0-9_.-]*$" for name in LAYERS if name not in ("towns", "chain_links")},
}
# Longest text a property may hold (characters): codes and names are labels, the rest free text.
MAX_LENGTH = {"code": 64, "name": 200, "name_en": 200}
MAX_TEXT_LENGTH = 2000
# Closed ranges beyond "not negative" (None: no bound), from the CHECK constraints.
RANGES: dict[str, tuple[int | float, int | float | None]] = {
    "forwarded_share": (0, 1),
    "waste_rate_kg_per_person_day": (0, 5),
    "phase": (1, None),
}


def nullable(field: Field) -> bool:
    column = field.column
    return bool(getattr(column, "nullable", True))


@cache
def required(layer_name: str) -> frozenset[str]:
    """The properties a new feature must give: NOT NULL columns without a default of the database."""
    return frozenset(
        name
        for name, f in writable(layer_name).items()
        if not nullable(f) and getattr(f.column, "server_default", None) is None
    )


def has_status(layer_name: str) -> bool:
    return "status" in writable(layer_name)
