"""Streams a client abandons give back their connection clean, and pages read one snapshot."""

from __future__ import annotations

import gc

from sqlalchemy import text

from service.db import make_engine
from service.features import catalogue, streamed_connections
from service.features.fetch import feature_collection, open_page
from service.features.params import feature_query


def test_an_abandoned_page_stream_closes_its_cursor_and_returns_a_clean_connection(demo_database_url):
    engine = make_engine(demo_database_url)
    try:
        q = feature_query(catalogue.layer("chain_links"), {"limit": ["5000"]})
        page = open_page(engine, q)
        chunks = feature_collection(page, lambda _next: [])
        first = next(chunks)
        assert first.startswith(b'{"type": "FeatureCollection"')
        assert streamed_connections.count() == 1 and engine.pool.checkedout() == 1
        cycle: list[object] = [chunks]
        cycle.append(cycle)  # abandoned inside a reference cycle, as an aborted response leaves it
        del page, chunks, cycle
        gc.collect()
        assert streamed_connections.count() == 0 and engine.pool.checkedout() == 0
        with engine.connect() as conn:  # the pooled connection is usable, not stuck in a transaction
            assert conn.execute(text("SELECT count(*) FROM chain_links")).scalar_one() > 0
    finally:
        engine.dispose()


def test_a_fully_read_page_releases_its_connection(demo_database_url):
    engine = make_engine(demo_database_url)
    try:
        q = feature_query(catalogue.layer("villages"), {"limit": ["3"]})
        body = b"".join(feature_collection(open_page(engine, q), lambda _next: []))
        assert body.count(b'{"type":"Feature",') == 3
        assert streamed_connections.count() == 0 and engine.pool.checkedout() == 0
    finally:
        engine.dispose()
