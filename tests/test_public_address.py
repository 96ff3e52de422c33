"""Links come from the public URL or a trusted Host, never from whatever Host a client sends; every
response carries the security headers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine

from service.api.app import create_app
from service.api.headers import host_name
from service.config import PublicAddressSettings
from tests.problems import assert_problem

EVIL = "evil.example"
HTML = {"Accept": "text/html"}


def refused_for_host(response) -> None:
    body = assert_problem(response, 400, "Host")
    assert "SANICHAIN_TRUSTED_HOSTS" in body["detail"] and "SANICHAIN_PUBLIC_URL" in body["detail"]


def test_an_untrusted_host_is_refused_and_never_reaches_a_cached_page(client):
    for path, headers in (("/maps/city", {}), ("/", HTML), ("/", {}), ("/collections", {})):
        refused_for_host(client.get(path, headers={**headers, "Host": EVIL}))
    # the pages built afterwards (and cached for everyone) know nothing of it
    for path, headers in (("/maps/city", {}), ("/", HTML), ("/", {})):
        page = client.get(path, headers=headers)
        assert page.status_code == 200, page.text
        assert EVIL not in page.text
        assert "http://testserver/" in page.text


def test_the_city_map_is_cached_per_trusted_name(client):
    # two trusted names make two pages, each linking to its own name (the cache key holds the base)
    first = client.get("/maps/city", headers={"Host": "localhost:8000"}).text
    second = client.get("/maps/city", headers={"Host": "127.0.0.1:8000"}).text
    assert "http://localhost:8000/" in first and "127.0.0.1" not in first
    assert "http://127.0.0.1:8000/" in second and "localhost" not in second


@pytest.fixture
def public_client(app_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("SANICHAIN_PUBLIC_URL", "https://gis.example.org/sanichain/")
    with TestClient(create_app(app_engine)) as c:
        yield c


def test_with_a_public_url_every_link_starts_with_it_whatever_the_host(public_client):
    base = "https://gis.example.org/sanichain"
    landing = public_client.get("/", headers={"Host": EVIL})
    assert landing.status_code == 200, landing.text
    hrefs = [link["href"] for link in landing.json()["links"]]
    assert hrefs and all(h.startswith(base + "/") for h in hrefs), hrefs
    assert f"{base}/collections" in hrefs
    items = "/collections/transfer_stations/items"
    page = public_client.get(items, params={"limit": 2}, headers={"Host": EVIL})
    links = {link["rel"]: link["href"] for link in page.json()["links"]}
    assert links["self"] == f"{base}/collections/transfer_stations/items?limit=2"
    assert links["next"].startswith(f"{base}/collections/transfer_stations/items?limit=2&cursor=")
    tilejson = public_client.get("/tiles/transfer_stations.json", headers={"Host": EVIL}).json()
    assert tilejson["tiles"] == [f"{base}/tiles/transfer_stations/{{z}}/{{x}}/{{y}}.mvt"]
    city = public_client.get("/maps/city", headers={"Host": EVIL}).text
    assert f'"base":"{base}"' in city.replace(" ", "") and EVIL not in city


def test_the_trusted_names_are_the_setting_and_the_bound_host(app_engine, monkeypatch):
    monkeypatch.setenv("SANICHAIN_TRUSTED_HOSTS", "gis.local, Planner.Example")
    monkeypatch.setenv("HOST", "10.1.2.3")
    client = TestClient(create_app(app_engine))
    for host in ("gis.local:8000", "planner.example", "10.1.2.3:8000"):
        response = client.get("/conformance", headers={"Host": host})
        assert response.status_code == 200, (host, response.text)
    for host in ("localhost", "testserver", "gis.local.evil.example"):
        refused_for_host(client.get("/conformance", headers={"Host": host}))


def test_host_names_are_compared_without_port_or_case():
    assert host_name("Example.ORG:8000") == "example.org"
    assert host_name("[::1]:8000") == "::1"
    assert host_name("::1") == "::1"
    assert host_name("127.0.0.1") == "127.0.0.1"


@pytest.mark.parametrize(
    "url", ["gis.example.org", "ftp://gis.example.org", "https://", "https://a.org/?x=1"]
)
def test_a_public_url_must_be_an_absolute_http_url(url, monkeypatch):
    monkeypatch.setenv("SANICHAIN_PUBLIC_URL", url)
    with pytest.raises(ValidationError, match="SANICHAIN_PUBLIC_URL"):
        PublicAddressSettings()


@pytest.mark.parametrize(
    "path, headers, status",
    [
        ("/conformance", {}, 200),
        ("/collections/livestock_farms/items?limit=1", {}, 200),  # streamed
        ("/maps/city", {}, 200),
        ("/collections/nothing", {}, 404),
        ("/collections/livestock_farms/items?limit=0", {}, 400),
        ("/conformance", {"Host": EVIL}, 400),  # refused before any route
    ],
)
def test_every_response_says_nosniff_and_who_may_frame_it(client, path, headers, status):
    response = client.get(path, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "frame-ancestors 'self'"
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
