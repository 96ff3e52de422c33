"""The API's documentation pages, /docs (Swagger UI) and /redoc (ReDoc), with no CDN.

FastAPI's own pages load Swagger UI and ReDoc from public CDNs, so they are blank offline. These are
the same pages (FastAPI's `get_swagger_ui_html` / `get_redoc_html`) pointed at the service's own asset
route, which serves the files the `fastapi-offline` package ships on PyPI (Swagger UI's bundle and
stylesheet, ReDoc's standalone bundle, a favicon); only its files are used. The package's version is in
the asset URL, so the files are cached forever and an upgrade changes the URL.
"""

from __future__ import annotations

from functools import cache
from importlib import metadata, resources
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, Response

from service import navigation
from service.errors import NotFound

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"  # Swagger UI's "Authorize" returns here
ASSET_ROUTE = "/docs/assets/{version}/{file}"
ASSET_CACHE = "public, max-age=31536000, immutable"  # the version is in the path
ASSET_PACKAGE = "fastapi-offline"
# The only files served, with their media types: nothing else of the package is reachable.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
# The pages may load and fetch from the service only: ReDoc's credit logo (an image on a CDN, hidden
# when it does not load) is blocked by the browser instead of leaving the network. Inline script and
# style are FastAPI's page set-up and the UIs' own; ReDoc's search runs in a worker made from a blob.
# frame-ancestors repeats the service-wide header (headers.py), which this one replaces.
PAGE_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'self'"
)


@cache
def asset_version() -> str:
    return metadata.version(ASSET_PACKAGE)


def _asset_dir() -> Path:
    return Path(str(resources.files("fastapi_offline") / "static"))


def asset_path(version: str, file: str) -> Path | None:
    """The file behind an asset URL, or None (a stale version or a file not in ASSETS)."""
    if version != asset_version() or file not in ASSETS:
        return None
    path = _asset_dir() / file
    return path if path.is_file() else None


def asset_url(root_path: str, file: str) -> str:
    return f"{root_path}/docs/assets/{asset_version()}/{file}"


def _with_csp(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = PAGE_CSP
    return page


def _with_bar(page: HTMLResponse, root: str) -> HTMLResponse:
    """The page with the navigation's strip of links above the documentation (its own layout below)."""
    body = bytes(page.body).replace(b"<body>", b"<body>" + navigation.bar_html(root).encode("utf-8"), 1)
    return HTMLResponse(body, status_code=page.status_code)


router = APIRouter(include_in_schema=False)


@router.get(DOCS_URL)
def swagger_ui(request: Request) -> HTMLResponse:
    app = request.app
    root = request.scope.get("root_path", "")
    return _with_csp(
        _with_bar(
            get_swagger_ui_html(
                openapi_url=root + app.openapi_url,
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
                init_oauth=app.swagger_ui_init_oauth,
                swagger_js_url=asset_url(root, "swagger-ui-bundle.js"),
                swagger_css_url=asset_url(root, "swagger-ui.css"),
                swagger_favicon_url=asset_url(root, "favicon.png"),
                swagger_ui_parameters=app.swagger_ui_parameters,
            ),
            root,
        )
    )


async def swagger_ui_oauth2_redirect(request: Request) -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


# A plain route, as FastAPI's own: the query it is sent back with is the OAuth2 server's, not the API's.
router.add_route(OAUTH2_REDIRECT_URL, swagger_ui_oauth2_redirect, include_in_schema=False)


@router.get(REDOC_URL)
def redoc(request: Request) -> HTMLResponse:
    app = request.app
    root = request.scope.get("root_path", "")
    return _with_csp(
        _with_bar(
            get_redoc_html(
                openapi_url=root + app.openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=asset_url(root, "redoc.standalone.js"),
                redoc_favicon_url=asset_url(root, "favicon.png"),
                with_google_fonts=False,  # fonts from a CDN too; the system's fonts do
            ),
            root,
        )
    )


@router.get(ASSET_ROUTE)
def asset(version: str, file: str) -> Response:
    path = asset_path(version, file)
    if path is None:
        raise NotFound(f"no documentation asset {version}/{file}")
    return FileResponse(path, media_type=ASSETS[file], headers={"Cache-Control": ASSET_CACHE})


def install(app: FastAPI) -> None:
    """Serve /docs, its OAuth2 redirect, /redoc and their assets (the app is made with docs_url=None)."""
    assert app.docs_url is None and app.redoc_url is None, "FastAPI's CDN pages would shadow these"
    app.include_router(router)
