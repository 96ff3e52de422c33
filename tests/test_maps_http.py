"""Map routes over HTTP: bad input is a 4xx problem+json naming the parameter, assets are ours and cached."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.config import MapSettings
from service.maps import assets
from tests.problems import assert_problem
from tests.queries import rows


@pytest.mark.parametrize(
    ("url", "status", "words"),
    [
        ("/maps/towns/999999999", 404, "no town with code '999999999'"),
        ("/maps/towns/37078", 400, "code"),
        ("/maps/facilities/no_such_layer/1", 404, "no_such_layer"),
        ("/maps/facilities/towns/1", 404, "towns"),
        ("/maps/facilities/transfer_stations/999999", 404, "no feature 999999 in transfer_stations"),
        ("/maps/facilities/transfer_stations/abc", 400, "feature_id"),
        ("/maps/facilities/transfer_stations/0", 400, "feature_id"),
        ("/maps/facilities/transfer_stations/99999999999999999999", 400, "feature_id"),
        ("/maps/coverage", 400, "layer"),
        ("/maps/coverage?layer=villages", 400, "layer"),
        ("/maps/coverage?layer=transfer_stations", 400, "distance_m"),
        ("/maps/coverage?layer=collection_points&distance_m=-5", 400, "distance_m"),
        ("/maps/coverage?layer=collection_points&distance_m=1e9", 400, "distance_m"),
        ("/maps/coverage?layer=collection_points&status=broken", 400, "status"),
        ("/maps/coverage?layer=manure_centers&distance_m=5000&kind=x", 400, "kind"),
        ("/maps/coverage?layer=collection_points&cluster_radius_m=0", 400, "cluster_radius_m"),
        ("/maps/city?lang=fr", 400, "lang"),
        ("/maps/city?indicator=nonsense", 400, "indicator"),
        ("/?f=html&lang=fr", 400, "lang"),
        ("/?f=html&indicator=nonsense", 400, "indicator"),
    ],
)
def test_bad_map_requests_are_problems_naming_the_parameter(client, url, status, words):
    assert_problem(client.get(url), status, None, words)


def test_pages_link_only_the_services_own_assets_which_are_served_cacheable(client):
    page = client.get("/maps/city").text
    srcs = re.findall(r'<script src="([^"]+)"', page) + re.findall(
        r'<link rel="stylesheet" href="([^"]+)"', page
    )
    # the map's assets and the navigation's script (service.navigation), all the service's own
    assert len(srcs) == 8 and all(s.startswith(("/maps/assets/", "/navigation/")) for s in srcs)
    assert "cdn" not in page.lower() and "jquery" not in page.lower() and "bootstrap" not in page.lower()
    for src in srcs:
        r = client.get(src)
        assert r.status_code == 200 and len(r.content) > 100
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    leaflet = next(s for s in srcs if s.endswith("leaflet.js"))
    assert (
        client.get(leaflet).headers["content-type"].startswith(("text/javascript", "application/javascript"))
    )
    # the images the stylesheet asks for are there too
    assert client.get("/maps/assets/leaflet/1.9.3/images/layers.png").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/maps/assets/leaflet/0.0.1/leaflet.js",
        "/maps/assets/nothing/1/x.js",
        "/maps/assets/leaflet/1.9.3/../../../../etc/passwd",
        "/maps/assets/leaflet/1.9.3/%2e%2e/%2e%2e/__init__.py",
    ],
)
def test_unknown_or_escaping_asset_paths_are_not_found(client, path):
    assert client.get(path).status_code == 404


def test_offline_assets_inline_the_stylesheet_images():
    inline = assets.inline_tags()
    assert "url(images/" not in inline and "data:image/png;base64," in inline
    assert "<script src" not in inline


def test_basemap_settings_refuse_incomplete_configurations(monkeypatch):
    monkeypatch.setenv("SANICHAIN_BASEMAP", "tianditu")
    monkeypatch.delenv("SANICHAIN_TIANDITU_KEY", raising=False)
    with pytest.raises(ValueError, match="SANICHAIN_TIANDITU_KEY"):
        MapSettings()
    monkeypatch.setenv("SANICHAIN_BASEMAP", "custom")
    with pytest.raises(ValueError, match="SANICHAIN_TILE_URL"):
        MapSettings()


@pytest.mark.parametrize(
    ("env", "expected", "absent"),
    [
        ({"SANICHAIN_BASEMAP": "osm"}, "tile.openstreetmap.org", "tianditu"),
        (
            {"SANICHAIN_BASEMAP": "tianditu", "SANICHAIN_TIANDITU_KEY": "k123"},
            "tianditu.gov.cn/vec_w/wmts",
            "openstreetmap",
        ),
        (
            {
                "SANICHAIN_BASEMAP": "custom",
                "SANICHAIN_TILE_URL": "https://tiles.example.org/{z}/{x}/{y}.png",
            },
            "tiles.example.org",
            "openstreetmap",
        ),
        ({"SANICHAIN_BASEMAP": "none"}, "sc-blank", "L.tileLayer"),
    ],
)
def test_basemap_follows_the_settings(demo_engine, monkeypatch, env, expected, absent):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    page = TestClient(create_app(demo_engine)).get("/maps/towns/370782001").text
    assert expected in page and absent not in page
    if env["SANICHAIN_BASEMAP"] == "tianditu":
        assert "cva_w" in page and "tk=k123" in page


def test_a_page_is_reused_until_the_inventory_changes(empty_engine):
    from sqlalchemy import text

    from service.demo import loader
    from tests.conftest import DEMO_DIR

    loader.load(empty_engine, DEMO_DIR)
    client = TestClient(create_app(empty_engine))
    [(station_id, code)] = rows(
        empty_engine,
        "SELECT s.id, t.code FROM transfer_stations s JOIN towns t ON t.id = s.town_id ORDER BY s.id LIMIT 1",
    )
    url = f"/maps/towns/{code}"
    first = client.get(url)
    assert first.headers["content-encoding"] == "gzip"  # what a browser gets
    assert client.get(url).text == first.text  # unchanged inventory: the same page
    with empty_engine.begin() as conn:
        conn.execute(
            text("UPDATE transfer_stations SET name = '新名字中转站' WHERE id = :id"), {"id": station_id}
        )
    assert "新名字中转站" not in first.text and "新名字中转站" in client.get(url).text
    with empty_engine.begin() as conn:
        conn.execute(text("DELETE FROM public_toilets WHERE id = (SELECT min(id) FROM public_toilets)"))
    assert client.get(url).text != first.text
    # names are data: never markup, wherever they appear (title, panel, popups)
    with empty_engine.begin() as conn:
        conn.execute(text("UPDATE towns SET name = '<i>镇</i>' WHERE code = :code"), {"code": code})
        conn.execute(
            text("UPDATE transfer_stations SET name = '<img src=x>' WHERE id = :id"), {"id": station_id}
        )
    page = client.get(url).text
    assert "<i>镇</i>" not in page and "&lt;i&gt;镇&lt;/i&gt;" in page
    assert "<img src=x>" not in page and "\\u003cimg src=x>" in page


def test_city_map_of_the_demo_stays_under_one_and_a_half_megabytes(client):
    page = client.get("/maps/city", headers={"Accept-Encoding": "identity"})
    assert page.status_code == 200 and "content-encoding" not in page.headers
    assert 300_000 < len(page.content) <= 1_500_000


def test_root_in_english_for_browsers_that_ask(client):
    page = client.get("/?lang=en", headers={"Accept": "text/html"}).text
    assert '<html lang="en">' in page and "Legend" in page and "图例" not in page
    assert 'href="/?lang=zh"' in page  # the switch back keeps the page


@pytest.mark.parametrize(
    "url",
    ["/maps/city?colour=red", "/maps/coverage?layer=collection_points&distance=100", "/?f=html&zoom=3"],
)
def test_unknown_map_parameters_are_refused_by_name(client, url):
    response = client.get(url)
    assert response.status_code == 400
    assert response.json()["parameter"] == url.rsplit("&", 1)[-1].split("?")[-1].split("=")[0]


def test_known_parameters_in_another_order_reuse_the_same_page(client):
    first = client.get("/maps/coverage?layer=collection_points&distance_m=900&lang=en")
    again = client.get("/maps/coverage?lang=en&distance_m=900&layer=collection_points")
    assert first.status_code == again.status_code == 200 and first.text == again.text


def test_pages_are_gzipped_only_when_gzip_is_acceptable(client):
    gz = client.get("/maps/city", headers={"accept-encoding": "gzip, deflate"})
    assert gz.headers.get("content-encoding") == "gzip"
    plain = client.get("/maps/city", headers={"accept-encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in plain.headers and plain.text.startswith("<!DOCTYPE html>")
