"""Response bodies of search and the problems view."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from service.api.schemas.common import Body


class HitTown(Body):
    code: str
    name: str


class SearchHit(Body):
    layer: str
    layer_name: str = Field(description="the layer's name in the asked language")
    id: int
    code: str
    name: str = Field(description="name_en with lang=en where the feature has one")
    town: HitTown | None = Field(description="the town it lies in (none for a town itself)")
    match: str = Field(description="how it matched: code, name, prefix, substring, initials")
    href: str = Field(description="its map")


class SearchResult(Body):
    query: str
    count: int
    hits: list[SearchHit] = Field(description="best first")


class TownLink(Body):
    code: str
    name: str
    href: str = Field(description="the town's map")


class TownList(Body):
    towns: list[TownLink]


class AttentionProblem(Body):
    kind: str = Field(description="overloaded, near_capacity, inactive_with_flows, unconnected, integrity")
    severity: str = Field(description="error or warning")
    layer: str
    id: int
    code: str
    name: str
    town_code: str | None
    town_name: str | None
    message: str
    rule: str | None = Field(description="the integrity rule, where the problem is an integrity finding")
    stream: str | None
    numbers: dict[str, Any] = Field(description="the figures behind the message")
    map: str = Field(description="the facility's or source's map")


class AttentionSummary(Body):
    total: int
    by_kind: dict[str, int]


class Attention(Body):
    summary: AttentionSummary
    kinds: dict[str, str] = Field(description="each kind's English label")
    problems: list[AttentionProblem] = Field(description="grouped by kind, the most urgent first")
