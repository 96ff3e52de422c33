"""Several worker processes: the default count, the connection budget, and the real service with two
workers (process tree, metrics summed over the workers, a clean stop)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from service.config import ServerSettings
from service.workers import available_cores, budget, default_workers, import_pool_size, over_budget
from tests.conftest import free_port
from tests.service_process import running_service

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("cores", "workers"), [(1, 1), (2, 1), (3, 1), (4, 2), (8, 4), (64, 4)])
def test_default_workers_are_half_the_cores_from_one_to_four(cores, workers):
    assert default_workers(cores) == workers


def test_a_cgroup_quota_lowers_the_cores(tmp_path):
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("150000 100000\n")  # docker compose `cpus: 1.5`
    assert available_cores(cpu_max) == min(2, len(os.sched_getaffinity(0)))
    cpu_max.write_text("max 100000\n")
    assert available_cores(cpu_max) == len(os.sched_getaffinity(0))
    assert available_cores(tmp_path / "absent") == len(os.sched_getaffinity(0))


def test_the_setting_overrides_the_cores(monkeypatch):
    monkeypatch.setenv("SANICHAIN_WORKERS", "3")
    assert ServerSettings().worker_count() == 3
    monkeypatch.delenv("SANICHAIN_WORKERS")
    assert ServerSettings().worker_count() == default_workers()


def test_four_default_workers_fit_postgresql_default_connections():
    # the defaults: pools 10 + 4 + 4, one import thread (3 connections + 1), the liveness check
    per_worker = budget(10, 4, 4, import_workers=1).per_worker
    assert import_pool_size(1) == 4
    assert per_worker == 23
    assert over_budget(4 * per_worker, max_connections=100, reserved=3) is None
    refusal = over_budget(5 * per_worker, max_connections=100, reserved=3)
    assert refusal is not None and "115" in refusal and "97" in refusal and "SANICHAIN_WORKERS" in refusal


def _children(pid: int) -> list[tuple[int, str]]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.append((int(stat.parent.name), cmdline))
    return found


def _workers(pid: int) -> list[int]:
    """Worker processes of uvicorn's supervisor (multiprocessing's spawned children)."""
    return [child for child, cmdline in _children(pid) if "spawn_main" in cmdline]


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def _serve(database_url: str, port: int, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port), *args],
        env={**os.environ, "DATABASE_URL": database_url, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_healthy(proc: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            _get(url + "/health")
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"no service: {proc.communicate()[1]}") from None
            time.sleep(0.2)


def _health_count(metrics: str) -> float:
    pattern = r'^sanichain_requests_total\{method="GET",route="/health",status="200"\} (\S+)$'
    return sum(float(m) for m in re.findall(pattern, metrics, re.MULTILINE))


def test_two_workers_serve_sum_their_metrics_and_stop_on_sigterm(demo_database_url):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(demo_database_url, port, SANICHAIN_WORKERS="2")
    try:
        _wait_healthy(proc, url)
        workers = _workers(proc.pid)
        assert len(workers) == 2, _children(proc.pid)
        # the parent sets the directory for the workers it starts
        environ = Path(f"/proc/{workers[0]}/environ").read_bytes().split(b"\0")
        directory = Path(next(v for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC_DIR=")).decode()[25:])

        sent = 1  # the health check above
        with ThreadPoolExecutor(8) as pool:  # until each worker has answered some (its counter file)
            while len({p.name.split("_")[1] for p in directory.glob("counter_*.db")}) < 2 and sent < 2000:
                list(pool.map(lambda _: _get(url + "/health"), range(40)))
                sent += 40
        writers = {int(p.stem.split("_")[1]) for p in directory.glob("counter_*.db")}
        assert writers == set(workers)

        # each scrape, whichever worker answers it, counts every worker's requests
        counts = [_health_count(_get(url + "/metrics")) for _ in range(10)]
        assert counts == [sent] * 10
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "with 2 worker processes" in err
    assert [w for w in workers if Path(f"/proc/{w}").exists()] == []
    assert not directory.exists()


def test_serve_refuses_workers_whose_pools_exceed_the_server(demo_database_url):
    # 5 workers × (40 + 4 + 4 + 4 + 1) = 265 connections on a server of 100
    proc = _serve(demo_database_url, free_port(), "--workers", "5", SANICHAIN_POOL_INTERACTIVE="40")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "may open 265 database connections but the server allows 97" in err
    assert "Traceback" not in err


def _landing_link(base: str) -> str:
    headers = {"X-Forwarded-Proto": "https", "Accept": "application/json"}
    request = urllib.request.Request(base + "/", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.load(response)["links"][0]["href"])


def test_serve_believes_forwarded_headers_only_from_the_configured_proxies(demo_database_url):
    with running_service(demo_database_url) as base:  # the default: a proxy on 127.0.0.1
        assert _landing_link(base).startswith("https://127.0.0.1:")
    with running_service(demo_database_url, env={"SANICHAIN_FORWARDED_ALLOW_IPS": "10.9.9.9"}) as base:
        assert _landing_link(base).startswith("http://127.0.0.1:")
