"""Every streamed response gives its database session back the moment its client leaves, and a client
that stops reading is dropped after the send timeout (a real uvicorn, real sockets, pg_stat_activity)."""

from __future__ import annotations

import socket
import time
import urllib.request
import uuid
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from service.db import make_engine
from service.synthetic import national_scale
from tests.robustness import busy_sessions, eventually, request_and_stop_reading
from tests.service_process import running_service

pytestmark = pytest.mark.slow

SEND_TIMEOUT_S = 3
ENV = {"SANICHAIN_SEND_TIMEOUT_S": str(SEND_TIMEOUT_S), "SANICHAIN_MAX_EXPORTS": "4"}
# Bodies far larger than the socket buffers: the invented national-scale set (20,000 villages, 60,000
# farms with their manure links; coverage 20 MB).
LARGE_STREAMS = [
    "/collections/villages/items?limit=10000",
    "/collections/livestock_farms/items?limit=10000&f=html",
    "/export/livestock_farms.geojson",
    "/export/livestock_farms.geojsonseq",
    "/export/livestock_farms.csv",
    "/export/livestock_farms.kml",
    "/coverage?layer=transfer_stations&distance_m=3000&format=geojson",
    "/chain/flows",
]


@pytest.fixture(scope="module")
def large_url(pg_server, migrated_template, tmp_path_factory):
    """A migrated database with 20,000 villages and 60,000 farms (the synthetic generator), each farm
    linked to a manure centre."""
    name = f"sanichain_test_{uuid.uuid4().hex[:10]}"
    url = pg_server.create(name, migrated_template)
    data = tmp_path_factory.mktemp("national")
    national_scale.generate(data, villages=20_000, farms=60_000, stations=100)
    national_scale.load(url, data)
    engine = make_engine(url)
    with engine.begin() as conn:  # each farm's manure to one of the ten manure centres
        conn.execute(
            text(
                "INSERT INTO chain_links (stream, source_farm_id, target_manure_center_id) "
                "SELECT 'manure', f.id, m.id FROM livestock_farms f "
                "JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM manure_centers) m "
                "ON m.n = f.id % (SELECT count(*) FROM manure_centers)"
            )
        )
    engine.dispose()
    yield url
    pg_server.drop(name)


@pytest.fixture(scope="module")
def large_engine(large_url):
    engine = make_engine(large_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def large_service(large_url):
    with running_service(large_url, ENV) as base:
        yield base


@pytest.mark.parametrize("path", LARGE_STREAMS)
def test_a_client_leaving_mid_body_releases_the_session_of_the_stream(large_service, large_engine, path):
    leave_mid_body(large_service, large_engine, path)


def leave_mid_body(service, engine, path):
    sock, head = request_and_stop_reading(service, path)
    try:
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        # mid-body: the stream holds its session while the client is not reading
        time.sleep(1)  # far longer than writing the body takes when it is read
        assert busy_sessions(engine), "no session held: the body fitted in the socket buffers"
    finally:
        sock.close()
    left = eventually(lambda: busy_sessions(engine), lambda s: not s, 5)
    assert left == []


def test_sixteen_clients_that_never_read_an_export_do_not_hold_the_pool(large_service, large_engine):
    service, demo_engine = large_service, large_engine
    sockets = [request_and_stop_reading(service, "/export/livestock_farms.kml") for _ in range(16)]
    try:
        statuses = sorted(int(head.split(b" ", 2)[1]) for _, head in sockets)
        assert statuses == [200] * 4 + [503] * 12  # SANICHAIN_MAX_EXPORTS=4 streams at once
        refused = next(head for _, head in sockets if b" 503 " in head.split(b"\r\n", 1)[0])
        assert b"retry-after: 5" in refused.lower()
        assert len(busy_sessions(demo_engine)) == 4
        for path in ("/health", "/collections/villages/items?limit=5"):
            started = time.monotonic()
            with urllib.request.urlopen(service + path, timeout=5) as response:
                assert response.status == 200
                assert response.read()
            assert time.monotonic() - started < 1.0
        # the send timeout drops them and their sessions go back
        left = eventually(lambda: busy_sessions(demo_engine), lambda s: not s, SEND_TIMEOUT_S + 5)
        assert left == []
    finally:
        for sock, _ in sockets:
            sock.close()


@pytest.mark.parametrize("path", ["/export/livestock_farms.xlsx", "/export/livestock_farms.gpkg"])
def test_a_file_export_stops_and_removes_its_file_when_the_client_leaves(
    large_url, large_engine, tmp_path, path
):
    # livestock_farms.xlsx of 60,000 farms takes about 28 s to build here, the GeoPackage about 6 s
    with running_service(large_url, {**ENV, "TMPDIR": str(tmp_path)}) as base:
        parts = urlsplit(base)
        sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        try:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
            building = eventually(lambda: list(tmp_path.glob("sanichain-export-*")), bool, 10)
            assert building, "no temporary file appeared"
            time.sleep(0.5)
        finally:
            sock.close()
        left_at = time.monotonic()
        left = eventually(lambda: list(tmp_path.glob("sanichain-export-*")), lambda f: not f, 10)
        assert left == []
        assert time.monotonic() - left_at < 3.0  # stopped, not built in full and then removed
        assert eventually(lambda: busy_sessions(large_engine), lambda s: not s, 5) == []
        with urllib.request.urlopen(base + "/health", timeout=10) as response:
            assert response.status == 200
