"""Clients that hang up mid-stream leave no connection behind in the running service."""

from __future__ import annotations

import socket
import time
import urllib.request
from urllib.parse import urlsplit

import pytest

from tests.queries import scalar
from tests.service_process import running_service

pytestmark = pytest.mark.slow


def hang_up_mid_stream(base: str, path: str) -> None:
    """Start a stream, read its first bytes, hang up. Exports are capped (SANICHAIN_MAX_EXPORTS): a stream
    just abandoned may still be closing its cursor, so a 503 is retried, for at most 5 s."""
    parts = urlsplit(base)
    deadline = time.monotonic() + 5
    while True:
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
            head = sock.recv(1024)
        if head.startswith(b"HTTP/1.1 503") and time.monotonic() < deadline:
            time.sleep(0.1)
            continue
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        return


def test_twenty_aborted_streams_do_not_exhaust_the_connection_pool(demo_database_url, demo_engine):
    with running_service(demo_database_url) as base:
        for _ in range(10):  # more than the pool holds (5 + 10 overflow)
            hang_up_mid_stream(base, "/collections/chain_links/items?limit=10000")
            hang_up_mid_stream(base, "/export/chain_links.geojson")
        deadline = time.monotonic() + 10
        while True:
            stuck = scalar(
                demo_engine,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'idle in transaction'",
            )
            if stuck == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert stuck == 0
        with urllib.request.urlopen(base + "/collections/villages/items?limit=1", timeout=10) as response:
            assert response.status == 200
