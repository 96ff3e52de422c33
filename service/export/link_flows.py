"""The t/day each chain link carries, for the chain_links export: the chain's own flow computation
(`service.chain.flows`), run once before the rows are read and joined to them by link id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Numeric, Text, cast, func, literal, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from service.chain.computation import prepare
from service.features.catalogue import Field, Layer

FIELD = "t_per_day"


def link_flows(engine: Engine) -> dict[int, float]:
    """Link id → t/day, from the inventory as it is now (its own short transaction: the export's
    read-only snapshot cannot bring the stored chain up to date)."""
    with engine.begin() as conn:
        prepare(conn)
        rows = conn.execute(text("SELECT link_id, flow_t_per_day FROM chain_link_flow"))
        return {int(link): float(t) for link, t in rows}


def flow_field(layer: Layer, by_link: dict[int, float]) -> Field:
    """`t_per_day` as a column: the flows passed as one JSON parameter, looked up by the row's id."""
    document = literal({str(k): round(v, 4) for k, v in by_link.items()}, JSONB)  # serialised by the type
    looked_up: ColumnElement[Any] = func.jsonb_extract_path_text(document, cast(layer.id_column, Text))
    return Field(FIELD, "number", cast(looked_up, Numeric), derived=True)
