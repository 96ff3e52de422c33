"""A database that is stopped or frozen: every route answers 503 problem+json within a few seconds,
names no host or port, and the service is healthy again once the database is back."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from tests.problems import assert_problem_body
from tests.robustness import eventually
from tests.service_process import running_service

pytestmark = pytest.mark.slow

# liveness checked after 0.5 s without a response, a fresh connection given 1 s: a frozen database is
# noticed in about 1.5 s; BOUND_S leaves room for a busy machine
ENV = {
    "SANICHAIN_LIVENESS_AFTER_S": "0.5",
    "SANICHAIN_LIVENESS_TIMEOUT_S": "1",
    "SANICHAIN_LIVENESS_TTL_S": "1",
    "SANICHAIN_DB_CONNECT_TIMEOUT": "2",
}
BOUND_S = 5.0
# x/y of a z10 tile over Zhucheng
ROUTES = [
    "/health",
    "/collections/villages/items?limit=5",
    "/collections/villages/items/1",
    "/export/livestock_farms.geojson",
    "/export/livestock_farms.xlsx",
    "/export/all.gpkg",
    "/tiles/villages/10/851/403.mvt",
    "/coverage?layer=collection_points",
    "/coverage?layer=collection_points&format=geojson",
    "/chain/flows",
    "/chain/facilities",
    "/indicators",
    "/maps/city",
    "/planning/scenarios",
]


@pytest.fixture(scope="module")
def service(own_cluster):
    with running_service(own_cluster.url, ENV) as base:
        yield base


def get(base: str, path: str) -> tuple[int, dict[str, str], bytes, float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(base + path, timeout=30) as response:
            status, headers, body = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as refused:
        status, headers, body = refused.code, dict(refused.headers), refused.read()
    return status, {k.lower(): v for k, v in headers.items()}, body, time.monotonic() - started


def assert_unavailable(base: str, path: str) -> None:
    status, headers, body, elapsed = get(base, path)
    assert status == 503, (path, status, body[:300])
    assert elapsed < BOUND_S, (path, elapsed)
    assert headers["content-type"] == "application/problem+json"
    assert int(headers["retry-after"]) > 0
    assert_problem_body(json.loads(body), 503)
    port = str(urlsplit(base).port)
    text = body.decode()
    assert "127.0.0.1" not in text and "localhost" not in text
    assert port not in text


def assert_healthy_again(base: str) -> None:
    status = eventually(lambda: get(base, "/health")[0], lambda s: s == 200, 15)
    assert status == 200
    for path in ("/collections/villages/items?limit=5", "/chain/facilities"):
        assert get(base, path)[0] == 200


def test_every_route_answers_503_problem_json_while_the_database_is_stopped(service, own_cluster):
    assert get(service, "/collections/villages/items?limit=5")[0] == 200  # the pool holds connections
    with own_cluster.stopped():
        for path in ROUTES:
            assert_unavailable(service, path)
    assert_healthy_again(service)


def test_every_route_answers_503_problem_json_while_the_database_is_frozen(service, own_cluster):
    assert get(service, "/collections/villages/items?limit=5")[0] == 200
    with own_cluster.frozen():
        for path in ROUTES:
            assert_unavailable(service, path)
        time.sleep(1.5)  # past the shared answer's life: the next request checks again
        assert_unavailable(service, "/indicators")
    assert_healthy_again(service)


def test_a_stream_whose_database_freezes_mid_body_is_aborted_not_cut_short(service, own_cluster):
    import socket

    parts = urlsplit(service)
    with socket.create_connection((parts.hostname, parts.port), timeout=BOUND_S + 5) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(f"GET /chain/flows HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        head = sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 200")
        with own_cluster.frozen():
            received = head
            started = time.monotonic()
            while chunk := sock.recv(65536):
                received += chunk
            elapsed = time.monotonic() - started
    assert elapsed < BOUND_S + 5
    assert not received.endswith(b"0\r\n\r\n")  # no final chunk: the client sees a failed transfer
    assert_healthy_again(service)
