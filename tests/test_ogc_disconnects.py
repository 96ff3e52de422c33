"""Clients that hang up mid-stream leave no connection behind in the running service."""

from __future__ import annotations

import urllib.request

import pytest

from tests.robustness import busy_sessions, eventually, request_and_stop_reading
from tests.service_process import running_service

pytestmark = pytest.mark.slow


def hang_up_mid_stream(base: str, path: str) -> None:
    """Start a stream, read its head, hang up. Exports are capped (SANICHAIN_MAX_EXPORTS): a stream just
    abandoned may still be closing its cursor, so a 503 is retried, for at most 5 s."""
    head = eventually(
        lambda: _head_then_hang_up(base, path), lambda h: not h.startswith(b"HTTP/1.1 503"), within_s=5
    )
    assert head.startswith(b"HTTP/1.1 200"), head[:200]


def _head_then_hang_up(base: str, path: str) -> bytes:
    sock, head = request_and_stop_reading(base, path)
    sock.close()
    return head


def test_twenty_aborted_streams_do_not_exhaust_the_connection_pool(demo_database_url, demo_engine):
    with running_service(demo_database_url) as base:
        for _ in range(10):  # more than the pool holds (5 + 10 overflow)
            hang_up_mid_stream(base, "/collections/chain_links/items?limit=10000")
            hang_up_mid_stream(base, "/export/chain_links.geojson")
        assert eventually(lambda: busy_sessions(demo_engine), lambda busy: not busy, within_s=10) == []
        with urllib.request.urlopen(base + "/collections/villages/items?limit=1", timeout=10) as response:
            assert response.status == 200
