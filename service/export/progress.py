"""A progress bar on stderr for long exports (a line per update when stderr is not a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    WIDTH = 30

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label, self.total = label, total
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self.done_rows = 0
        self.tty = self.stream.isatty()

    def update(self, rows: int) -> None:
        self.done_rows = rows
        share = rows / self.total if self.total else 1.0
        filled = int(self.WIDTH * min(share, 1.0))
        line = (
            f"  {self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {share:6.1%} "
            f"{rows:,}/{self.total:,} features  {time.monotonic() - self.start:6.1f} s"
        )
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
