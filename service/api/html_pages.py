"""The HTML encoding of the feature API (OGC API – Features Part 1, "HTML" class) for browsers.

Pages are rendered from the same documents the JSON encoding answers (plus, for items, the stream of
feature texts), never from the database: every value goes through `html.escape`, and item pages are
written row by row as the cursor delivers them, so a page of 10,000 features is never held whole.
Plain HTML and a little inline CSS under the service's navigation (service.navigation): nothing is
loaded from another host.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import URL

from service.features.fetch import Cursors
from service.navigation import nav_html

HTML = "text/html; charset=utf-8"
CHUNK_CHARS = 1 << 15

STYLE = """
body{font:15px/1.45 system-ui,"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:1.2em 2em;color:#222}
h1{font-size:1.5em;margin:.2em 0}nav{margin:.4em 0 1em;color:#555}nav a{margin-right:.8em}
table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left;
vertical-align:top}th{background:#f2f2f2}tbody tr:nth-child(even){background:#fafafa}
.scroll{overflow-x:auto}.scroll td{white-space:nowrap}code,pre{font-size:.9em}
pre{white-space:pre-wrap;word-break:break-all}
"""


# -- building blocks -----------------------------------------------------------------------------
def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def cell(value: Any) -> str:
    """A property value as table cell text: empty for null, JSON for lists and objects."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return esc(json.dumps(value, ensure_ascii=False))
    return esc(value)


def link(href: str, text: str, rel: str | None = None) -> str:
    rel_attr = f' rel="{esc(rel)}"' if rel else ""
    return f'<a href="{esc(href)}"{rel_attr}>{esc(text)}</a>'


def _head(title: str, nav: Sequence[tuple[str, str]], root: str) -> str:
    """The page's head, the service's navigation (`root`: the service root URL) and its breadcrumbs."""
    crumbs = " › ".join(link(href, text) for href, text in nav)
    return (
        '<!doctype html><html lang="zh-Hans"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f"{nav_html(root.rstrip('/'))}<nav>{crumbs}</nav><h1>{esc(title)}</h1>"
    )


TAIL = "</body></html>\n"


def as_html_links(links: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """A JSON document's links as seen from its HTML page: the HTML alternate is `self`, the JSON
    `self` becomes an alternate."""
    out: list[Mapping[str, Any]] = []
    for lk in links:
        if lk["rel"] == "self":
            # with f=json: a browser following the link would otherwise be sent this page again
            out.append({**lk, "rel": "alternate", "href": with_f(lk["href"], "json"), "title": "As JSON"})
        elif lk["rel"] == "alternate" and lk.get("type") == "text/html":
            out.append({**lk, "rel": "self", "title": "This page"})
        else:
            out.append(lk)
    return out


def links_table(links: Sequence[Mapping[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{esc(lk['rel'])}</td><td>{link(lk['href'], lk.get('title') or lk['href'], lk['rel'])}</td>"
        f"<td><code>{esc(lk.get('type', ''))}</code></td></tr>"
        for lk in links
    )
    return f"<h2>Links</h2><table><tr><th>rel</th><th>link</th><th>type</th></tr>{rows}</table>"


def extent_summary(doc: Mapping[str, Any]) -> str:
    """The collection's bbox as "minx, miny – maxx, maxy" (CRS84), or a dash."""
    try:
        box = doc["extent"]["spatial"]["bbox"][0]
    except (KeyError, IndexError):
        return "–"
    lower = ", ".join(f"{v:.5f}" for v in box[:2])
    upper = ", ".join(f"{v:.5f}" for v in box[2:4])
    return f"{lower} – {upper}"


def _rel(doc: Mapping[str, Any], rel: str) -> str:
    return next((lk["href"] for lk in doc["links"] if lk["rel"] == rel), "")


def with_f(href: str, f: str = "html") -> str:
    """The same URL asking for format `f` (replacing any f already there)."""
    return str(URL(href).include_query_params(f=f))


# -- pages ---------------------------------------------------------------------------------------
def conformance_page(classes: Sequence[str], root: str) -> str:
    items = "".join(f"<li>{link(c, c)}</li>" for c in classes)
    return (
        _head("Conformance classes", [(with_f(root), "sanichain")], root)
        + f"<p>{len(classes)} classes of OGC API standards this service conforms to.</p><ul>{items}</ul>"
        + links_table(
            [{"rel": "alternate", "href": with_f(root + "conformance", "json"), "type": "application/json"}]
        )
        + TAIL
    )


def collections_page(doc: Mapping[str, Any], root: str) -> str:
    rows = []
    for c in doc["collections"]:
        items = _rel(c, "items")
        rows.append(
            f"<tr><td>{link(with_f(_rel(c, 'self')), c['id'])}</td><td>{esc(c['title'])}</td>"
            f"<td>{esc(c['description'])}</td><td>{esc(extent_summary(c))}</td>"
            f"<td>{link(with_f(items), 'features')} · {link(with_f(items, 'json'), 'GeoJSON')}</td></tr>"
        )
    return (
        _head("Collections", [(with_f(root), "sanichain")], root)
        + f"<p>{len(rows)} layers, each an OGC API – Features collection.</p><div class=scroll><table>"
        "<tr><th>id</th><th>title</th><th>description</th><th>extent (lon/lat)</th><th>features</th></tr>"
        + "".join(rows)
        + "</table></div>"
        + links_table(as_html_links(doc["links"]))
        + TAIL
    )


@dataclass(frozen=True)
class Queryable:
    name: str
    type: str
    values: Sequence[str] | None


def collection_page(doc: Mapping[str, Any], queryables: Sequence[Queryable], root: str) -> str:
    items = _rel(doc, "items")
    crs = "".join(f"<li><code>{esc(uri)}</code></li>" for uri in doc.get("crs", []))
    qrows = "".join(
        f"<tr><td><code>{esc(q.name)}</code></td><td>{esc(q.type)}</td>"
        f"<td>{esc(', '.join(q.values)) if q.values else ''}</td></tr>"
        for q in queryables
    )
    return (
        _head(
            doc["title"],
            [(with_f(root), "sanichain"), (with_f(root + "collections"), "collections")],
            root,
        )
        + f"<p>{esc(doc['description'])}</p>"
        + f"<p>{link(with_f(items), 'Browse the features')} · {link(with_f(items, 'json'), 'GeoJSON')}</p>"
        + "<h2>Extent</h2><table>"
        + f"<tr><th>spatial (lon/lat, CRS84)</th><td>{esc(extent_summary(doc))}</td></tr>"
        + f"<tr><th>storage CRS</th><td><code>{esc(doc.get('storageCrs', ''))}</code></td></tr></table>"
        + f"<h2>Output CRS</h2><ul>{crs}</ul>"
        + f"<h2>Queryables</h2><p>{len(queryables)} properties; each can filter the features "
        "(<code>?property=value</code> or CQL2 <code>filter</code>).</p>"
        + f"<table><tr><th>property</th><th>type</th><th>values</th></tr>{qrows}</table>"
        + links_table(as_html_links(doc["links"]))
        + TAIL
    )


def _geometry_summary(geometry: Mapping[str, Any] | None) -> str:
    """Points as their coordinates, other geometries as their type (the full GeoJSON is one click away)."""
    if not geometry:
        return ""
    if geometry.get("type") == "Point":
        return ", ".join(str(c) for c in geometry.get("coordinates", []))
    return str(geometry.get("type", ""))


@dataclass(frozen=True)
class ItemsView:
    """What an items page shows around its features."""

    layer: str
    title: str
    columns: Sequence[str]
    root: str  # the service root URL, ending in "/"
    self_href: str
    first_href: str  # the first page: same filters, no cursor
    cursor_href: Callable[[str], str]  # the URL of the page a cursor names


FeatureTexts = Iterator[tuple[str, Cursors | None]]  # (feature JSON, None) …, then ("", Cursors)


def items_page(
    view: ItemsView, number_matched: int | None, features: FeatureTexts
) -> Generator[str, None, None]:
    """An items page, streamed: head, one table row per feature as the cursor delivers it, then the
    count and the `next` link (known only at the end)."""
    collection = f"{view.root}collections/{view.layer}"
    item_base = f"{collection}/items/"
    matched = (
        "The matching features are not counted (more than 10,000 expected)."
        if number_matched is None
        else "1 feature matches."
        if number_matched == 1
        else f"{number_matched:,} features match."
    )
    header = "".join(f"<th>{esc(c)}</th>" for c in ("id", *view.columns, "geometry"))
    buffer = [
        _head(
            f"{view.title} — features",
            [
                (with_f(view.root), "sanichain"),
                (with_f(view.root + "collections"), "collections"),
                (with_f(collection), view.layer),
            ],
            view.root,
        ),
        f"<p>{esc(matched)} {link(with_f(view.self_href, 'json'), 'This page as GeoJSON', 'alternate')}</p>",
        f"<div class=scroll><table><thead><tr>{header}</tr></thead><tbody>\n",
    ]
    size, returned, cursors = 0, 0, Cursors(None, None)
    for text, after in features:
        if not text:
            cursors = after or cursors
            break
        feature = json.loads(text)
        props = feature.get("properties") or {}
        fid = feature.get("id")
        cells = "".join(f"<td>{cell(props.get(c))}</td>" for c in view.columns)
        row = (
            f"<tr><td>{link(f'{item_base}{fid}?f=html', str(fid))}</td>{cells}"
            f"<td>{esc(_geometry_summary(feature.get('geometry')))}</td></tr>\n"
        )
        buffer.append(row)
        returned += 1
        size += len(row)
        if size >= CHUNK_CHARS:
            yield "".join(buffer)
            buffer, size = [], 0
    buffer.append(
        f"</tbody></table></div><p>{returned:,} feature{'s' if returned != 1 else ''} on this page.</p><p>"
    )
    titles = {"prev": "Previous page", "next": "Next page"}
    pages = [
        (rel, with_f(view.cursor_href(token)))
        for rel, token in (("prev", cursors.prev), ("next", cursors.next))
        if token is not None
    ]
    for rel, href in pages:
        buffer.append(link(href, titles[rel], rel) + " · ")
    buffer.append(link(with_f(view.first_href), "First page", "first") + "</p>")
    links = [
        {"rel": "self", "href": with_f(view.self_href), "type": "text/html", "title": "This page"},
        {
            "rel": "alternate",
            "href": with_f(view.self_href, "json"),
            "type": "application/geo+json",
            "title": "This page as GeoJSON",
        },
        {"rel": "collection", "href": with_f(collection), "type": "text/html", "title": view.title},
    ]
    links += [{"rel": rel, "href": href, "type": "text/html", "title": titles[rel]} for rel, href in pages]
    buffer.append(links_table(links) + TAIL)
    yield "".join(buffer)


def item_page(feature: Mapping[str, Any], layer: str, title: str, root: str) -> str:
    collection = f"{root}collections/{layer}"
    props = feature.get("properties") or {}
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{cell(v)}</td></tr>" for k, v in props.items())
    geometry = json.dumps(feature.get("geometry"), ensure_ascii=False)
    return (
        _head(
            f"{title} — {props.get('name') or feature.get('id')}",
            [
                (with_f(root), "sanichain"),
                (with_f(root + "collections"), "collections"),
                (with_f(collection), layer),
                (with_f(collection + "/items"), "features"),
            ],
            root,
        )
        + f"<table><tr><th>id</th><td>{cell(feature.get('id'))}</td></tr>{rows}</table>"
        + f"<h2>Geometry</h2><pre>{esc(geometry)}</pre>"
        + links_table(as_html_links(feature.get("links", [])))
        + TAIL
    )
