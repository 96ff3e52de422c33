"""One text column of a query, straight from PostgreSQL's COPY TO STDOUT, in blocks of whole lines.

For whole-layer GeoJSON this skips the Python object per row that a cursor makes (a million farms:
seconds). CSV format with control characters as quote and delimiter passes each value through
unchanged: JSON text never contains them, nor a raw line break.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Generator
from typing import Any

from psycopg2.extras import Json
from sqlalchemy import Engine, Select

BLOCK_BYTES = 1 << 16
_DONE = object()


class _Cancelled(Exception):
    pass


class _Writer:
    """The file COPY writes to: collects rows into blocks and hands them over, at most 8 waiting."""

    def __init__(self) -> None:
        self.blocks: queue.Queue[Any] = queue.Queue(maxsize=8)
        self.cancelled = threading.Event()
        self._parts: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | str) -> None:
        if self.cancelled.is_set():
            raise _Cancelled  # aborts the COPY when the reader has gone
        part = data.encode() if isinstance(data, str) else bytes(data)
        self._parts.append(part)
        self._size += len(part)
        if self._size >= BLOCK_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._parts:
            self._put(b"".join(self._parts))
            self._parts, self._size = [], 0

    def _put(self, item: Any) -> None:
        while not self.cancelled.is_set():
            try:
                self.blocks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
        raise _Cancelled


def copy_lines(engine: Engine, stmt: Select[Any]) -> Generator[bytes, None, None]:
    """Blocks of b"value\\n" lines of the statement's only column, as PostgreSQL sends them."""
    raw = engine.raw_connection()
    writer = _Writer()
    failure: list[BaseException] = []
    complete = False
    try:
        cur = raw.cursor()
        compiled = stmt.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
        # psycopg2's own quoting; a JSON document (a dict: the chain links' flows) as JSON
        params = {k: Json(v) if isinstance(v, dict) else v for k, v in compiled.params.items()}
        query = cur.mogrify(str(compiled), params).decode()
        copy = f"COPY ({query}) TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"

        def run() -> None:
            try:
                cur.copy_expert(copy, writer)
                writer.flush()
            except BaseException as exc:  # handed to the reader
                failure.append(exc)
            finally:
                with contextlib.suppress(_Cancelled):
                    writer._put(_DONE)

        thread = threading.Thread(target=run, name="copy-lines", daemon=True)
        thread.start()
        try:
            while (block := writer.blocks.get()) is not _DONE:
                yield block
            if failure:
                raise failure[0]
            complete = True
        finally:
            writer.cancelled.set()
            thread.join()
    finally:
        if complete:
            raw.rollback()
            raw.close()
        else:  # a COPY broken off leaves the connection mid-protocol: discard it, never pool it
            raw.invalidate()
