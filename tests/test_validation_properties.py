"""Property tests of the feature validator, per editable layer, over the Zhucheng demo (read-only):
a feature drawn from the layer's own fields always passes, and the same feature with one corruption
always fails with an error on the corrupted field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, SmallInteger, text

from service.chain.parameters import ALLOWED_SKIPS, STAGES
from service.editing import fields
from service.editing.validation import ValidationFailed, validate
from service.features import catalogue
from service.features.catalogue import Field
from service.models import SOURCE_COLUMNS, TARGET_COLUMNS

EXAMPLES = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
NAME_LETTERS = "诸城市镇村站厂中心abcXYZ0123 -"
CODE_LETTERS = "ABCXYZabc0123456789_.-"


@dataclass(frozen=True)
class Anchor:
    """An existing village well inside its town: new features are placed at (or around) it."""

    village_id: int
    community_id: int
    lon: float
    lat: float


@dataclass(frozen=True)
class Demo:
    city_id: int
    anchors: list[Anchor]
    links: list[dict[str, Any]]  # chain links the demo has not got yet, each one the rules allow


@pytest.fixture(scope="module")
def conn(demo_engine: Engine) -> Iterator[Connection]:
    with demo_engine.connect() as connection:
        yield connection
        connection.rollback()


@pytest.fixture(scope="module")
def demo(conn: Connection) -> Demo:
    anchors = [
        Anchor(r.id, r.community_id, r.lon, r.lat)
        for r in conn.execute(
            text(
                "SELECT v.id, v.community_id, ST_X(v.geom) AS lon, ST_Y(v.geom) AS lat FROM villages v "
                "JOIN towns t ON t.id = v.town_id WHERE ST_CoveredBy(ST_Expand(v.geom, 0.003), t.geom) "
                "ORDER BY v.id LIMIT 40"
            )
        )
    ]
    return Demo(conn.execute(text("SELECT id FROM cities")).scalar_one(), anchors, _new_links(conn))


def _new_links(conn: Connection) -> list[dict[str, Any]]:
    source_column = {layer: column for column, layer in SOURCE_COLUMNS.items()}
    target_column = {layer: column for column, layer in TARGET_COLUMNS.items()}
    existing = {
        (r.stream, r.source_layer, r.source_id, r.target_layer, r.target_id)
        for r in conn.execute(
            text("SELECT stream, source_layer, source_id, target_layer, target_id FROM chain_links")
        )
    }
    links = []
    for stream, stages in STAGES.items():
        for source, s in stages.items():
            for target, t in stages.items():
                if not (t == s + 1 or (stream, source, target) in ALLOWED_SKIPS):
                    continue
                accepting = {"fecal_sludge": " AND accepts_fecal_sludge", "manure": " AND accepts_manure"}
                open_only = "" if source == "villages" else " WHERE status <> 'closed'"
                condition = " WHERE status <> 'closed'" + (
                    accepting[stream] if target == "manure_centers" else ""
                )
                sources = conn.execute(
                    text(f"SELECT id FROM {source}{open_only} ORDER BY id LIMIT 4")
                ).scalars()
                targets = list(
                    conn.execute(text(f"SELECT id FROM {target}{condition} ORDER BY id LIMIT 4")).scalars()
                )
                for sid in list(sources):
                    for tid in targets:
                        if (stream, source, sid, target, tid) not in existing:
                            links.append(
                                {"stream": stream, source_column[source]: sid, target_column[target]: tid}
                            )
    return links


# -- valid features, drawn from the layers' fields ------------------------------------------------


def _number(f: Field) -> st.SearchStrategy[Any]:
    column_type = getattr(f.column, "type", None)
    precision, scale = getattr(column_type, "precision", 12), getattr(column_type, "scale", 2)
    low, high = fields.RANGES.get(f.name, (0, None))
    top = min(10 ** (precision - scale) - 1, 1_000_000) if high is None else high
    return st.decimals(min_value=low, max_value=top, places=scale).map(float)


def _value(layer_name: str, f: Field, anchor: Anchor, demo: Demo) -> st.SearchStrategy[Any]:
    if f.name == "code":
        if layer_name == "towns":
            return st.integers(0, 9_999_999).map(lambda n: f"99{n:07d}")
        return st.text(CODE_LETTERS, min_size=1, max_size=20).map(lambda s: f"HYP-{s}")
    if f.name in ("name", "name_en"):
        return st.text(NAME_LETTERS, min_size=1, max_size=30).filter(str.strip)
    references = {
        "city_id": demo.city_id,
        "community_id": anchor.community_id,
        "village_id": anchor.village_id,
    }
    if f.name in references:
        return st.just(references[f.name])
    if f.vocabulary is not None:
        return st.sampled_from(f.vocabulary)
    if f.kind == "integer":
        low = int(fields.RANGES.get(f.name, (0, None))[0])
        small = isinstance(getattr(f.column, "type", None), SmallInteger)
        return st.integers(low, 2**15 - 1 if small else 1_000_000)
    if f.kind == "number":
        return _number(f)
    if f.kind == "boolean":
        return st.booleans()
    if f.kind == "date":
        return st.dates(date(1950, 1, 1), date(2030, 12, 31)).map(date.isoformat)
    return st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=50)


@st.composite
def valid_features(draw: st.DrawFn, layer_name: str, demo: Demo) -> dict[str, Any]:
    anchor = draw(st.sampled_from(demo.anchors))
    required = fields.required(layer_name)
    properties: dict[str, Any] = {}
    for name, f in fields.writable(layer_name).items():
        if layer_name == "chain_links" and name in fields.REFERENCES["chain_links"]:
            continue
        if name not in required and not draw(st.booleans()):
            continue
        value = _value(layer_name, f, anchor, demo)
        if fields.nullable(f) and name not in required:
            value = st.none() | value
        properties[name] = draw(value)
    if layer_name == "villages":
        properties["toilets_rebuilt"] = min(properties.get("toilets_rebuilt") or 0, properties["households"])
    if layer_name == "chain_links":
        properties.update(draw(st.sampled_from(demo.links)))
        return {"type": "Feature", "geometry": None, "properties": properties}
    shift = st.floats(-0.001, 0.001)
    lon, lat = anchor.lon + draw(shift), anchor.lat + draw(shift)
    if layer_name == "collection_points":
        lon, lat = anchor.lon, anchor.lat  # the village's own town
    kind = catalogue.layer(layer_name).geometry_type
    if kind == "Point":
        geometry = {"type": "Point", "coordinates": [lon, lat]}
    else:
        size = draw(st.floats(0.0002, 0.002))
        ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
        kind = draw(st.sampled_from(["Polygon", "MultiPolygon"]))
        geometry = {"type": kind, "coordinates": [ring] if kind == "Polygon" else [[ring]]}
    return {"type": "Feature", "geometry": geometry, "properties": properties}


LAYERS = list(fields.EDITABLE_LAYERS)


@pytest.mark.parametrize("layer_name", LAYERS)
def test_features_drawn_from_the_layers_fields_always_pass(
    conn: Connection, demo: Demo, layer_name: str
) -> None:
    @EXAMPLES
    @given(feature=valid_features(layer_name, demo))
    def check(feature: dict[str, Any]) -> None:
        prepared = validate(conn, layer_name, feature, mode="create")
        assert set(prepared.values) - {"geom_ewkt"} == set(feature["properties"])
        if feature["geometry"] is not None:
            assert prepared.values["geom_ewkt"].startswith(
                "SRID=4326;" + catalogue.layer(layer_name).geometry_type.upper()
            )

    check()


# -- one corruption each ----------------------------------------------------------------------------

Mutation = Callable[[st.DrawFn, str, dict[str, Any]], str | None]  # corrupts in place; the field to blame


def _first_position(geometry: dict[str, Any]) -> list[Any]:
    position = geometry["coordinates"]
    while isinstance(position[0], list):
        position = position[0]
    return position


def _second_position(geometry: dict[str, Any]) -> list[Any]:
    """A position that is not a ring's first or last (closing) one, where there are rings."""
    if geometry["type"] == "Point":
        return geometry["coordinates"]
    ring = geometry["coordinates"][0] if geometry["type"] == "Polygon" else geometry["coordinates"][0][0]
    return ring[1]


def nan_coordinate(draw: st.DrawFn, layer: str, feature: dict[str, Any]) -> str | None:
    if feature["geometry"] is None:
        return None
    _first_position(feature["geometry"])[0] = math.nan
    return "geometry.coordinates"


def out_of_range_latitude(draw: st.DrawFn, layer: str, feature: dict[str, Any]) -> str | None:
    if feature["geometry"] is None:
        return None
    _second_position(feature["geometry"])[1] = draw(st.sampled_from([90.5, 95.0, -91.0, 1e6]))
    return "geometry.coordinates"


def empty_geometry(draw: st.DrawFn, layer: str, feature: dict[str, Any]) -> str | None:
    if feature["geometry"] is None:
        return None
    feature["geometry"]["coordinates"] = []
    return "geometry.coordinates"


def wrong_geometry_type(draw: st.DrawFn, layer: str, feature: dict[str, Any]) -> str | None:
    if feature["geometry"] is None:
        return None
    if feature["geometry"]["type"] == "Point":
        position = feature["geometry"]["coordinates"]
        feature["geometry"] = {
            "type": "LineString",
            "coordinates": [position, [position[0] + 0.001, position[1]]],
        }
    else:
        feature["geometry"] = {"type": "Point", "coordinates": _first_position(feature["geometry"])}
    return "geometry.type"


WRONG_TYPES = {"string": 12345, "integer": "12", "number": "1.5", "boolean": "yes", "date": 20200101}


def wrong_type(draw: st.DrawFn, layer: str, feature: dict[str, Any]) -> str | None:
    writable = fields.writable(layer)
    present = sorted(
        name for name, value in feature["properties"].items() if value is not None and name in writable
    )
    if not present:
        return None
    name = draw(st.sampled_from(present))
    feature["properties"][name] = WRONG_TYPES[writable[name].kind]
    return f"properties.{name}"


def unknown_field(draw: st.DrawFn, layer: str, feature: dict[str, Any]) -> str | None:
    name = draw(st.sampled_from(["colour", "no_such_property", "Code", "geom"]))
    feature["properties"][name] = "x"
    return f"properties.{name}"


def derived_field(draw: st.DrawFn, layer: str, feature: dict[str, Any]) -> str | None:
    name = draw(st.sampled_from(sorted(fields.read_only(layer))))
    feature["properties"][name] = draw(st.sampled_from(["x", 1, True, None]))
    return f"properties.{name}"


def negative_capacity(draw: st.DrawFn, layer: str, feature: dict[str, Any]) -> str | None:
    counts = [
        n for n in ("capacity", "head_count", "population", "households") if n in fields.writable(layer)
    ]
    if not counts:
        return None
    name = draw(st.sampled_from(counts))
    feature["properties"][name] = draw(st.sampled_from([-1, -0.01, -1e9]))
    return f"properties.{name}"


def unknown_vocabulary_value(draw: st.DrawFn, layer: str, feature: dict[str, Any]) -> str | None:
    writable = fields.writable(layer)
    listed = sorted(name for name, f in writable.items() if f.vocabulary is not None)
    if not listed:
        return None
    name = draw(st.sampled_from(listed))
    feature["properties"][name] = draw(st.sampled_from(["no_such_value", "Operational", ""]))
    return f"properties.{name}"


MUTATIONS: list[Mutation] = [
    nan_coordinate,
    wrong_type,
    unknown_field,
    derived_field,
    negative_capacity,
    out_of_range_latitude,
    empty_geometry,
    wrong_geometry_type,
    unknown_vocabulary_value,
]


@pytest.mark.parametrize("layer_name", LAYERS)
def test_one_corruption_of_a_valid_feature_fails_on_the_corrupted_field(
    conn: Connection, demo: Demo, layer_name: str
) -> None:
    @EXAMPLES
    @given(feature=valid_features(layer_name, demo), mutation=st.sampled_from(MUTATIONS), data=st.data())
    def check(feature: dict[str, Any], mutation: Mutation, data: st.DataObject) -> None:
        blamed = mutation(data.draw, layer_name, feature)
        if blamed is None:  # the corruption does not apply to this layer
            return
        with pytest.raises(ValidationFailed) as refusal:
            validate(conn, layer_name, feature, mode="create")
        assert blamed in refusal.value.fields(), (mutation.__name__, refusal.value.errors)

    check()
