"""What an operator sees: one JSON log line per request, and Prometheus metrics at `/metrics`.

The log line (logger `sanichain.requests`, on stdout like an access log; stderr keeps the service's
own messages) carries the request id (also in the response's
`X-Request-ID` and in the audit log), the signed-in user, the method, the route template, the path with
secrets redacted, the status, the bytes sent and the time taken. The metrics: requests and their
latency by route, refusals by kind (busy, too large, unavailable), the pools' connections in use by
request class, inspections recorded by outcome, exports by layer and format, import jobs by step.
Each application has its own registry (a process serves one application; tests build many).
With several worker processes (`SANICHAIN_WORKERS` > 1) `sanichain serve` points prometheus_client's
multiprocess mode at a directory of its own, so a scrape,
whichever worker answers it, sums the counters and latencies of every worker;
only the pool gauges are those of the worker that answered (they are read from its engines).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.access_log import redacted_path
from service.workers import MULTIPROCESS_DIR

LOG = logging.getLogger("sanichain.requests")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
REFUSALS = {413: "too_large", 429: "busy", 503: "unavailable", 504: "timeout"}


class Metrics:
    def __init__(self, app: FastAPI) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "sanichain_requests", "Requests answered, by method, route and status",
            ["method", "route", "status"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "sanichain_request_duration_seconds", "Time to the last byte, by route", ["route"],
            buckets=BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.refusals = Counter(
            "sanichain_refusals", "Requests refused by a limit, by kind", ["kind"], registry=self.registry
        )
        self.inspections = Counter(
            "sanichain_inspections_recorded", "Inspections recorded (not re-sends), by outcome", ["outcome"],
            registry=self.registry,
        )  # fmt: skip
        self.exports = Counter(
            "sanichain_exports", "Exports started, by layer and format", ["layer", "format"],
            registry=self.registry,
        )  # fmt: skip
        self.imports = Counter(
            "sanichain_imports", "Import jobs started through the API: uploads and confirmations", ["step"],
            registry=self.registry,
        )  # fmt: skip
        self.registry.register(_PoolCollector(app))


class _PoolCollector(Collector):
    """Connections of each request class's pool: in use, and the pool's size."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        in_use = GaugeMetricFamily(
            "sanichain_db_pool_in_use", "Pooled connections in use", labels=["request_class"]
        )
        size = GaugeMetricFamily("sanichain_db_pool_size", "Pool size", labels=["request_class"])
        engines = getattr(self.app.state, "engines", None)
        if engines is not None:
            for kind, engine in engines.by_class.items():
                pool: Any = engine.pool
                in_use.add_metric([kind.value], float(pool.checkedout()))
                size.add_metric([kind.value], float(pool.size()))
        yield in_use
        yield size


def metrics_of(request: Request) -> Metrics | None:
    found = getattr(request.app.state, "metrics", None)
    return found if isinstance(found, Metrics) else None


def _route(scope: Scope) -> str:
    route = scope.get("route")
    return str(getattr(route, "path", "")) or "unmatched"  # a template: bounded label values


class RequestObserver:
    """A plain ASGI middleware (see headers.py for why not BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen: dict[str, int] = {"status": 500, "bytes": 0}

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = int(message["status"])
            elif message["type"] == "http.response.body":
                seen["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            self._record(scope, seen["status"], seen["bytes"], time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, size: int, seconds: float) -> None:
        route = _route(scope)
        method = scope.get("method", "")
        self.metrics.requests.labels(method, route, str(status)).inc()
        self.metrics.latency.labels(route).observe(seconds)
        if status in REFUSALS:
            self.metrics.refusals.labels(REFUSALS[status]).inc()
        state = scope.get("state", {})
        principal = state.get("principal")
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope.get("path", "") + (f"?{query}" if query else "")
        LOG.info(
            json.dumps(
                {
                    "ts": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "request_id": state.get("request_id"),
                    "user": getattr(principal, "name", None),
                    "method": method,
                    "route": route,
                    "path": redacted_path(path),
                    "status": status,
                    "bytes": size,
                    "ms": round(seconds * 1000, 1),
                },
                ensure_ascii=False,
            )
        )


class _Lines(logging.StreamHandler):
    """The log lines as they are: each message is already a JSON object."""


def _log_handler() -> None:
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
    if not any(isinstance(h, _Lines) for h in LOG.handlers):
        handler = _Lines(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        LOG.addHandler(handler)


def install(app: FastAPI) -> None:
    """The middleware (outermost but for the request id, which it reads) and the /metrics route."""
    metrics = Metrics(app)
    app.state.metrics = metrics
    _log_handler()
    app.add_middleware(RequestObserver, metrics=metrics)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics(request: Request) -> Response:
        return Response(generate_latest(_scraped(app, metrics)), media_type=CONTENT_TYPE_LATEST)


def _scraped(app: FastAPI, metrics: Metrics) -> CollectorRegistry:
    """This application's registry, or with several workers the sum of every worker's files."""
    directory = os.environ.get(MULTIPROCESS_DIR)
    if not directory:
        return metrics.registry
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    registry.register(_PoolCollector(app))
    return registry
