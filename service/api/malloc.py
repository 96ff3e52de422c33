"""glibc's malloc in the service's process: at most two arenas, free pages given back while it runs.

glibc gives each new thread that allocates an arena of its own, up to eight per core, and keeps what
those arenas once held: after bursts of concurrent requests (the routes run in a pool of up to 40
threads) the process kept about 90 MiB more than with two arenas, and grew from burst to burst.
Freed memory in the middle of a heap also stays with the process until `malloc_trim` hands its pages
back; trimming every few seconds took another 40 MiB off the process after the bursts
(docs/benchmarks.md, "Memory"). The requests spend their time in PostgreSQL, not in malloc, so
neither costs measurable speed. `MALLOC_ARENA_MAX` in the environment is glibc's own setting and
wins over ours. Under another C library (musl, macOS) both are no-ops.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
from typing import Any

ARENAS = 2
M_ARENA_MAX = -8  # glibc's malloc.h
TRIM_EVERY_S = 5.0


def _libc(name: str) -> Any:
    return getattr(ctypes.CDLL(None), name, None)  # the process's own C library


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Limit the arenas of threads that start from now on; True when glibc took the setting (False
    under another C library, or when the environment sets its own limit)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    mallopt = _libc("mallopt")
    return bool(mallopt(M_ARENA_MAX, arenas)) if mallopt is not None else False


def trim() -> bool:
    """Hand the free pages of every arena back to the system; True when any were."""
    malloc_trim = _libc("malloc_trim")
    return bool(malloc_trim(0)) if malloc_trim is not None else False


async def trim_every(seconds: float = TRIM_EVERY_S) -> None:
    """`trim()` every `seconds` until cancelled, in a thread: the event loop never waits for it."""
    while True:
        await asyncio.sleep(seconds)
        await asyncio.to_thread(trim)
