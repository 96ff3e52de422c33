"""The HTML encoding (OGC API – Features Part 1 "HTML"): what a browser sees equals the JSON and PostGIS,
every value is escaped, and JSON clients (curl, GDAL) keep getting JSON."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from service import navigation
from service.api.app import create_app
from service.models import LAYERS
from tests import worlds
from tests.problems import assert_problem

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
HTML_CLASS = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html"


class Page(HTMLParser):
    """The parts of a page the tests read: table rows (cell texts), anchors (href, rel, text), all text."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.anchors: list[dict[str, str]] = []
        self.texts: list[str] = []
        self.tags: list[str] = []
        self.scripts: list[str] = []  # the src of each <script>
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._anchor: dict[str, str] | None = None
        self.feed(source)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "script":
            self.scripts.append(dict(attrs).get("src") or "")
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "a":
            self._anchor = {k: v or "" for k, v in attrs} | {"text": ""}

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        elif tag == "a" and self._anchor is not None:
            self.anchors.append(self._anchor)
            self._anchor = None

    def handle_data(self, data: str) -> None:
        self.texts.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._anchor is not None:
            self._anchor["text"] += data

    @property
    def text(self) -> str:
        return "".join(self.texts)

    def href(self, rel: str) -> str | None:
        return next((a["href"] for a in self.anchors if a.get("rel") == rel), None)


def html_page(client: TestClient, url: str) -> Page:
    response = client.get(url, headers={"Accept": BROWSER})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    return Page(response.text)


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_conformance_declares_the_html_class_and_lists_every_class_in_html(client):
    classes = client.get("/conformance").json()["conformsTo"]
    assert HTML_CLASS in classes
    page = html_page(client, "/conformance")
    listed = [a["href"] for a in page.anchors if a["href"].startswith("http://www.opengis.net/spec/")]
    assert listed == classes
    assert page.href("alternate") == "http://testserver/conformance?f=json"


def test_collections_page_lists_every_layer_with_chinese_title_extent_and_item_links(client):
    doc = client.get("/collections").json()
    page = html_page(client, "/collections")
    rows = {row[0]: row for row in page.rows[1:] if row[0] in LAYERS}
    assert list(rows) == list(LAYERS)
    farms = next(c for c in doc["collections"] if c["id"] == "livestock_farms")
    assert rows["livestock_farms"][1] == "Livestock and poultry farms 畜禽养殖场" == farms["title"]
    minx, miny, maxx, maxy = farms["extent"]["spatial"]["bbox"][0]
    assert rows["livestock_farms"][3] == f"{minx:.5f}, {miny:.5f} – {maxx:.5f}, {maxy:.5f}"
    hrefs = {a["href"] for a in page.anchors}
    assert "http://testserver/collections/livestock_farms/items?f=html" in hrefs
    assert "http://testserver/collections/livestock_farms/items?f=json" in hrefs
    assert page.href("self") == "http://testserver/collections?f=html"
    assert page.href("alternate") == "http://testserver/collections?f=json"
    assert {"self", "alternate"} <= {link["rel"] for link in doc["links"]}
    assert any(link["type"] == "text/html" and link["rel"] == "alternate" for link in doc["links"])


def test_collection_page_shows_description_extent_crs_and_queryables_with_vocabulary(client):
    doc = client.get("/collections/livestock_farms").json()
    page = html_page(client, "/collections/livestock_farms")
    assert doc["title"] in page.text and doc["description"] in page.text
    table = {row[0]: row[1:] for row in page.rows}
    minx, miny, maxx, maxy = doc["extent"]["spatial"]["bbox"][0]
    assert table["spatial (lon/lat, CRS84)"] == [f"{minx:.5f}, {miny:.5f} – {maxx:.5f}, {maxy:.5f}"]
    queryables = client.get("/collections/livestock_farms/queryables").json()["properties"]
    for name, schema in queryables.items():
        assert name in table, name
        if "enum" in schema:
            assert table[name][1] == ", ".join(schema["enum"])
    assert table["species"][0] == "string" and "pig" in table["species"][1]
    assert table["head_count"][0] == "integer"
    for uri in doc["crs"]:
        assert uri in page.text
    assert page.href("self") == "http://testserver/collections/livestock_farms?f=html"
    assert page.href("items") == "http://testserver/collections/livestock_farms/items"
    assert page.href("http://www.opengis.net/def/rel/ogc/1.0/queryables") is not None


def test_items_page_holds_every_property_of_the_json_page_in_its_table(client, demo_engine):
    url = "/collections/livestock_farms/items?species=pig&limit=25&sortby=-head_count"
    body = client.get(url).json()
    page = html_page(client, url + "&f=html")
    header = page.rows[0]
    props = list(body["features"][0]["properties"])
    assert header == ["id", *props, "geometry"]
    rows = [r for r in page.rows[1:] if len(r) == len(header)]
    assert len(rows) == len(body["features"]) == 25
    for row, feature in zip(rows, body["features"], strict=True):
        assert row[0] == str(feature["id"])
        assert row[1:-1] == [cell_text(feature["properties"][p]) for p in props]
        assert row[-1] == ", ".join(str(c) for c in feature["geometry"]["coordinates"])
    with demo_engine.connect() as conn:
        name = conn.execute(
            text("SELECT name FROM livestock_farms WHERE id = :id"), {"id": body["features"][0]["id"]}
        ).scalar_one()
    assert rows[0][props.index("name") + 1] == name and any("\u4e00" <= ch <= "\u9fff" for ch in name)
    assert f"{body['numberMatched']:,} features match." in page.text
    assert "25 features on this page." in page.text
    first = str(body["features"][0]["id"])
    item_link = next(a for a in page.anchors if a["text"] == first)
    assert item_link["href"] == f"http://testserver/collections/livestock_farms/items/{first}?f=html"


def test_items_page_next_links_walk_the_whole_layer_like_the_json(client, demo_engine):
    url: str | None = "/collections/transfer_stations/items?limit=4"
    ids: list[int] = []
    pages = 0
    while url:
        page = html_page(client, url)
        ids += [int(r[0]) for r in page.rows[1:] if r and r[0].isdigit()]
        url = page.href("next")
        pages += 1
        if url:
            assert "f=html" in url and "cursor=" in url and "limit=4" in url
        assert page.href("first") == "http://testserver/collections/transfer_stations/items?limit=4&f=html"
        assert page.href("collection") == "http://testserver/collections/transfer_stations?f=html"
    with demo_engine.connect() as conn:
        expected = conn.execute(text("SELECT id FROM transfer_stations ORDER BY id")).scalars().all()
    assert ids == expected and pages == -(-len(expected) // 4)


def test_item_page_shows_all_properties_and_the_geometry(client, demo_engine):
    with demo_engine.connect() as conn:
        fid = conn.execute(text("SELECT min(id) FROM towns")).scalar_one()
    feature = client.get(f"/collections/towns/items/{fid}").json()
    page = html_page(client, f"/collections/towns/items/{fid}?f=html")
    table = {row[0]: row[1] for row in page.rows if len(row) == 2}
    assert table["id"] == str(fid)
    for name, value in feature["properties"].items():
        assert table[name] == cell_text(value), name
    assert feature["properties"]["name"] in page.text
    assert '"type": "MultiPolygon"' in page.text
    assert page.href("alternate") == f"http://testserver/collections/towns/items/{fid}?f=json"
    assert any(link["rel"] == "alternate" and link["type"] == "text/html" for link in feature["links"])


HOSTILE = "<script>alert('x')</script>\"&<b>诸城</b>"


def test_hostile_text_in_data_and_in_the_url_is_escaped(empty_engine):
    with empty_engine.begin() as conn:
        fid = worlds.facility(
            conn,
            "treatment_plants",
            "P1",
            (119.4, 36),
            name=HOSTILE,
            capacity=10,
            kind="landfill",
            town_id=None,
        )
    client = TestClient(create_app(empty_engine))
    for url in (
        "/collections/treatment_plants/items?f=html",
        f"/collections/treatment_plants/items/{fid}?f=html",
    ):
        response = client.get(url)
        assert response.status_code == 200, response.text
        assert "<script>" not in response.text and "<b>" not in response.text
        page = Page(response.text)
        # the one script is the navigation's own file, nothing from the data
        assert page.scripts == [navigation.script_path()] and "b" not in page.tags
        assert HOSTILE in page.text  # shown as text, unchanged
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&quot;&amp;&lt;b&gt;诸城" in response.text
    # a hostile value in the URL comes back in the page's links, escaped
    response = client.get("/collections/treatment_plants/items", params={"f": "html", "name": HOSTILE})
    assert response.status_code == 200 and "1 feature on this page." in response.text
    assert "<script>" not in response.text
    assert Page(response.text).scripts == [navigation.script_path()]


@pytest.mark.parametrize(
    ("accept", "query", "html"),
    [
        (BROWSER, "", True),
        ("text/html", "", True),
        ("*/*", "", False),  # curl
        ("", "", False),
        ("application/json", "", False),  # GDAL
        ("application/geo+json, application/json", "", False),
        ("application/json, text/html;q=0.5", "", False),
        ("text/html;q=0.4, */*;q=0.5", "", False),
        ("text/*", "", True),
        (BROWSER, "f=json", False),
        (BROWSER, "f=JSON", False),
        ("application/json", "f=html", True),
    ],
)
def test_content_negotiation_by_f_then_accept_quality(client, accept, query, html):
    for path in ("/conformance", "/collections", "/collections/villages", "/collections/villages/items"):
        response = client.get(f"{path}?{query}", headers={"Accept": accept})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html") == html, (path, accept, query)
        if not html:
            assert response.json()


@pytest.mark.parametrize(
    ("url", "status", "parameter"),
    [
        ("/collections/villages/items?f=xml", 400, "f"),
        ("/collections?f=pdf", 400, "f"),
        ("/conformance?f=csv", 400, "f"),
        ("/collections/villages?f=<b>", 400, "f"),
        ("/collections/villages/items?limit=0", 400, "limit"),
        ("/collections/villages/items?bbox=1,2,3", 400, "bbox"),
        ("/collections/villages/items?filter=name >", 400, "filter"),
        ("/collections/villages/items/1?nonsense=1", 400, "nonsense"),
        ("/collections/farms", 404, None),
        ("/collections/farms/items", 404, None),
        ("/collections/villages/items/999999999", 404, None),
    ],
)
def test_bad_input_from_a_browser_is_still_problem_json(client, url, status, parameter):
    assert_problem(client.get(url, headers={"Accept": BROWSER}), status, parameter)


def test_a_large_html_page_is_streamed_in_chunks(client):
    with client.stream("GET", "/collections/villages/items?limit=1000&f=html") as response:
        chunks = list(response.iter_bytes())
    assert len(chunks) > 3
    page = Page(b"".join(chunks).decode())
    assert len([r for r in page.rows[1:] if r and r[0].isdigit()]) == 1000
    assert page.href("next") is not None


def test_items_page_prev_link_goes_back_to_the_previous_page(client):
    first = html_page(client, "/collections/villages/items?limit=30&f=html")
    assert first.href("prev") is None
    second = html_page(client, first.href("next"))
    third = html_page(client, second.href("next"))
    back = html_page(client, third.href("prev"))
    ids = lambda page: [r[0] for r in page.rows[1:] if r and r[0].isdigit()]  # noqa: E731
    assert ids(back) == ids(second) and len(ids(back)) == 30
    assert "f=html" in third.href("prev") and "Previous page" in [a["text"] for a in third.anchors]
    assert ids(html_page(client, back.href("prev"))) == ids(first)


def test_landing_negotiates_like_the_other_pages_and_links_its_html_map(client):
    doc = client.get("/", headers={"accept": "application/json"}).json()
    alternate = [link for link in doc["links"] if link["rel"] == "alternate"]
    assert len(alternate) == 1 and alternate[0]["type"] == "text/html"
    assert alternate[0]["href"].endswith("/?f=html")
    page = client.get(alternate[0]["href"])
    assert page.headers["content-type"].startswith("text/html") and "folium-map" in page.text
    assert client.get("/", headers={"accept": "*/*"}).headers["content-type"].startswith("application/json")
    bad = client.get("/?f=pdf")
    assert bad.status_code == 400 and bad.json()["parameter"] == "f"


def test_html_pages_carry_their_icon_so_browsers_ask_for_no_missing_favicon(client):
    for url in ("/conformance?f=html", "/collections?f=html", "/collections/villages/items?f=html&limit=1"):
        assert '<link rel="icon" href="data:,">' in client.get(url).text
