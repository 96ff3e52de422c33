"""Security headers on every response, and the public address that absolute links are built from.

Links (OGC `links`, map pages' panel links and the base their popups fetch from, TileJSON) are absolute.
They start with `SANICHAIN_PUBLIC_URL` when it is set. Otherwise they follow the request's Host, which
is then only believed for the trusted names (`SANICHAIN_TRUSTED_HOSTS` and the bound HOST): any other
Host is answered with a 400 before a route runs, so it can never be written into a page that is cached
and served to others.

A plain ASGI middleware, not Starlette's BaseHTTPMiddleware: that one runs the route in a task of its
own, which hides a client's disconnect from the streams below it.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI, Request
from starlette.datastructures import URL, Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.problems import problem
from service.config import PublicAddressSettings, ServerSettings

SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),  # a download is never sniffed into HTML or script
    (b"content-security-policy", b"frame-ancestors 'self'"),  # no framing by other sites
    (b"x-frame-options", b"SAMEORIGIN"),  # the same, for browsers without CSP level 2
)
SHOWN_HOST_CHARS = 100


@dataclass(frozen=True)
class PublicAddress:
    public_url: str | None  # without a trailing slash
    trusted: frozenset[str]  # lower-case host names without port

    @classmethod
    def configured(cls, settings: PublicAddressSettings, bound_host: str) -> PublicAddress:
        return cls(settings.public_url, settings.hosts(bound_host))

    def allows(self, host_header: str) -> bool:
        """Whether links may be built from this Host header (any, once a public URL is set)."""
        if self.public_url is not None or not host_header:  # no Host: Starlette uses the bound address
            return True
        return host_name(host_header) in self.trusted


def host_name(host_header: str) -> str:
    """`Example.org:8000` → `example.org`; `[::1]:8000` → `::1`."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def address_of(request: Request) -> PublicAddress | None:
    address = getattr(request.app.state, "public_address", None)
    return address if isinstance(address, PublicAddress) else None


def base_url(request: Request) -> str:
    """The service's root as clients reach it, without a trailing slash."""
    address = address_of(request)
    if address is not None and address.public_url is not None:
        return address.public_url
    return str(request.base_url).rstrip("/")


def public_url(request: Request) -> URL:
    """The URL of this request as clients reach it (for `self` links and their variants)."""
    address = address_of(request)
    if address is None or address.public_url is None:
        return request.url
    path, root = request.url.path, request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    query = request.url.query
    return URL(address.public_url + path + (f"?{query}" if query else ""))


class SecurityHeaders:
    """Adds the security headers to every response; refuses an untrusted Host (see the module)."""

    def __init__(self, app: ASGIApp, address: PublicAddress) -> None:
        self.app = app
        self.address = address

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [h for h in SECURITY_HEADERS if h[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        host = Headers(scope=scope).get("host", "")
        if not self.address.allows(host):
            shown = host[:SHOWN_HOST_CHARS]
            response = problem(
                400,
                f"Host: {shown!r} is not a name this service answers to; the operator can add it to "
                "SANICHAIN_TRUSTED_HOSTS, or set SANICHAIN_PUBLIC_URL",
                parameter="Host",
            )
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    """Read the public address once and put the middleware in front of every route."""
    address = PublicAddress.configured(PublicAddressSettings(), ServerSettings().host)
    app.state.public_address = address
    app.add_middleware(SecurityHeaders, address=address)
