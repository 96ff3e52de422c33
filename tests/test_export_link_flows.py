"""Every format of the chain links' export carries the t/day each link carries (GeoJSON and GeoJSON
sequences too, which are written by PostGIS): the same figure as the chain's flows (`/chain/flows`)."""

from __future__ import annotations

import json

import pytest


def _flows(client) -> dict[int, float]:
    body = client.get("/chain/flows").json()
    return {f["id"]: f["properties"]["flow_t_per_day"] for f in body["features"]}


def test_the_chain_links_geojson_carries_each_links_t_per_day_last(client):
    response = client.get("/export/chain_links.geojson")
    assert response.status_code == 200
    features = response.json()["features"]
    flows = _flows(client)
    assert len(features) == len(flows) > 4000
    assert all(f["properties"]["t_per_day"] == pytest.approx(flows[f["id"]], abs=1e-4) for f in features)
    assert list(features[0]["properties"])[-2:] == ["length_m", "t_per_day"]


def test_the_chain_links_geojson_sequence_carries_each_links_t_per_day(client):
    response = client.get("/export/chain_links.geojsonseq", params={"stream": "manure"})
    assert response.status_code == 200
    records = [json.loads(r) for r in response.text.split("\x1e") if r.strip()]
    flows = _flows(client)
    assert records and all(r["properties"]["stream"] == "manure" for r in records)
    assert all(r["properties"]["t_per_day"] == pytest.approx(flows[r["id"]], abs=1e-4) for r in records)


def test_a_chain_links_geojson_of_chosen_properties_has_no_t_per_day(client):
    features = client.get("/export/chain_links.geojson", params={"properties": "stream,length_m"}).json()
    assert set(features["features"][0]["properties"]) == {"stream", "length_m"}
