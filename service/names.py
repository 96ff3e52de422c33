"""A feature's name in the reader's language: the English name (`name_en`) where `lang=en` and the
feature has one, else its Chinese name (the default, and every village's only name).

The towns, the city and every point layer but the villages carry `name_en` (service.models); a page
or a document asks here rather than joining it itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Literal

from sqlalchemy import Connection, text

from service.models import FACILITY_LAYERS

Lang = Literal["zh", "en"]
# The layers with an English name of their own (villages have none).
ENGLISH_NAMED = ("towns", *FACILITY_LAYERS, "livestock_farms", "public_toilets")


def local(name: str | None, name_en: str | None, lang: str) -> str | None:
    """`name_en` in English when there is one, else the Chinese `name`."""
    return name_en if lang == "en" and name_en else name


def english_names(conn: Connection, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """The English names of the (layer, id) given that have one; one query per layer asked about."""
    by_layer: dict[str, set[int]] = defaultdict(set)
    for layer, feature_id in keys:
        if layer in ENGLISH_NAMED and feature_id is not None and feature_id > 0:
            by_layer[layer].add(int(feature_id))
    found: dict[tuple[str, int], str] = {}
    for layer, ids in by_layer.items():
        rows = conn.execute(
            text(f"SELECT id, name_en FROM {layer} WHERE id = ANY(:ids) AND name_en <> ''"),
            {"ids": sorted(ids)},
        )
        found.update({(layer, r.id): r.name_en for r in rows})
    return found
