"""At most two glibc malloc arenas in the service's process.

glibc gives each new thread that allocates an arena of its own, up to eight per core, and keeps what
those arenas once held: after bursts of concurrent requests (the routes run in a pool of up to 40
threads) the process kept about 90 MiB more than with two arenas, and grew from burst to burst
(docs/benchmarks.md, "Memory"). The requests spend their time in PostgreSQL, not in malloc, so two
arenas cost no measurable speed. `MALLOC_ARENA_MAX` in the environment is glibc's own setting and
wins over this one.
"""

from __future__ import annotations

import ctypes
import os

ARENAS = 2
M_ARENA_MAX = -8  # glibc's malloc.h


def limit(arenas: int = ARENAS) -> bool:
    """Limit the arenas of threads that start from now on; True when glibc took the setting (False
    under another C library, or when the environment sets its own limit)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # the process's own C library
    if mallopt is None:
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))
