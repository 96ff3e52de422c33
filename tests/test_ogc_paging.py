"""Keyset paging neither skips nor repeats features while others are inserted and deleted between pages."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from service.api.app import create_app
from tests import worlds


def insert_plants(engine, codes: list[str], capacities: list[float | None]) -> None:
    with engine.begin() as conn:
        for i, (code, capacity) in enumerate(zip(codes, capacities, strict=True)):
            place = (round(119 + i * 0.001, 3), 36)
            worlds.facility(
                conn,
                "treatment_plants",
                code,
                place,
                name=f"填埋场 {code}",
                capacity=capacity,
                kind="landfill",
                town_id=None,
            )


def ids_of(engine, codes: list[str]) -> set[int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id FROM treatment_plants WHERE code = ANY(:c)"), {"c": codes})
        return set(rows.scalars())


def delete(engine, ids: set[int]) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM treatment_plants WHERE id = ANY(:ids)"), {"ids": list(ids)})


def next_link(body: dict[str, Any]) -> str | None:
    return next((link["href"] for link in body["links"] if link["rel"] == "next"), None)


@pytest.mark.parametrize("sortby", ["", "&sortby=-capacity", "&sortby=capacity,-name"])
def test_pages_neither_skip_nor_repeat_while_rows_are_inserted_and_deleted(empty_engine, sortby):
    client = TestClient(create_app(empty_engine))
    capacities: list[float | None] = [None, 100.0, 250.5, 100.0, None, 800.0]  # NULLs and ties
    codes = [f"P{i:03d}" for i in range(60)]
    insert_plants(empty_engine, codes, [capacities[i % len(capacities)] for i in range(60)])
    survivors = ids_of(empty_engine, codes)
    seen: list[int] = []
    url: str | None = f"/collections/treatment_plants/items?limit=7{sortby}"
    round_no = 0
    while url:
        body = client.get(url).json()
        seen += [f["id"] for f in body["features"]]
        url = next_link(body)
        round_no += 1
        # between pages: delete one seen and one unseen row, insert two new ones
        unseen = sorted(survivors - set(seen))
        doomed = {seen[0]} | set(unseen[:1])
        delete(empty_engine, doomed)
        survivors -= doomed
        new = [f"N{round_no:02d}{k}" for k in range(2)]
        insert_plants(empty_engine, new, [100.0, None])
    assert len(seen) == len(set(seen)), "a feature was returned twice"
    assert survivors <= set(seen), "a feature present on every page was skipped"
