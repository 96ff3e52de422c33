"""Finding a feature by name, pinyin initials or code across the towns, villages and point layers.

One SQL query: ILIKE on name, English name and code, and, for a query of Latin letters only, a regular
expression built from the letters' pinyin initials (each letter becomes the class of Chinese characters
read with that initial, so "zgz" finds 枳沟镇). The characters' readings come from the `pypinyin`
package's table of characters; nothing is stored in the database, so the search is always in step
with the data. The query is bounded: at most `MAX_LIMIT` hits, ranked exact code, exact name, prefix,
substring, initials.
"""

from __future__ import annotations

import importlib.util
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from service.errors import BadParameter

MAX_LIMIT = 50
MAX_QUERY_CHARS = 50
MAX_INITIALS = 12  # longer runs of letters are searched as text only (names are short)
# Ranked in this order when hits are otherwise equal: the chain's facilities before its sources.
SEARCH_LAYERS = (
    "towns",
    "treatment_plants",
    "biogas_centers",
    "manure_centers",
    "transfer_stations",
    "collection_points",
    "villages",
    "livestock_farms",
    "public_toilets",
)
_INITIALS = re.compile(rf"^[A-Za-z]{{2,{MAX_INITIALS}}}$")
CJK_FIRST, CJK_LAST = 0x4E00, 0x9FFF  # the unified ideographs of everyday names


def _readings() -> dict[str, str]:
    """pypinyin's table of single characters' readings ("26159": "shì,tí" …), read from the JSON file
    the package ships. Importing `pypinyin` itself would load its phrase dictionary too and keep about
    55 MiB for as long as the process lives; read this way, the table is dropped once the letters'
    classes are built (about 6 MiB stay)."""
    spec = importlib.util.find_spec("pypinyin")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the pypinyin package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "pinyin_dict.json"
    readings: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return readings


@cache
def characters_by_initial() -> dict[str, str]:
    """Each Latin letter → the Chinese characters one of whose readings starts with it (heteronyms
    count for each reading: 长 is both c and z)."""
    by_letter: dict[str, set[str]] = {}
    for key, readings in _readings().items():
        codepoint = int(key)
        if not CJK_FIRST <= codepoint <= CJK_LAST:
            continue
        for reading in readings.split(","):
            # toned vowels (ā, é …) decompose into a plain letter and a mark
            first = unicodedata.normalize("NFD", reading)[:1].lower()
            if "a" <= first <= "z":
                by_letter.setdefault(first, set()).add(chr(codepoint))
    return {letter: "".join(sorted(chars)) for letter, chars in by_letter.items()}


def initials_pattern(query: str) -> str | None:
    """A PostgreSQL regular expression matching names whose characters' initials spell `query`
    ("zc" → "[…z…][…c…]"), or None when the query is not 2–12 Latin letters."""
    if not _INITIALS.match(query):
        return None
    table = characters_by_initial()
    classes = []
    for letter in query.lower():
        chars = table.get(letter)
        if not chars:  # no character reads with this initial (e.g. "v"): nothing can match
            return None
        classes.append(f"[{chars}]")
    return "".join(classes)


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _union_sql() -> str:
    """Every searchable feature as (layer, id, code, name, name_en, town's code and names)."""
    parts = [
        "SELECT 'towns' AS layer, 0 AS layer_order, t.id, t.code, t.name, t.name_en, "
        "t.code AS town_code, t.name AS town_name, t.name_en AS town_name_en FROM towns t"
    ]
    for order, layer in enumerate(SEARCH_LAYERS[1:], start=1):
        name_en = "NULL::text" if layer == "villages" else "f.name_en"
        parts.append(
            f"SELECT '{layer}', {order}, f.id, f.code, f.name, {name_en}, "
            f"t.code, t.name, t.name_en FROM {layer} f LEFT JOIN towns t ON t.id = f.town_id"
        )
    return "\nUNION ALL\n".join(parts)


SEARCH_SQL = f"""
WITH feature AS ({_union_sql()}),
hit AS (
    SELECT feature.*,
           CASE WHEN lower(code) = lower(:q) THEN 0
                WHEN name = :q OR lower(name_en) = lower(:q) THEN 1
                WHEN name ILIKE :prefix OR name_en ILIKE :prefix OR code ILIKE :prefix THEN 2
                WHEN name ILIKE :contains OR name_en ILIKE :contains OR code ILIKE :contains THEN 3
                WHEN name ~ ('^' || :initials) THEN 4
                ELSE 5 END AS rank
    FROM feature
    WHERE name ILIKE :contains OR name_en ILIKE :contains OR code ILIKE :contains
       OR (CAST(:initials AS text) IS NOT NULL AND name ~ :initials)
)
SELECT layer, id, code, name, name_en, town_code, town_name, town_name_en, rank
FROM hit
ORDER BY rank, layer_order, length(name), code
LIMIT :limit
"""


@dataclass(frozen=True)
class Hit:
    layer: str
    id: int
    code: str
    name: str
    name_en: str | None
    town_code: str | None
    town_name: str | None
    town_name_en: str | None
    match: str  # code, name, prefix, contains or initials

    def map_path(self) -> str:
        """The page that shows this feature: its town's map for a town, else its own map."""
        if self.layer == "towns":
            return f"/maps/towns/{self.code}"
        return f"/maps/facilities/{self.layer}/{self.id}"


MATCHES = ("code", "name", "prefix", "contains", "initials", "initials")


def check_query(q: str, limit: int) -> str:
    """The query stripped; BadParameter for an empty or overlong one, one with control characters, or
    a limit out of 1..MAX_LIMIT."""
    q = q.strip()
    if not q:
        raise BadParameter("q", "the search text is empty")
    if len(q) > MAX_QUERY_CHARS:
        raise BadParameter("q", f"at most {MAX_QUERY_CHARS} characters, got {len(q)}")
    if any(ord(c) < 0x20 for c in q):  # (PostgreSQL refuses NUL in text; no name holds a control)
        raise BadParameter("q", "control characters are not searched for")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadParameter("limit", f"must be between 1 and {MAX_LIMIT}, got {limit}")
    return q


def search(conn: Connection, q: str, limit: int = 10) -> list[Hit]:
    """The features whose name, English name or code contains `q`, or whose name's pinyin initials
    spell it, best first (BadParameter: see `check_query`)."""
    q = check_query(q, limit)
    like = _like_escape(q)
    rows = conn.execute(
        text(SEARCH_SQL),
        {
            "q": q,
            "prefix": like + "%",
            "contains": "%" + like + "%",
            "initials": initials_pattern(q),
            "limit": limit,
        },
    ).mappings()
    return [
        Hit(
            r["layer"],
            r["id"],
            r["code"],
            r["name"],
            r["name_en"],
            r["town_code"],
            r["town_name"],
            r["town_name_en"],
            MATCHES[r["rank"]],
        )
        for r in rows
    ]


def towns(conn: Connection) -> list[dict[str, Any]]:
    """Every town (code, name, name_en) in code order: the town picker's list."""
    rows = conn.execute(text("SELECT code, name, name_en FROM towns ORDER BY code")).mappings()
    return [dict(r) for r in rows]
