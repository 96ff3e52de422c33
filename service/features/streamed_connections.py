"""Connections that stream to a client are held here until their stream closes them.

When a client goes away mid-stream, the abandoned generator is closed by the garbage collector. In a
collection the weak-reference callbacks run before finalizers, so SQLAlchemy's pool would take back a
connection that only the generator referenced (and hand it to another request) before the generator's
`finally` closed its server-side cursor on it. A strong reference from here keeps the connection out
of that collection; the generator's `finally` closes it and lets go.
"""

from __future__ import annotations

import threading

from sqlalchemy import Connection

_held: set[Connection] = set()
_lock = threading.Lock()


def hold(conn: Connection) -> Connection:
    with _lock:
        _held.add(conn)
    return conn


def release(conn: Connection) -> None:
    try:
        conn.close()
    finally:
        with _lock:
            _held.discard(conn)


def count() -> int:
    """How many streaming connections are open (for tests)."""
    with _lock:
        return len(_held)
