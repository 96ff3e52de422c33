"""Big GeoJSON exports are read in blocks of features (one COPY row per block of ids); the files are
byte for byte those of the feature-by-feature path, whatever the filters, gaps and block size."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from service.export import geojson
from service.export.layer_reader import LayerExport
from service.features import catalogue
from service.features.params import feature_query


def export_bytes(engine, layer: str, params: dict[str, list[str]], fmt: str = "geojson") -> bytes:
    export = LayerExport(engine, feature_query(catalogue.layer(layer), params))
    writer = geojson.feature_collection if fmt == "geojson" else geojson.sequence
    seen: list[int] = []
    out = b"".join(writer(export, seen.append))
    return out


def both_ways(monkeypatch, engine, layer: str, params: dict[str, list[str]], fmt: str = "geojson") -> bytes:
    monkeypatch.setattr(geojson, "BLOCKS_FROM", 10**12)
    by_feature = export_bytes(engine, layer, params, fmt)
    monkeypatch.setattr(geojson, "BLOCKS_FROM", 0)
    monkeypatch.setattr(geojson, "IDS_PER_BLOCK", 7)
    assert geojson._statement(LayerExport(engine, feature_query(catalogue.layer(layer), params)))[1]
    by_block = export_bytes(engine, layer, params, fmt)
    assert by_block == by_feature
    return by_block


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"bbox": ["119.3,35.85,119.5,36.0"]},  # most blocks empty
        {"species": ["pig"], "properties": ["name,town_code,head_count"]},
        {"filter": ["head_count > 100000000"]},  # nothing at all
        {"crs": ["http://www.opengis.net/def/crs/EPSG/0/4528"]},
    ],
)
def test_block_export_equals_the_feature_by_feature_export(monkeypatch, demo_engine, params):
    body = json.loads(both_ways(monkeypatch, demo_engine, "livestock_farms", params))
    ids = [f["id"] for f in body["features"]]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    if not params:
        with demo_engine.connect() as conn:
            db = conn.execute(text("SELECT id, name FROM livestock_farms ORDER BY id")).all()
        assert [(f["id"], f["properties"]["name"]) for f in body["features"]] == [tuple(r) for r in db]


def test_block_export_of_a_sequence_and_of_lines_equals_the_feature_by_feature_export(
    monkeypatch, demo_engine
):
    seq = both_ways(monkeypatch, demo_engine, "villages", {}, fmt="geojsonseq")
    records = seq.split(b"\x1e")[1:]
    with demo_engine.connect() as conn:
        assert len(records) == conn.execute(text("SELECT count(*) FROM villages")).scalar_one()
    assert all(r.endswith(b"\n") and json.loads(r)["type"] == "Feature" for r in records)
    links = json.loads(both_ways(monkeypatch, demo_engine, "chain_links", {}))
    assert {f["geometry"]["type"] for f in links["features"]} == {"LineString"}


def test_progress_counts_every_feature_of_a_block_export(monkeypatch, demo_engine):
    monkeypatch.setattr(geojson, "BLOCKS_FROM", 0)
    export = LayerExport(demo_engine, feature_query(catalogue.layer("villages"), {}))
    seen: list[int] = []
    b"".join(geojson.feature_collection(export, seen.append))
    with demo_engine.connect() as conn:
        assert seen[-1] == conn.execute(text("SELECT count(*) FROM villages")).scalar_one()


def test_sorted_polygon_and_small_exports_are_read_feature_by_feature(monkeypatch, demo_engine):
    monkeypatch.setattr(geojson, "BLOCKS_FROM", 0)
    for layer, params in (("livestock_farms", {"sortby": ["-head_count"]}), ("towns", {})):
        assert not geojson._statement(
            LayerExport(demo_engine, feature_query(catalogue.layer(layer), params))
        )[1]
    monkeypatch.setattr(geojson, "BLOCKS_FROM", 10**6)
    export = LayerExport(demo_engine, feature_query(catalogue.layer("livestock_farms"), {}))
    assert not geojson._statement(export)[1]
