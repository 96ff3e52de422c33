"""How many worker processes serve HTTP, and whether their database pools fit the server.

Each uvicorn worker is a process with its own engines, so its pools are multiplied by the number of
workers. The default takes half the cores the process may use (the database usually shares the
machine and does the spatial work), at least 1 and at most `MAX_DEFAULT_WORKERS`, which keeps the
default pools within PostgreSQL's default `max_connections` of 100 (docs/deployment.md).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

MAX_DEFAULT_WORKERS = 4
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
# connections an import holds at once: its transaction, a progress write and the heartbeat
CONNECTIONS_PER_IMPORT = 3
LIVENESS_CONNECTIONS = 1  # the guard's check opens a fresh connection of its own
# prometheus_client's multiprocess directory: set by `serve` for several workers, before any worker
# imports prometheus_client; /metrics sums the files in it (api/observability.py)
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def available_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """Cores this process may run on: its CPU affinity, lowered by a cgroup quota (a container's
    `cpus:` limit, which affinity does not show)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return max(cores, 1)
    if quota != "max" and int(period) > 0:
        cores = min(cores, math.ceil(int(quota) / int(period)))
    return max(cores, 1)


def default_workers(cores: int | None = None) -> int:
    """Half the cores, at least one, at most MAX_DEFAULT_WORKERS."""
    cores = available_cores() if cores is None else cores
    return min(max(cores // 2, 1), MAX_DEFAULT_WORKERS)


@dataclass(frozen=True)
class ConnectionBudget:
    """Database connections one worker may open, by what opens them."""

    request_pools: int  # interactive + export + analysis (SANICHAIN_POOL_*)
    imports: int  # the import threads' engine
    liveness: int = LIVENESS_CONNECTIONS

    @property
    def per_worker(self) -> int:
        return self.request_pools + self.imports + self.liveness

    def total(self, workers: int) -> int:
        return workers * self.per_worker


def budget(
    pool_interactive: int, pool_export: int, pool_analysis: int, import_workers: int
) -> ConnectionBudget:
    return ConnectionBudget(
        request_pools=pool_interactive + pool_export + pool_analysis,
        imports=import_pool_size(import_workers),
    )


def import_pool_size(import_workers: int) -> int:
    """The pool of the engine the import threads use: each running import, plus one for housekeeping."""
    return CONNECTIONS_PER_IMPORT * import_workers + 1


def over_budget(needed: int, max_connections: int, reserved: int) -> str | None:
    """Why `needed` connections do not fit a server, or None when they do."""
    usable = max_connections - reserved
    if needed <= usable:
        return None
    return (
        f"the service may open {needed} database connections but the server allows {usable} "
        f"(max_connections {max_connections} minus {reserved} reserved for superusers): lower "
        "SANICHAIN_WORKERS or the SANICHAIN_POOL_* sizes, or raise max_connections"
    )
