"""Helpers of the robustness tests: raw sockets to a running service, the service's sessions."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from sqlalchemy import Engine, text

T = TypeVar("T")
# A receive buffer this small makes the service block in `send` after a few kilobytes.
SMALL_RCVBUF = 4096


def request_and_stop_reading(base: str, path: str) -> tuple[socket.socket, bytes]:
    """A GET whose response head is read, then nothing more (the socket stays open)."""
    parts = urlsplit(base)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RCVBUF)
    sock.settimeout(15)
    sock.connect((parts.hostname or "127.0.0.1", parts.port or 80))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        got = sock.recv(1024)
        if not got:
            break
        head += got
    return sock, head


def busy_sessions(engine: Engine) -> list[tuple[str, str]]:
    """(application_name, state) of the service's sessions that are in a transaction or running."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT application_name, state FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name LIKE 'sanichain-%' "
                "AND application_name <> 'sanichain-liveness' "
                "AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')"
            )
        ).all()
    return [(r[0], r[1]) for r in rows]


def eventually(probe: Callable[[], T], accept: Callable[[T], bool], within_s: float) -> T:
    """`probe()` until `accept` holds or `within_s` passes; the last value either way."""
    deadline = time.monotonic() + within_s
    while True:
        value = probe()
        if accept(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)
