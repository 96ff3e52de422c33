"""Caps on concurrent requests of the heavy classes, so exports and analyses cannot take every
connection and thread; a request over its class's cap is refused at once (503 with Retry-After)."""

from __future__ import annotations

import threading

from service.config import RuntimeSettings
from service.db import RequestClass

VARIABLES = {RequestClass.export: "SANICHAIN_MAX_EXPORTS", RequestClass.analysis: "SANICHAIN_MAX_ANALYSES"}


class Admission:
    def __init__(self, runtime: RuntimeSettings) -> None:
        self.caps = {RequestClass.export: runtime.max_exports, RequestClass.analysis: runtime.max_analyses}
        self.running = dict.fromkeys(self.caps, 0)
        self._lock = threading.Lock()

    def enter(self, kind: RequestClass) -> bool:
        """Take a place of `kind` (interactive reads are not capped); False when all are taken."""
        if kind not in self.caps:
            return True
        with self._lock:
            if self.running[kind] >= self.caps[kind]:
                return False
            self.running[kind] += 1
            return True

    def leave(self, kind: RequestClass) -> None:
        if kind in self.caps:
            with self._lock:
                self.running[kind] -= 1

    def refusal(self, kind: RequestClass) -> str:
        cap = self.caps[kind]
        return (
            f"too many {kind.value} requests: {cap} are running, the limit ({VARIABLES[kind]}); "
            "retry when one has finished"
        )
