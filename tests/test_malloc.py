"""glibc's malloc in the service's process (D112): two arenas however many threads allocate, and
freed pages handed back to the system by the trim the application runs every few seconds.

glibc gives each new thread that allocates an arena of its own; with the limit set by `create_app`,
eight threads share two. glibc's `malloc_stats()` prints one "Arena N:" block per arena on stderr.
Each case runs in a fresh process, since the settings are process-wide.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.api.app import create_app

REPO = Path(__file__).resolve().parents[1]

THREADS = textwrap.dedent(
    """
    import ctypes, sys, threading
    from sqlalchemy import create_engine

    if sys.argv[1] == "app":
        from service.api.app import create_app

        create_app(create_engine("postgresql+psycopg2://nobody@127.0.0.1:1/none"))  # never connects
    ready = threading.Barrier(9)

    def allocate():
        held = [bytes(1000 + i % 7) for i in range(2000)]  # above pymalloc's 512 bytes: glibc's malloc
        ready.wait()  # every thread holds its memory while the arenas are counted
        del held

    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for thread in threads:
        thread.start()
    ready.wait()
    ctypes.CDLL(None).malloc_stats()
    for thread in threads:
        thread.join()
    """
)


FRAGMENTS = textwrap.dedent(
    """
    from service.api import malloc

    def rss_mib():
        return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) // 1024

    held = [bytes(1000) for _ in range(200_000)]  # about 200 MiB in glibc's malloc
    kept = held[::100]  # one in a hundred stays: the heap cannot shrink from its top
    del held
    before = rss_mib()
    malloc.trim()
    print(before, rss_mib())
    """
)


def run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def arenas_after_eight_threads(mode: str) -> int:
    return sum(1 for line in run(THREADS, mode).stderr.splitlines() if line.startswith("Arena "))


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")


def test_without_the_limit_each_thread_gets_an_arena_of_its_own() -> None:
    assert arenas_after_eight_threads("bare") > 2


def test_after_create_app_the_threads_share_two_arenas() -> None:
    assert arenas_after_eight_threads("app") == 2


def test_trim_hands_the_free_pages_between_live_objects_back() -> None:
    before, after = map(int, run(FRAGMENTS).stdout.split())
    assert before > 150  # the freed 200 MiB were still the process's
    assert after < before - 100


def test_the_application_trims_while_it_runs(empty_engine: Engine) -> None:
    with TestClient(create_app(empty_engine)) as client:
        trimmer = client.app.state.trimmer  # type: ignore[attr-defined]
        assert client.get("/health").status_code == 200
        assert not trimmer.done()
    assert trimmer.cancelled()
