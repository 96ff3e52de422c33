"""Which properties of each editable layer a client may write, and which the database derives.

Read from the layer catalogue, so a column added to a model is editable (or derived) without a list to
update here: computed columns, ids, timestamps, versions and the town are never taken from input.
"""

from __future__ import annotations

from functools import cache

from service.features import catalogue
from service.features.catalogue import Field
from service.models import LAYERS

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
    return {f.name: f for f in layer.fields if f.name not in DERIVED and not _computed(f)}


@cache
def read_only(layer_name: str) -> frozenset[str]:
    """The properties served for this layer that a client may not set."""
    layer = catalogue.layer(layer_name)
    return frozenset(f.name for f in layer.fields) - frozenset(writable(layer_name))
