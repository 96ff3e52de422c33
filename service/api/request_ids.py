"""A request id on every request: the client's `X-Request-ID` when it is a sane token, else a new one.
Returned in the response's `X-Request-ID`, kept in `request.state.request_id` for the audit log.

A plain ASGI middleware (see headers.py for why not BaseHTTPMiddleware).
"""

from __future__ import annotations

import re
import uuid

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
ACCEPTED = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")  # anything else is replaced, never echoed


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(HEADER, "")
        request_id = given if ACCEPTED.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER.encode(), request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


def install(app: FastAPI) -> None:
    app.add_middleware(RequestIds)
