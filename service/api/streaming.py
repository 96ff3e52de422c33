"""Streaming a blocking generator (rows from a server-side cursor) to an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from typing import Any

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

Chunks = Generator[bytes, None, None]
# The status line waits for this many bytes (or the whole body): a writer's opening chunk (e.g. a
# FeatureCollection's head) comes before its first query, so the status waits for the database.
FIRST_SEND_BYTES = 8192


class CursorStreamingResponse(StreamingResponse):
    """Streams `chunks`, a generator that opens its database cursor on the first `next()`.

    The first `FIRST_SEND_BYTES` (or the whole body) are read before the status line is sent, so a
    database error still becomes a problem response (`on_error`), and nothing is opened for a response
    that is never sent (a client gone before its turn). An error after that propagates to the server,
    which aborts the transfer (chunked, so the client sees it fail, never a clean short 200). However
    the stream ends, also when the client goes away or is dropped mid-stream (Starlette then stops
    iterating without closing the iterator), the generator is closed, and with it the cursor and the
    pooled connection.
    """

    def __init__(
        self,
        chunks: Chunks,
        media_type: str,
        headers: Mapping[str, str] | None = None,
        on_error: Callable[[Exception], Response] | None = None,
    ) -> None:
        self._source = chunks
        self._on_error = on_error
        self._first: bytes | None = None
        self._chunks = self._rest()
        super().__init__(self._chunks, media_type=media_type, headers=headers)

    async def _rest(self) -> AsyncGenerator[bytes, None]:
        try:
            if self._first is not None:
                yield self._first
            while (chunk := await run_in_threadpool(next, self._source, None)) is not None:
                yield chunk
        finally:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(self._source.close)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            self._first = await run_in_threadpool(self._opening)
        except Exception as exc:
            await run_in_threadpool(self._source.close)
            if self._on_error is None:
                raise
            await self._on_error(exc)(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def _opening(self) -> bytes | None:
        """The chunks before the status line, joined (None: the body is empty)."""
        parts: list[bytes] = []
        size = 0
        while size < FIRST_SEND_BYTES and (chunk := next(self._source, None)) is not None:
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts) if parts else None

    async def stream_response(self, send: Send) -> Any:
        try:
            await super().stream_response(send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._chunks.aclose()
