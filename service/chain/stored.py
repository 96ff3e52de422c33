"""The chain kept in tables and updated in place: each change recomputes only what it touches.

Migration 0013 keeps `chain_generation`, `chain_link_step`, `chain_link_flow` and `chain_facility` as
real tables, computed with the city's own parameters, and notes every changed inventory row in
`chain_pending`. `settle()` folds those notes in: the flows are linear in what each source generates,
so it takes away the old contributions of every source upstream of a touched node and adds the new
ones. Only those sources and the links downstream of them are walked, with the full computation's own
SQL, so both give the same figures. A change too big to note row by row (an import, a load, TRUNCATE)
marks the state stale and `rebuild()` recomputes it whole.

Writers call `settle()` in their own transaction, so what they commit is current; readers call
`make_current()` first, which settles what a writer left behind (a change made in psql, say) or
rebuilds a stale state. Both run under one advisory lock, so notes are folded in once, in order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from service.chain import flows
from service.chain.parameters import ChainParameters
from service.vocabulary import FACILITY_LAYERS

LOCK_KEY = 5_207_318_113  # pg_advisory_xact_lock key of the stored chain
STORED_TABLES = ("chain_generation", "chain_link_step", "chain_link_flow", "chain_facility")
# settle()'s own temporary tables, dropped as it ends (a second settle in one transaction makes them again)
SETTLE_TABLES = (
    "chain_delta", "chain_touched_facility", "chain_upstream",
    "chain_touched_link", "chain_touched", "chain_noted",
)  # fmt: skip
ZERO = 1e-9  # t/day: what is left of a flow after taking away all its contributions is rounding


def _generation_parameters(params: ChainParameters) -> dict[str, float]:
    return {"waste_rate": params.waste_kg_per_person_day, "excreta": params.excreta_kg_per_person_day}


def serves(params: ChainParameters | None) -> bool:
    """Whether the stored tables answer for these parameters (the city's own generation rates)."""
    return params is None or _generation_parameters(params) == _generation_parameters(ChainParameters())


def _stale(conn: Connection) -> bool:
    """Marked stale by a big change, or computed with rates the city no longer uses: only a rebuild helps."""
    row = conn.execute(text("SELECT stale, parameters FROM chain_state")).one()
    return bool(row.stale) or row.parameters != _generation_parameters(ChainParameters())


def _is_current(conn: Connection) -> bool:
    return not _stale(conn) and not _pending(conn)


def _pending(conn: Connection) -> bool:
    return bool(conn.execute(text("SELECT EXISTS (SELECT FROM chain_pending)")).scalar_one())


def _lock(conn: Connection) -> None:
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


def make_current(conn: Connection) -> None:
    """Bring the stored chain up to date in the caller's transaction: nothing when it is, the
    pending notes when there are some, everything when the state is stale or the parameters changed."""
    if _is_current(conn):
        return
    # The state row before the advisory lock: the order a writer takes them in (a big statement's
    # trigger locks the row, its settle then takes the lock), so the two never wait on each other.
    conn.execute(text("SELECT FROM chain_state FOR UPDATE"))
    _lock(conn)
    if _stale(conn):
        rebuild(conn)
    else:
        settle(conn)


def refresh(engine: Engine) -> None:
    """`make_current` in a short transaction of its own, so a long read after it holds no lock."""
    with engine.connect() as conn, conn.begin():
        make_current(conn)


@contextmanager
def _indexes_built_after(conn: Connection) -> Iterator[None]:
    """The stored tables' keys and indexes dropped while they fill and built again after, as the
    catalogue had them: kept up row by row, the steps' three cost 16 s of a national rebuild, built
    once 6 s. Inside the rebuild's transaction, so a failure leaves them as they were."""
    tables = [f"public.{table}" for table in STORED_TABLES]
    keys = conn.execute(
        text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = ANY(CAST(:tables AS regclass[])) AND contype IN ('p', 'u')"
        ),
        {"tables": tables},
    ).all()
    indexes = conn.execute(
        text(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = ANY(CAST(:tables AS regclass[])) "
            "AND indexrelid NOT IN (SELECT conindid FROM pg_constraint WHERE contype IN ('p', 'u'))"
        ),
        {"tables": tables},
    ).all()
    for table, name, _ in keys:
        conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    for name, _ in indexes:
        conn.execute(text(f"DROP INDEX {name}"))
    yield
    memory = conn.execute(text("SELECT set_config('maintenance_work_mem', '256MB', true)")).scalar_one()
    for table, name, definition in keys:
        conn.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
    for _, definition in indexes:
        conn.execute(text(definition))
    conn.execute(text("SELECT set_config('maintenance_work_mem', :m, true)"), {"m": memory})


def rebuild(conn: Connection) -> None:
    """Recompute the whole chain into the stored tables (caller holds the lock and a transaction)."""
    params = ChainParameters()
    # The state row first: a big import that is marking it stale commits before the inventory is read.
    conn.execute(text("SELECT FROM chain_state FOR UPDATE"))
    conn.execute(text("DELETE FROM chain_pending"))  # notes committed later stay for the next settle
    flows.drop_temporary(conn)
    flows.whole_chain_settings(conn)
    conn.execute(text(f"TRUNCATE {', '.join(f'public.{table}' for table in STORED_TABLES)}"))
    with _indexes_built_after(conn):
        _fill(conn, params)
    for table in STORED_TABLES:
        conn.execute(text(f"ANALYZE public.{table}"))
    conn.execute(
        text("UPDATE chain_state SET stale = false, parameters = CAST(:p AS jsonb), computed_at = now()"),
        {"p": json.dumps(_generation_parameters(params))},
    )


def _fill(conn: Connection, params: ChainParameters) -> None:
    """Each stored table straight from the full computation's own SQL, each analysed before the next
    statement reads it."""
    conn.execute(
        text(f"INSERT INTO public.chain_generation {flows.generation_select()}"),
        _generation_parameters(params),
    )
    with flows.in_window_order(conn):
        conn.execute(text(f"INSERT INTO public.chain_link_step {flows.link_step_select()}"))
    conn.execute(text("ANALYZE public.chain_link_step"))
    propagation = flows.propagate(conn)  # analyses chain_generation first
    conn.execute(text(f"INSERT INTO public.chain_link_flow {propagation.link_flow_select}"))
    facilities = flows.facility_select(by_node=propagation.by_node)
    conn.execute(text(f"INSERT INTO public.chain_facility {facilities}"))
    flows.drop_propagation(conn)


# The notes, taken (and deleted) before anything of the inventory is read: a change committed after
# this may be read too, and is then folded in twice, which changes nothing (see `settle`).
NOTED_SQL = """
CREATE TEMP TABLE chain_noted (layer text, id bigint, moves boolean) ON COMMIT DROP;
WITH taken AS (DELETE FROM chain_pending RETURNING layer, id, moves)
INSERT INTO chain_noted SELECT layer, id, bool_or(moves) FROM taken GROUP BY layer, id
"""

# The touched nodes, where tonnes may move: changed sources and manure centres whose share changed, and
# both ends of a touched link as the stored steps have it (before) and as chain_links has it now
# (after); and every link leaving one of them.
TOUCHED_SQL = """
CREATE TEMP TABLE chain_touched ON COMMIT DROP AS
SELECT layer, id FROM chain_noted WHERE moves AND layer <> 'chain_links'
UNION SELECT s.source_layer, s.source_id FROM chain_noted n JOIN public.chain_link_step s ON s.id = n.id
      WHERE n.layer = 'chain_links'
UNION SELECT s.target_layer, s.target_id FROM chain_noted n JOIN public.chain_link_step s ON s.id = n.id
      WHERE n.layer = 'chain_links'
UNION SELECT l.source_layer, l.source_id FROM chain_noted n JOIN chain_links l ON l.id = n.id
      WHERE n.layer = 'chain_links'
UNION SELECT l.target_layer, l.target_id FROM chain_noted n JOIN chain_links l ON l.id = n.id
      WHERE n.layer = 'chain_links';
CREATE TEMP TABLE chain_touched_link ON COMMIT DROP AS
SELECT id FROM public.chain_link_step WHERE (source_layer, source_id) IN (SELECT layer, id FROM chain_touched)
UNION SELECT id FROM chain_links WHERE (source_layer, source_id) IN (SELECT layer, id FROM chain_touched)
UNION SELECT id FROM chain_noted WHERE layer = 'chain_links'
"""

# Every source whose flows may change: the touched sources and all that reach a touched node along the
# stored steps. A source that reaches none crosses no step that is refreshed, so its flows stay.
SOURCES_SQL = """
CREATE TEMP TABLE chain_upstream ON COMMIT DROP AS
WITH RECURSIVE up(layer, id) AS (
    SELECT layer, id FROM chain_touched
    UNION
    SELECT s.source_layer, s.source_id
    FROM up JOIN public.chain_link_step s ON s.target_layer = up.layer AND s.target_id = up.id
)
SELECT layer, id FROM up WHERE layer IN ('villages', 'livestock_farms')
"""

# The stored steps and generation of those sources, as temporary tables named like the full
# computation's, so its own propagation SQL runs over them.
SUBSET_SQL = """
CREATE TEMP TABLE chain_generation ON COMMIT DROP AS
SELECT g.* FROM public.chain_generation g JOIN chain_upstream u ON u.layer = g.layer AND u.id = g.id;
CREATE TEMP TABLE chain_link_step ON COMMIT DROP AS
WITH RECURSIVE down(layer, id) AS (
    SELECT layer, id FROM chain_upstream
    UNION
    SELECT s.target_layer, s.target_id FROM down JOIN public.chain_link_step s
    ON s.source_layer = down.layer AND s.source_id = down.id
)
SELECT s.* FROM public.chain_link_step s JOIN down ON s.source_layer = down.layer AND s.source_id = down.id
"""


def _index_walk(conn: Connection) -> AbstractContextManager[None]:
    """Hash joins off for a walk: the planner cannot know a recursion reaches a few thousand nodes, and
    hashed the whole steps table on every level (3.4 s for a manure centre on national data, against
    a few ms by their index)."""
    return flows.planner_without(conn, "hashjoin", "mergejoin")


def _analyse(conn: Connection, *tables: str) -> None:
    for table in tables:
        conn.execute(text(f"ANALYZE pg_temp.{table}"))


def _contributions(conn: Connection, sign: int) -> None:
    """Add the flows of the upstream sources, over the stored steps as they are now, to chain_delta."""
    with _index_walk(conn):
        for statement in SUBSET_SQL.split(";"):
            conn.execute(text(statement))
    _analyse(conn, "chain_link_step")
    propagation = flows.propagate(conn)  # analyses chain_generation first
    conn.execute(
        text(
            f"INSERT INTO chain_delta SELECT link_id, {sign} * flow_t_per_day "
            f"FROM ({propagation.link_flow_select}) f"
        )
    )
    flows.drop_propagation(conn)
    for table in ("chain_link_step", "chain_generation"):
        conn.execute(text(f"DROP TABLE pg_temp.{table}"))


def _refresh_steps_and_generation(conn: Connection, params: ChainParameters) -> None:
    """The stored steps leaving touched nodes and the generation of touched sources, as they are now."""
    # Two statements: with OR between them the planner reads the whole table instead of two indexes.
    conn.execute(text("DELETE FROM public.chain_link_step WHERE id IN (SELECT id FROM chain_touched_link)"))
    conn.execute(
        text(
            "DELETE FROM public.chain_link_step "
            "WHERE (source_layer, source_id) IN (SELECT layer, id FROM chain_touched)"
        )
    )
    conn.execute(text(f"INSERT INTO public.chain_link_step {flows.link_step_select('chain_touched')}"))
    conn.execute(
        text("DELETE FROM public.chain_generation WHERE (layer, id) IN (SELECT layer, id FROM chain_touched)")
    )
    conn.execute(
        text(f"INSERT INTO public.chain_generation {flows.generation_select('chain_touched')}"),
        _generation_parameters(params),
    )


FACILITY_LIST = ", ".join(f"'{layer}'" for layer in FACILITY_LAYERS)
APPLY_SQL = f"""
DELETE FROM public.chain_link_flow f USING chain_touched_link t
WHERE f.link_id = t.id AND NOT EXISTS (SELECT FROM chain_links l WHERE l.id = t.id);
INSERT INTO public.chain_link_flow (link_id, stream, flow_t_per_day)
SELECT l.id, l.stream, 0 FROM chain_links l JOIN chain_touched_link t ON t.id = l.id
ON CONFLICT (link_id) DO UPDATE SET stream = excluded.stream;
UPDATE public.chain_link_flow f
SET flow_t_per_day = CASE WHEN abs(f.flow_t_per_day + d.amount) < {ZERO} THEN 0
                          ELSE f.flow_t_per_day + d.amount END
FROM (SELECT link_id, sum(amount) AS amount FROM chain_delta GROUP BY link_id) d
WHERE f.link_id = d.link_id;
CREATE TEMP TABLE chain_touched_facility ON COMMIT DROP AS
SELECT layer, id FROM chain_touched WHERE layer IN ({FACILITY_LIST})
UNION SELECT layer, id FROM chain_noted WHERE layer IN ({FACILITY_LIST})
UNION SELECT s.target_layer, s.target_id FROM public.chain_link_step s
      JOIN (SELECT DISTINCT link_id FROM chain_delta) d ON d.link_id = s.id;
DELETE FROM public.chain_facility WHERE (layer, id) IN (SELECT layer, id FROM chain_touched_facility)
"""


@dataclass(frozen=True)
class Settled:
    """What one `settle()` folded in: changed rows noted, sources walked again, link flows moved."""

    noted: int = 0
    sources: int = 0
    links: int = 0


def settle(conn: Connection) -> Settled:
    """Fold the pending notes into the stored chain (caller's transaction; takes the lock). A stale
    state is left for `rebuild()`: a big change is cheaper to recompute once, when it is read."""
    if _stale(conn):
        return Settled()  # checked before the lock too: a writer that marked it stale must not wait
    _lock(conn)
    if _stale(conn) or not _pending(conn):
        return Settled()
    flows.drop_temporary(conn)  # a computation earlier in this transaction would shadow the tables
    # A few rows walked in a big graph: JIT would compile for the planner's guesses (50–80 ms a
    # statement on national data) and the small tables below are analysed so it guesses right.
    jit = conn.execute(text("SELECT set_config('jit', 'off', true)")).scalar_one()
    for statement in NOTED_SQL.split(";") + TOUCHED_SQL.split(";"):
        conn.execute(text(statement))
    _analyse(conn, "chain_noted", "chain_touched", "chain_touched_link")
    with _index_walk(conn):
        conn.execute(text(SOURCES_SQL))
    _analyse(conn, "chain_upstream")
    conn.execute(text("CREATE TEMP TABLE chain_delta (link_id bigint, amount float8) ON COMMIT DROP"))
    if conn.execute(text("SELECT EXISTS (SELECT FROM chain_touched)")).scalar_one():
        _contributions(conn, -1)
        _refresh_steps_and_generation(conn, ChainParameters())
        _contributions(conn, +1)
    _analyse(conn, "chain_delta")
    for statement in APPLY_SQL.split(";"):
        conn.execute(text(statement))
    _analyse(conn, "chain_touched_facility")
    conn.execute(text(f"INSERT INTO public.chain_facility {flows.facility_select('chain_touched_facility')}"))
    counts = conn.execute(
        text(
            """SELECT (SELECT count(*) FROM chain_noted), (SELECT count(*) FROM chain_upstream),
                      (SELECT count(DISTINCT link_id) FROM chain_delta)"""
        )
    ).one()
    for table in SETTLE_TABLES:
        conn.execute(text(f"DROP TABLE pg_temp.{table}"))
    conn.execute(text("SELECT set_config('jit', :jit, true)"), {"jit": jit})
    return Settled(*counts)
