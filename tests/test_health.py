"""GET /health reports PostGIS when the database is up and answers 503 problem+json when it is not."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from service.api.app import create_app
from service.db import make_engine
from tests.conftest import free_port
from tests.problems import assert_problem


def test_health_reports_the_postgis_version_of_the_database(demo_engine, client):
    with demo_engine.connect() as conn:
        version, database = conn.execute(
            text("SELECT extversion, current_database() FROM pg_extension WHERE extname = 'postgis'")
        ).one()
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["postgis"] == version
    assert body["postgis"].startswith("3.")
    assert body["database"] == database


def test_health_is_503_problem_json_when_the_database_is_unreachable():
    engine = make_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere", connect_timeout_s=2)
    response = TestClient(create_app(engine)).get("/health")
    body = assert_problem(response, 503)
    assert body["title"] == "Service Unavailable"
    assert body["detail"].startswith("database unreachable:")


def test_health_is_503_when_the_database_lacks_postgis(database_factory):
    engine = make_engine(database_factory())  # created, never migrated
    response = TestClient(create_app(engine)).get("/health")
    engine.dispose()
    assert response.status_code == 503
    assert "has no PostGIS extension" in response.json()["detail"]


def test_unknown_path_is_a_404_problem(client):
    assert_problem(client.get("/no-such-thing"), 404)
