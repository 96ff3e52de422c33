"""Pools and statement timeouts per request class: a full pool or a statement over its class's timeout
is a quick 503 problem naming the limit, and the other classes keep working."""

from __future__ import annotations

import socket
import time

from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from service.api.app import create_app
from service.config import RuntimeSettings
from service.db import RequestClass, answers
from tests.conftest import free_port
from tests.problems import assert_problem_body


def test_an_analysis_over_its_statement_timeout_is_a_503_naming_the_limit_and_reads_still_work(demo_engine):
    runtime = RuntimeSettings(statement_timeout_analysis_s=0.001)
    with TestClient(create_app(demo_engine, runtime)) as client:
        response = client.get("/coverage", params={"layer": "collection_points"})
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "5"
        body = response.json()
        assert_problem_body(body, 503)
        assert body["limit"] == "SANICHAIN_STATEMENT_TIMEOUT_ANALYSIS_S"
        assert body["limit_s"] == 0.001
        assert body["detail"].startswith("statement timeout: ")
        assert client.get("/collections/villages/items", params={"limit": 1}).status_code == 200


def test_an_export_stream_whose_query_fails_answers_a_problem_not_a_truncated_200(demo_engine):
    runtime = RuntimeSettings(statement_timeout_export_s=0.001)
    with TestClient(create_app(demo_engine, runtime)) as client:
        response = client.get("/export/livestock_farms.geojson")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json().get("limit") == "SANICHAIN_STATEMENT_TIMEOUT_EXPORT_S", response.json()


def test_a_full_interactive_pool_is_a_quick_503_with_retry_after(demo_engine):
    runtime = RuntimeSettings(pool_interactive=1, pool_timeout_s=0.5)
    app = create_app(demo_engine, runtime)
    with TestClient(app) as client:
        held = app.state.engines.of(RequestClass.interactive).connect()  # the pool's only connection
        try:
            started = time.monotonic()
            response = client.get("/collections/villages/items", params={"limit": 1})
            elapsed = time.monotonic() - started
        finally:
            held.close()
        assert response.status_code == 503
        assert elapsed < 2.0
        assert response.headers["retry-after"] == "5"
        body = response.json()
        assert_problem_body(body, 503)
        assert "SANICHAIN_POOL_TIMEOUT_S" in body["detail"]
        # the exports' pool is another: a full interactive pool does not stop them
        assert client.get("/export/villages.csv").status_code == 200
        assert client.get("/collections/villages/items", params={"limit": 1}).status_code == 200


def test_each_request_class_connects_with_its_own_statement_timeout_and_analysis_with_room_for_temp_tables(
    demo_engine,
):
    runtime = RuntimeSettings(
        statement_timeout_interactive_s=7, statement_timeout_export_s=70, statement_timeout_analysis_s=42
    )
    app = create_app(demo_engine, runtime)
    try:
        found = {}
        for kind in RequestClass:
            with app.state.engines.of(kind).connect() as conn:
                found[kind.value] = conn.exec_driver_sql(
                    "SELECT current_setting('statement_timeout'), current_setting('application_name'), "
                    "current_setting('temp_buffers')"
                ).one()
    finally:
        app.state.engines.dispose()
    assert found == {  # the whole chain's temporary tables stay in memory on analysis connections (D121)
        "interactive": ("7s", "sanichain-interactive", "8MB"),
        "export": ("70s", "sanichain-export", "8MB"),
        "analysis": ("42s", "sanichain-analysis", "1GB"),
    }


def test_the_liveness_check_gives_up_on_a_server_that_accepts_but_never_answers(demo_database_url):
    assert answers(make_url(demo_database_url), 1.0) is True
    with socket.socket() as silent:  # what a frozen PostgreSQL looks like: the kernel accepts, nobody speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = make_url(f"postgresql+psycopg2://postgres@127.0.0.1:{silent.getsockname()[1]}/sanichain")
        started = time.monotonic()
        assert answers(url, 0.5) is False
        assert 0.4 < time.monotonic() - started < 1.5
    closed = make_url(f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/sanichain")
    assert answers(closed, 0.5) is False
