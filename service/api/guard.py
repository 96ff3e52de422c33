"""The database guard: an ASGI middleware between the server and the application.

- Caps the heavy request classes (`admission`): over the cap, a 503 with Retry-After at once.
- Drops a client that accepts no bytes for `send_timeout_s`: its response fails, and the stream's
  `finally` gives the database connection back.
- Notices a database that is down or frozen: while a request has no response yet (or its stream has
  sent nothing for a while), it asks `liveness`; when the database does not answer, the request gets
  a 503 problem (or, once bytes have gone out, the transfer is aborted) instead of waiting for it.
  Once a check found it down, requests get their 503 without being run until a check finds it back.

The application runs as a task of its own: a worker thread blocked on a frozen server cannot be
cancelled, so the guard answers without waiting for it and drops whatever it sends later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.admission import Admission
from service.api.liveness import Liveness
from service.api.problems import problem
from service.api.request_classes import classify, uses_database
from service.config import RuntimeSettings
from service.db import UNREACHABLE, RequestClass, unavailable_detail

log = logging.getLogger("sanichain.guard")
POLL_S = 0.2


class DatabaseUnreachable(ConnectionError):
    """Raised to the server to abort a response whose database stopped answering mid-stream."""


class ClientTooSlow(TimeoutError):
    """A client accepted no bytes within the send timeout."""


class _Watched:
    """The application's `send`: timed, observed (started? last bytes when?), and mutable."""

    def __init__(self, send: Send, timeout_s: float) -> None:
        self._send = send
        self.timeout_s = timeout_s
        self.started = False
        self.sending = False
        self.muted = False
        self.last = time.monotonic()

    async def __call__(self, message: Message) -> None:
        if self.muted:
            return
        self.sending = True
        try:
            with anyio.fail_after(self.timeout_s):
                await self._send(message)
        except TimeoutError:
            raise ClientTooSlow(f"the client accepted no bytes for {self.timeout_s:g} s") from None
        finally:
            self.sending = False
            self.last = time.monotonic()
        if message["type"] == "http.response.start":
            self.started = True

    def quiet_for(self) -> float:
        return 0.0 if self.sending else time.monotonic() - self.last


class DatabaseGuard:
    def __init__(self, app: ASGIApp, runtime: RuntimeSettings, liveness: Liveness) -> None:
        self.app = app
        self.runtime = runtime
        self.liveness = liveness
        self.admission = Admission(runtime)

    def _unavailable(self, detail: str) -> Any:
        return problem(503, detail, headers={"Retry-After": str(self.runtime.retry_after_s)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watched = _Watched(send, self.runtime.send_timeout_s)
        if not uses_database(scope["path"]):
            await self._run(self.app(scope, receive, watched))
            return
        # after a check found it down, a request is run only once a new check finds it back (a request
        # run meanwhile would block a worker thread for as long as a frozen server stays frozen)
        if self.liveness.was_down() and not await self.liveness.alive():
            await self._unavailable(UNREACHABLE)(scope, receive, send)
            return
        kind = classify(scope["path"])
        if not self.admission.enter(kind):
            await self._unavailable(self.admission.refusal(kind))(scope, receive, send)
            return
        task = asyncio.ensure_future(self.app(scope, receive, watched))
        task.add_done_callback(lambda done: self._finished(done, kind))
        try:
            await self._supervise(task, watched, scope, receive, send)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if task.done():
            await self._run(task)

    async def _supervise(
        self, task: asyncio.Future[None], watched: _Watched, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Wait for the application; leave early (503 or abort) when the database stops answering."""
        while not task.done():
            await asyncio.wait({task}, timeout=POLL_S)
            if task.done() or watched.quiet_for() < self.runtime.liveness_after_s:
                continue
            if await self.liveness.alive() or task.done():
                continue
            watched.muted = True  # the application, when its thread comes back, speaks to no one
            late = f"no answer to a fresh connection within {self.liveness.timeout_s:g} s"
            detail = unavailable_detail(DatabaseUnreachable(late))
            if not watched.started:
                await self._unavailable(detail)(scope, receive, send)
                return
            raise DatabaseUnreachable("the database stopped answering mid-response")

    async def _run(self, app_call: Any) -> None:
        """Await the application; a too-slow client's response ends here, its connection already
        released by the stream's `finally` (the server then closes the transport)."""
        try:
            await app_call
        except ClientTooSlow as exc:
            log.warning("%s: dropped", exc)

    def _finished(self, task: asyncio.Future[None], kind: RequestClass) -> None:
        self.admission.leave(kind)
        if not task.cancelled():
            task.exception()  # retrieved: after an early answer nobody awaits the task
