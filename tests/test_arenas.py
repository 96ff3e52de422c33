"""The service's process keeps to two glibc malloc arenas however many threads allocate (D112).

glibc gives each new thread that allocates an arena of its own; with the limit set by `create_app`,
eight threads share two. glibc's `malloc_stats()` prints one "Arena N:" block per arena on stderr.
Each case runs in a fresh process, since the limit is process-wide.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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


def arenas_after_eight_threads(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", THREADS, mode], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return sum(1 for line in done.stderr.splitlines() if line.startswith("Arena "))


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")


def test_without_the_limit_each_thread_gets_an_arena_of_its_own() -> None:
    assert arenas_after_eight_threads("bare") > 2


def test_after_create_app_the_threads_share_two_arenas() -> None:
    assert arenas_after_eight_threads("app") == 2
