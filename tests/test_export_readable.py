"""Exports a person can read: a chain link names its ends (layer, code, name), its stream, the t/day
it carries and its length; a village its town and community by code and name. Read back with GDAL
(pyogrio) and checked against the database and independent computations (t/day from the village's
population, length from pyproj's geodesic)."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path
from typing import Any

import pytest
import shapely
from pyogrio.raw import read as read_raw
from pyproj import Geod

from service.chain.parameters import ChainParameters
from service.config import REPO_ROOT
from service.export import columns_doc
from service.models import LAYERS
from tests.queries import rows

pytestmark = pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="gdal-bin is not installed")
GEOD = Geod(ellps="WGS84")


def read(path: Path, layer: str | None = None, geometry: bool = True) -> dict[int, dict[str, Any]]:
    """fid → its fields (and `geometry`), as GDAL reads the file."""
    meta, fids, wkb, values = read_raw(path, layer=layer, return_fids=True, read_geometry=geometry)
    found = {}
    for n, fid in enumerate(fids):
        row = {name: column[n] for name, column in zip(meta["fields"], values, strict=True)}
        if geometry:
            row["geometry"] = shapely.from_wkb(wkb[n])
        found[int(fid)] = row
    return found


def download(client, url: str, path: Path) -> Path:
    response = client.get(url)
    assert response.status_code == 200, response.text
    path.write_bytes(response.content)
    return path


def test_chain_links_geopackage_names_both_ends_and_carries_t_per_day_and_length(
    client, demo_engine, tmp_path
):
    path = download(client, "/export/chain_links.gpkg", tmp_path / "links.gpkg")
    frame = read(path, "chain_links")
    expected = {
        int(r[0]): r[1:]
        for r in rows(
            demo_engine,
            """SELECT l.id, l.stream, l.source_layer, coalesce(v.code, f.code), coalesce(v.name, f.name),
                      l.target_layer
               FROM chain_links l LEFT JOIN villages v ON v.id = l.source_village_id
               LEFT JOIN livestock_farms f ON f.id = l.source_farm_id""",
        )
    }
    assert len(frame) == len(expected) > 1000
    columns = set(next(iter(frame.values())))
    assert {"source_code", "source_name", "target_code", "target_name", "t_per_day", "length_m"} <= columns
    assert {"source_layer", "target_layer", "stream"} <= columns
    for link_id, row in frame.items():
        stream, source_layer, code, name, target_layer = expected[int(link_id)]
        assert (row["stream"], row["source_layer"], row["target_layer"]) == (
            stream,
            source_layer,
            target_layer,
        )
        if code is not None:  # a village's or farm's link: its code and name as in the database
            assert (row["source_code"], row["source_name"]) == (code, name)
        assert row["source_code"] and row["target_code"] and row["target_name"]
        line = row["geometry"]
        assert row["length_m"] == pytest.approx(GEOD.geometry_length(line), abs=0.5)
    # a village's domestic waste goes out whole over its links: population × rate, split evenly
    rate = ChainParameters().waste_kg_per_person_day / 1000
    villages = rows(
        demo_engine,
        """SELECT l.id, v.population * coalesce(v.waste_rate_kg_per_person_day, :r * 1000) / 1000,
                  count(*) OVER (PARTITION BY v.id)
           FROM chain_links l JOIN villages v ON v.id = l.source_village_id
           WHERE l.stream = 'domestic_waste'""",
        r=rate,
    )
    assert len(villages) > 500
    for link_id, t_per_day, out_links in villages:
        assert frame[int(link_id)]["t_per_day"] == pytest.approx(float(t_per_day) / out_links, abs=1e-3)
    # a facility's outgoing flow is at most its inflow: downstream links carry something too
    assert any(r["t_per_day"] > 0 for r in frame.values() if r["source_layer"] == "transfer_stations")


def test_villages_csv_names_the_town_and_the_community_by_code_and_name(client, demo_engine, tmp_path):
    path = download(client, "/export/villages.csv", tmp_path / "villages.csv")
    frame = read(path, geometry=False)
    expected = {
        r[0]: r[1:]
        for r in rows(
            demo_engine,
            """SELECT v.code, t.code, t.name, c.code, c.name FROM villages v
               JOIN towns t ON t.id = v.town_id JOIN communities c ON c.id = v.community_id""",
        )
    }
    assert len(frame) == len(expected)
    for row in frame.values():
        town_code, town_name, community_code, community_name = expected[row["code"]]
        assert (row["town_code"], row["town_name"]) == (town_code, town_name)
        assert (row["community_code"], row["community_name"]) == (community_code, community_name)


def test_docs_exports_md_lists_every_layers_columns_as_the_catalogue_writes_them():
    assert (REPO_ROOT / "docs" / "exports.md").read_text(encoding="utf-8") == columns_doc.render()


@pytest.mark.parametrize("layer", list(LAYERS))
def test_every_layers_csv_header_is_the_documented_columns(client, layer):
    response = client.get(f"/export/{layer}.csv", params={"geometry": "wkt"})
    assert response.status_code == 200, response.text
    header = next(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    documented = [name for name, _, _ in columns_doc.export_columns(layer)]
    assert header[: len(documented)] == documented and header[len(documented) :] == ["WKT"]
