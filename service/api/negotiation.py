"""Content negotiation: does the client want HTML or JSON (one rule for every route that has both), and
does it take gzip?

`f=html` / `f=json` (or `geojson`) decides; without it the Accept header does: HTML only when the client
prefers it to JSON (browsers do; curl's `*/*` and GDAL's `application/json` get JSON).
"""

from __future__ import annotations

from fastapi import Request

from service.errors import BadParameter

FORMATS = ("json", "geojson", "html")
JSON_TYPES = ("application/json", "application/geo+json", "application/schema+json")


def _ranges(header: str) -> list[tuple[str, float]]:
    """(value, q) of each comma-separated entry of an Accept or Accept-Encoding header; a malformed q
    counts as 0 (refused), a missing one as 1."""
    ranges = []
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        q = 1.0
        for param in pieces[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = max(0.0, min(1.0, float(value)))
                except ValueError:
                    q = 0.0
        ranges.append((pieces[0].lower(), q))
    return ranges


def _quality(accept: str, media_type: str) -> float:
    """The q of the most specific range of `accept` that matches `media_type` (0 when none does)."""
    main = media_type.split("/")[0]
    best_specificity, best_q = -1, 0.0
    for media, q in _ranges(accept):
        specificity = 2 if media == media_type else 1 if media == main + "/*" else 0 if media == "*/*" else -1
        if specificity > best_specificity:
            best_specificity, best_q = specificity, q
    return best_q if best_specificity >= 0 else 0.0


def accepts_gzip(accept_encoding: str) -> bool:
    """gzip (or *) listed first with a quality above zero."""
    for name, q in _ranges(accept_encoding):
        if name in ("gzip", "*"):
            return q > 0
    return False


def wants_html(request: Request) -> bool:
    """`f=html` / `f=json`, else the Accept header: HTML only when a client prefers it to JSON (browsers
    do; curl's `*/*` and GDAL's `application/json` get JSON). BadParameter for another `f`."""
    f = request.query_params.get("f")
    if f:
        if f.lower() not in FORMATS:
            raise BadParameter("f", f"unknown format {f!r}; one of {list(FORMATS)}")
        return f.lower() == "html"
    accept = request.headers.get("accept", "")
    json_q = max(_quality(accept, t) for t in JSON_TYPES)
    return _quality(accept, "text/html") > json_q


def prefers_html(request: Request) -> bool:
    """`wants_html` for an answer already decided (an error): a bad `f` is not a second error, the
    Accept header decides then."""
    f = (request.query_params.get("f") or "").lower()
    if f in FORMATS:
        return f == "html"
    accept = request.headers.get("accept", "")
    return _quality(accept, "text/html") > max(_quality(accept, t) for t in JSON_TYPES)
