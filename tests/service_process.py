"""The real service in a subprocess (uvicorn on a free port) for tests with real HTTP clients."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from tests.conftest import free_port


@contextmanager
def running_service(
    database_url: str, env: dict[str, str] | None = None, log: TextIO | None = None
) -> Iterator[str]:
    """The service on a free port; its log (stderr and the access log on stdout) goes to `log` when given."""
    port = free_port()
    # one worker unless a test asks for more: tests read one process's state (tests/test_workers.py has two)
    env = {**os.environ, "DATABASE_URL": database_url, "SANICHAIN_WORKERS": "1", **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log if log is not None else subprocess.DEVNULL,  # the JSON request lines
        stderr=log if log is not None else subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/health", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    reason = proc.stderr.read() if proc.stderr else "(see the log)"
                    raise RuntimeError(f"service did not start: {reason}") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
