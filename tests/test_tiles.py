"""Vector tiles decoded by GDAL's MVT driver hold what PostGIS finds in the tile; TileJSON points at them."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.gdal import ogr
from tests.queries import scalar

pytestmark = pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="gdal-bin is not installed")


def decoded(path, z: int, x: int, y: int, layer: str) -> str:
    return ogr(
        "ogrinfo", "-so", "-oo", f"Z={z}", "-oo", f"X={x}", "-oo", f"Y={y}", str(path), layer, timeout=60
    )


def in_tile(engine, layer: str, z: int, x: int, y: int) -> int:
    query = (
        f"SELECT count(*) FROM {layer} WHERE ST_Intersects(ST_Transform(geom, 3857), "
        "ST_TileEnvelope(:z, :x, :y, margin => 64.0 / 4096))"
    )
    return int(scalar(engine, query, z=z, x=x, y=y))


@pytest.mark.parametrize(
    ("layer", "z", "x", "y"),
    [
        ("livestock_farms", 10, 851, 402),
        ("livestock_farms", 0, 0, 0),
        ("villages", 11, 1703, 805),
        ("towns", 9, 425, 201),
        ("chain_links", 10, 851, 402),
    ],
)
def test_tiles_decode_in_gdal_with_the_features_postgis_finds_in_the_tile(
    client, demo_engine, tmp_path, layer, z, x, y
):
    response = client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    expected = in_tile(demo_engine, layer, z, x, y)
    assert expected > 0
    path = tmp_path / "tile.mvt"
    path.write_bytes(response.content)
    info = decoded(path, z, x, y, layer)
    assert f"Feature Count: {expected}\n" in info
    label = "stream" if layer == "chain_links" else "name"
    assert re.search(rf"^{label}: String", info, flags=re.M)


def test_a_tile_without_features_is_empty(client):
    response = client.get("/tiles/livestock_farms/10/0/0.mvt")
    assert response.status_code == 200 and response.content == b""


def test_tilejson_describes_the_layer_and_its_tile_url(client):
    doc = client.get("/tiles/livestock_farms.json").json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == ["http://testserver/tiles/livestock_farms/{z}/{x}/{y}.mvt"]
    assert doc["vector_layers"][0]["id"] == "livestock_farms"
    assert doc["vector_layers"][0]["fields"]["head_count"] == "Number"
    minx, miny, maxx, maxy = doc["bounds"]
    assert 118 < minx < maxx < 121 and 35 < miny < maxy < 37


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/tiles/farms/1/0/0.mvt", 404),
        ("/tiles/farms.json", 404),
        ("/tiles/livestock_farms/23/0/0.mvt", 400),
        ("/tiles/livestock_farms/2/4/0.mvt", 400),
        ("/tiles/livestock_farms/2/0/-1.mvt", 400),
        ("/tiles/livestock_farms/a/0/0.mvt", 400),
    ],
)
def test_bad_tile_addresses_are_problems(client, url, status):
    response = client.get(url)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
