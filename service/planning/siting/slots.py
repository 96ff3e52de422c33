"""Concurrent siting solves, capped: CBC takes a core for up to its time limit, so a few requests at once
would starve everything else. A request over the cap is refused at once (503 + Retry-After), never
queued: a queue would hold the client and a worker thread for as long as the solves ahead of it."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from service.errors import Unavailable

LIMIT_VARIABLE = "SANICHAIN_SITING_MAX_CONCURRENT_SOLVES"


class SolverBusy(Unavailable):
    """Every solver slot is taken; worth retrying once a running solve has ended."""

    def __init__(self, size: int, retry_after_s: int) -> None:
        super().__init__(
            f"siting: {size} solve(s) already running, the most this service runs at once "
            f"({LIMIT_VARIABLE}); retry in about {retry_after_s} s",
            setting=LIMIT_VARIABLE,
            max_size=size,
            retry_after_s=retry_after_s,
        )


class SolverSlots:
    """At most `size` solves at a time in this process."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = threading.BoundedSemaphore(size)

    @contextmanager
    def held(self, longest_solve_s: float) -> Iterator[None]:
        """Hold a slot for the block; SolverBusy when none is free (`longest_solve_s`: how long a running
        solve may still take, the client's hint of when to retry)."""
        if not self._free.acquire(blocking=False):
            raise SolverBusy(self.size, math.ceil(longest_solve_s))
        try:
            yield
        finally:
            self._free.release()
