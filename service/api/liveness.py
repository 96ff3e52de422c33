"""Is the database answering? One check at a time, its answer shared for a short while.

Connections already in a pool cannot tell: on a frozen server they block in recv for as long as it
stays frozen. A fresh connection with a deadline can (`db.answers`). The check runs in a thread of
its own limiter, so it still runs when every worker thread is stuck on such a connection.
"""

from __future__ import annotations

import time

import anyio
from sqlalchemy.engine import URL

from service.db import answers


class Liveness:
    def __init__(self, url: URL, timeout_s: float, ttl_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.ttl_s = ttl_s
        self._answer: bool | None = None
        self._at = 0.0
        self._limiter = anyio.CapacityLimiter(1)

    def _fresh(self) -> bool:
        return self._answer is not None and time.monotonic() - self._at < self.ttl_s

    def was_down(self) -> bool:
        """The last check found the database not answering."""
        return self._answer is False

    async def alive(self) -> bool:
        if self._fresh():
            return bool(self._answer)
        # the limiter makes concurrent callers wait for the one check under way, then read its answer
        async with self._limiter:
            if not self._fresh():
                self._answer = await anyio.to_thread.run_sync(answers, self.url, self.timeout_s)
                self._at = time.monotonic()
            return bool(self._answer)
