"""What an operator sees: one JSON log line per request (request id, user, route, status, time, the path
with secrets redacted) and Prometheus metrics at /metrics whose figures follow the requests made."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from service.api.app import create_app
from service.api.observability import LOG
from tests.accounts import role_headers
from tests.conftest import PgServer, demo_copy_engine


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(record.getMessage()))


@pytest.fixture
def logged() -> Iterator[Lines]:
    handler = Lines()
    LOG.addHandler(handler)
    yield handler
    LOG.removeHandler(handler)


@pytest.fixture(scope="module")
def engine(pg_server: PgServer, migrated_template: str) -> Iterator[Engine]:
    with demo_copy_engine(pg_server, migrated_template, "observed") as engine:
        yield engine


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition text (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in metrics.splitlines():
        if line.startswith(f"{name}{{{wanted}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_each_request_logs_one_json_line_with_its_id_user_route_and_status(engine, logged):
    with TestClient(create_app(engine)) as client:
        viewer = role_headers(engine, "viewer")
        answer = client.get(
            "/collections/villages/items?limit=2", headers={**viewer, "X-Request-ID": "req-42"}
        )
        assert answer.status_code == 200 and answer.headers["x-request-id"] == "req-42"
        refused = client.get("/collections?access_token=s3cret-value")
        assert refused.status_code == 400
    first, second = logged.lines[-2:]
    assert first["request_id"] == "req-42" and first["user"] == "test-viewer"
    assert (first["method"], first["route"], first["status"]) == ("GET", "/collections/{layer}/items", 200)
    assert first["path"] == "/collections/villages/items?limit=2"
    assert isinstance(first["ms"], float) and first["ms"] > 0 and first["bytes"] == len(answer.content)
    assert (
        second["status"] == 400 and "s3cret" not in json.dumps(second) and "[redacted]" in str(second["path"])
    )
    assert re.fullmatch(r"[0-9a-f]{32}", str(second["request_id"]))


def test_metrics_count_requests_by_route_refusals_pools_and_inspections(engine):
    with TestClient(create_app(engine)) as client:
        for _ in range(3):
            assert client.get("/collections/towns/items?limit=1").status_code == 200
        assert client.get("/collections/nope/items").status_code == 404
        with engine.connect() as conn:
            station = conn.execute(text("SELECT id FROM transfer_stations ORDER BY id LIMIT 1")).scalar_one()
        at = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
        key = uuid.uuid4().hex
        for _ in range(2):  # the second is a re-send: not a second inspection
            client.post(
                "/inspections",
                data={
                    "layer": "transfer_stations",
                    "feature_id": str(station),
                    "inspected_at": at,
                    "outcome": "defects",
                },
                headers={
                    **role_headers(engine, "inspector"),
                    "Idempotency-Key": key,
                    "X-Request-ID": "insp-" + key[:8],
                },
            )
        metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    body = metrics.text
    route = "/collections/{layer}/items"
    assert sample(body, "sanichain_requests_total", method="GET", route=route, status="200") == 3
    assert sample(body, "sanichain_requests_total", method="GET", route=route, status="404") == 1
    assert sample(body, "sanichain_request_duration_seconds_count", route=route) == 4
    assert sample(body, "sanichain_inspections_recorded_total", outcome="defects") == 1
    for kind in ("interactive", "export", "analysis"):
        assert sample(body, "sanichain_db_pool_size", request_class=kind) >= 1
        assert sample(body, "sanichain_db_pool_in_use", request_class=kind) == 0
    with engine.connect() as conn:  # the request id reaches the audit log
        audited = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'inspection.record' AND request_id = :r"),
            {"r": "insp-" + key[:8]},
        ).scalar_one()
    assert audited == 1


def test_refusals_by_a_limit_are_counted(engine):
    with TestClient(create_app(engine)) as client:
        big = b"x" * (2 * 1024 * 1024)
        answer = client.post(
            "/collections/villages/items",
            content=big,
            headers={**role_headers(engine, "editor"), "Content-Type": "application/geo+json"},
        )
        assert answer.status_code == 413
        body = client.get("/metrics").text
    assert sample(body, "sanichain_refusals_total", kind="too_large") == 1


def test_exports_and_imports_are_counted_by_layer_format_and_step(engine):
    csv = "名称,编码,经度,纬度,畜种,存栏(头)\n计数农场,METRIC-001,119.41,35.99,生猪,120\n".encode()
    with TestClient(create_app(engine)) as client:
        assert client.get("/export/towns.geojson").status_code == 200
        assert client.get("/export/towns.csv").status_code == 200
        assert client.get("/export/towns.geojson").status_code == 200
        assert client.get("/export/nope.geojson").status_code == 404  # an unknown layer is not a label
        upload = client.post(
            "/imports",
            files={"file": ("farms.csv", csv, "text/csv")},
            data={"layer": "livestock_farms", "dry_run": "true"},
            headers=role_headers(engine, "editor"),
        )
        assert upload.status_code == 202, upload.text
        body = client.get("/metrics").text
    assert sample(body, "sanichain_exports_total", format="geojson", layer="towns") == 2
    assert sample(body, "sanichain_exports_total", format="csv", layer="towns") == 1
    assert "nope" not in body.split("sanichain_exports_total", 1)[1].split("# HELP", 1)[0]
    assert sample(body, "sanichain_imports_total", step="upload") == 1
    assert sample(body, "sanichain_imports_total", step="confirm") == 0
