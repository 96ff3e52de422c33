"""Blocking work (a file being built) that learns when its client has left."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

T = TypeVar("T")


async def while_connected(request: Request, work: Callable[[Callable[[], bool]], T]) -> T:
    """`work(gone)` in a worker thread; `gone()` turns true once the client disconnects, so the work
    can stop instead of finishing something nobody will receive."""
    left = threading.Event()

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        left.set()

    failure: list[Exception] = []
    result: list[T] = []
    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        try:
            result.append(await run_in_threadpool(work, left.is_set))
        except Exception as exc:  # raised below, outside the group (which would wrap it)
            failure.append(exc)
        group.cancel_scope.cancel()
    if failure:
        raise failure[0]
    return result[0]
