"""Flow computation in PostGIS: what every source generates and where it goes, in tonnes per day.

`compute()` fills temporary tables inside the caller's transaction, which the integrity report,
the indicators and the diagrams then read without recomputing, under the stored tables' names:

- `chain_generation` (stream, layer, id, town_id, t_per_day[, pig_equivalents, wastewater_m3_per_day];
  a view, computed where it is read: D124)
- `chain_link_step`  (id, stream, source and target, n, share; a view over two tables: D123)
- `chain_link_flow`  (link_id, stream, flow_t_per_day; a view too, unless the links form a cycle)
- `chain_facility`   (layer, id, code, name, status, capacity, town_id, inflow_t_per_day,
  inflow_by_stream, utilisation; a view adding the JSON by stream to a table, unless a cycle: D124)

Propagation: a source's generation is split evenly over its outgoing links of that stream; a facility
passes its inflow on to its downstream links (manure centres only their `forwarded_share`).
`propagate()` and `carry()` move the tonnes node by node, one stage a statement: what arrives at each facility
is summed before it moves on, so the work grows with the facilities, not with the paths (D119).
A cycle never lets that end; then the recursion over paths (`LINK_FLOW_SELECT`) answers instead: it
carries a path of link ids and never follows a link twice, so a cycle in the data is reported by
the integrity check, never looped. Both give the same figures wherever the links form no cycle.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from service.chain.livestock import FARM_MEASURE_SELECT
from service.chain.parameters import ChainParameters
from service.models import END_LAYERS, FACILITY_LAYERS, SOURCE_COLUMNS, STREAMS
from service.models.base import sql_in

MAX_DEPTH = 16  # far more stages than any chain has; a safety net besides the path check


def _among(nodes: str | None, layer: str, id_column: str) -> str:
    """A predicate keeping the rows whose (layer, id) is in the table `nodes`; TRUE without one. Both
    forms are uncorrelated, so the planner starts from the few nodes and probes the ids' index."""
    if nodes is None:
        return "TRUE"
    if layer.startswith("'"):  # one layer: its ids
        return f"{id_column} IN (SELECT id FROM {nodes} WHERE layer = {layer})"
    return f"({layer}, {id_column}) IN (SELECT layer, id FROM {nodes})"


BOUND_RATES = (":waste_rate", ":excreta")


def generation_parts(
    sources: str | None = None, rates: tuple[str, str] = BOUND_RATES
) -> dict[tuple[str, str], str]:
    """What each source generates, by (stream, layer): a SELECT of (stream, layer, id, town_id,
    t_per_day, pig_equivalents, wastewater_m3_per_day). `sources` names a table of (layer, id) to
    narrow them to, so the stored chain refreshes the few an edit touched with the same arithmetic
    as the full computation. `rates` are the SQL of the waste and excreta rates per person (kg/day):
    bind :waste_rate and :excreta by default."""
    waste_rate, excreta = rates
    villages = _among(sources, "'villages'", "v.id")
    farms = _among(sources, "'livestock_farms'", "id")
    return {
        ("domestic_waste", "villages"): f"""
SELECT 'domestic_waste'::text AS stream, 'villages'::text AS layer, v.id, v.town_id,
       v.population * coalesce(v.waste_rate_kg_per_person_day, {waste_rate})::float8 / 1000.0 AS t_per_day,
       NULL::float8 AS pig_equivalents, NULL::float8 AS wastewater_m3_per_day
FROM villages v WHERE {villages}""",
        ("fecal_sludge", "villages"): f"""
SELECT 'fecal_sludge'::text AS stream, 'villages'::text AS layer, v.id, v.town_id,
       CASE WHEN v.households > 0
            THEN v.toilets_rebuilt * (v.population::float8 / v.households) * {excreta} / 1000.0
            ELSE 0 END AS t_per_day,
       NULL::float8 AS pig_equivalents, NULL::float8 AS wastewater_m3_per_day
FROM villages v WHERE {villages}""",
        ("manure", "livestock_farms"): f"""
SELECT 'manure'::text AS stream, 'livestock_farms'::text AS layer, id, town_id,
       head_on_hand * manure_kg / 1000.0 AS t_per_day, head_on_hand * pig_eq AS pig_equivalents,
       head_on_hand * wastewater_l / 1000.0 AS wastewater_m3_per_day
FROM ({FARM_MEASURE_SELECT}) farm_measure WHERE status = 'operational' AND {farms}""",
    }


def generation_select(sources: str | None = None, rates: tuple[str, str] = BOUND_RATES) -> str:
    """What each source generates, every stream (see `generation_parts`)."""
    return "\nUNION ALL\n".join(f"({part})" for part in generation_parts(sources, rates).values())


# The whole chain's generation is a view, computed where it is read (the totals, the indicators,
# the diagram): the first hop computes what each source generates itself (`_source_hop`), and
# nothing in flows or integrity reads it again, so a table of 2 million rows was written for
# nobody on national data (1.1-1.4 s, D124). Its rates come from a table of this transaction,
# which also takes the view with it when the transaction ends.
RATES_SQL = """
CREATE TEMP TABLE chain_rates ON COMMIT DROP AS
SELECT CAST(:waste_rate AS float8) AS waste_rate, CAST(:excreta AS float8) AS excreta"""
GENERATION_VIEW_SQL = "CREATE TEMP VIEW chain_generation AS " + generation_select(
    rates=("(SELECT waste_rate FROM chain_rates)", "(SELECT excreta FROM chain_rates)")
)


LINK_SOURCE_LAYERS = tuple(dict.fromkeys(SOURCE_COLUMNS.values()))  # what a link can leave (its check)
FORWARDED_SHARE = "coalesce((SELECT mc.forwarded_share FROM manure_centers mc WHERE mc.id = l.source_id), 1)"


def link_step_select(sources: str | None = None) -> str:
    """Each link with its source's out-degree (even split) and the share its source passes on;
    `sources` names a table of (layer, id): only the links leaving those nodes (all of each one's)."""
    if sources is None:
        return link_steps_by_kind(LINK_SOURCE_LAYERS)
    links = _among(sources, "l.source_layer", "l.source_id")
    return f"""
SELECT l.id, l.stream, l.source_layer, l.source_id, l.target_layer, l.target_id,
       count(*) OVER (PARTITION BY l.stream, l.source_layer, l.source_id)::float8 AS n,
       CASE WHEN l.source_layer = 'manure_centers' THEN {FORWARDED_SHARE} ELSE 1 END::float8 AS share
FROM chain_links l
WHERE {links}"""  # the share as a subquery, not a join: a join would lose the index order (in_window_order)


def link_steps_by_kind(layers: tuple[str, ...]) -> str:
    """The steps of every link leaving `layers`, one stream and source layer at a time (see
    `link_steps_of`). The checks on chain_links' streams and sources make the fifteen ranges of all
    layers every link."""
    return "\nUNION ALL\n".join(link_steps_of(stream, layer) for stream in STREAMS for layer in layers)


def link_steps_of(stream: str, layer: str) -> str:
    """The steps of the links of `stream` leaving `layer`: a range of the unique index, read in
    order, the out-degree counted over the source id alone, and only a manure centre's links look
    their share up. 0.3-0.4 s less than one window over all links on national data, where every row
    paid for the layer test (D123)."""
    share = FORWARDED_SHARE if layer == "manure_centers" else "1"
    return f"""
SELECT l.id, l.stream, l.source_layer, l.source_id, l.target_layer, l.target_id,
       count(*) OVER (PARTITION BY l.source_id)::float8 AS n, {share}::float8 AS share
FROM chain_links l WHERE l.stream = '{stream}' AND l.source_layer = '{layer}'"""


@contextmanager
def planner_without(conn: Connection, *methods: str) -> Iterator[None]:
    """The planner's `enable_<method>` settings off for the statements run inside, where its row
    guesses are known to lead it astray; back to the session's values after."""
    for method in methods:
        conn.execute(text(f"SET LOCAL enable_{method} = off"))
    yield
    for method in methods:
        conn.execute(text(f"RESET enable_{method}"))


def in_window_order(conn: Connection) -> AbstractContextManager[None]:
    """Read chain_links along its unique index on (stream, source, target) for the out-degree window,
    which holds every column the window reads (migration 0015): an index-only scan that comes grouped
    as the window needs it, 0.5 s on national data, against 5–7 s for a sort of the whole table, which
    the planner prefers by its cost guess (D119, D121)."""
    return planner_without(conn, "seqscan")


LINK_FLOW_SELECT = f"""
WITH RECURSIVE first_hop AS (
    SELECT l.id AS link_id, l.stream, l.target_layer, l.target_id, g.t_per_day / l.n AS amount
    FROM chain_generation g
    JOIN chain_link_step l ON l.stream = g.stream AND l.source_layer = g.layer AND l.source_id = g.id
), seed AS (
    SELECT stream, target_layer AS layer, target_id AS id, sum(amount) AS amount
    FROM first_hop GROUP BY 1, 2, 3
), carry(link_id, stream, layer, id, amount, path) AS (
    SELECT l.id, l.stream, l.target_layer, l.target_id, s.amount * l.share / l.n, ARRAY[l.id]
    FROM seed s
    JOIN chain_link_step l ON l.stream = s.stream AND l.source_layer = s.layer AND l.source_id = s.id
    UNION ALL
    SELECT l.id, l.stream, l.target_layer, l.target_id, c.amount * l.share / l.n, c.path || l.id
    FROM carry c
    JOIN chain_link_step l ON l.stream = c.stream AND l.source_layer = c.layer AND l.source_id = c.id
    WHERE l.id <> ALL(c.path) AND cardinality(c.path) < {MAX_DEPTH}
)
SELECT l.id AS link_id, l.stream, coalesce(sum(x.amount), 0) AS flow_t_per_day
FROM chain_link_step l LEFT JOIN (
    SELECT link_id, amount FROM first_hop UNION ALL SELECT link_id, amount FROM carry
) x ON x.link_id = l.id
GROUP BY l.id, l.stream
"""

GENERATING_LAYERS = ("villages", "livestock_farms")  # never a link's target (ck_chain_links_one_target)
SOURCE_LAYERS_SQL = "(" + ", ".join(f"'{layer}'" for layer in GENERATING_LAYERS) + ")"

# Node by node (D119). The first hop: each link leaving a village or farm takes its share of what that
# source generates (0 for a source that generates nothing: a closed farm's link still gets its row).
FIRST_HOP_SQL = f"""
CREATE TEMP TABLE chain_first_hop ON COMMIT DROP AS
SELECT l.id AS link_id, l.stream, l.source_layer, l.target_layer, l.target_id,
       coalesce(g.t_per_day * l.share / l.n, 0) AS amount
FROM chain_link_step l
LEFT JOIN chain_generation g ON g.stream = l.stream AND g.layer = l.source_layer AND g.id = l.source_id
WHERE l.source_layer IN {SOURCE_LAYERS_SQL}
"""
ONWARD_SQL = f"""
CREATE TEMP TABLE chain_onward ON COMMIT DROP AS
SELECT * FROM chain_link_step WHERE source_layer NOT IN {SOURCE_LAYERS_SQL}
"""


def _arrival_sql(first_hop: str) -> str:
    """Level 1: what the first hops bring, summed where they land (rows without a link are the
    whole chain's unlinked sources, set aside later). Kept apart by the layer they come from: a
    facility that takes one stream from villages and farms both gets two rows, which the next level
    sums. The kinds of link there are then come from these 0.5 million rows instead of all 1.85
    million source links on national data (`LINK_KINDS_SET_ASIDE_SQL`)."""
    return f"""
CREATE TEMP TABLE chain_arrival ON COMMIT DROP AS
SELECT 1 AS level, stream, target_layer AS layer, target_id AS id, sum(amount) AS amount, source_layer
FROM {first_hop} WHERE link_id IS NOT NULL GROUP BY target_id, target_layer, stream, source_layer"""


# What arrived at each facility on the last level moves one link on, summed where it lands.
# Integer columns lead every GROUP BY: a sort then rarely compares text, which under a
# libc collation such as C.UTF-8 costs a strcoll() each time (0.9 s for 500,000 facilities).
def _next_level_sql(onward: str) -> str:
    return f"""
INSERT INTO chain_arrival (level, stream, layer, id, amount)
SELECT :level, l.stream, l.target_layer, l.target_id, sum(a.amount * l.share / l.n)
FROM chain_arrival a
JOIN {onward} l ON l.stream = a.stream AND l.source_layer = a.layer AND l.source_id = a.id
WHERE a.level = :level - 1
GROUP BY l.target_id, l.target_layer, l.stream"""


INFLOW_SQL = """
CREATE TEMP TABLE chain_inflow ON COMMIT DROP AS
SELECT stream, layer, id, sum(amount) AS amount FROM chain_arrival GROUP BY id, layer, stream
"""

# A facility's links share what reached it over every level; the first hops are already done.
ONWARD_FLOW_SELECT = """
SELECT l.id, l.stream, coalesce(i.amount * l.share / l.n, 0)
FROM chain_onward l
LEFT JOIN chain_inflow i ON i.stream = l.stream AND i.layer = l.source_layer AND i.id = l.source_id
"""
LINK_FLOW_BY_NODE_SELECT = f"""
SELECT link_id, stream, amount AS flow_t_per_day FROM chain_first_hop
UNION ALL {ONWARD_FLOW_SELECT}"""

PROPAGATION_TABLES = ("chain_first_hop", "chain_arrival", "chain_onward", "chain_inflow")


@dataclass(frozen=True)
class Propagation:
    """What `propagate()` left for the caller: the SELECT of every link's flow, and whether the
    facilities' inflow can be read from `chain_inflow` (node by node) or must be summed over links."""

    link_flow_select: str
    by_node: bool


# Statistics of the computation's own temporary tables from a sample of 3,000 rows instead of 30,000:
# the planner needs their sizes and their few streams and layers, which the small sample gives as
# well, in 0.1 s instead of 0.8 s on national data (D122). Stored tables keep the server's default.
TEMPORARY_STATISTICS_TARGET = 10


def analyse_temporary(conn: Connection, *tables: str) -> None:
    prior = conn.execute(text("SHOW default_statistics_target")).scalar_one()
    conn.execute(text(f"SET LOCAL default_statistics_target = {TEMPORARY_STATISTICS_TARGET}"))
    for table in tables:
        conn.execute(text(f"ANALYZE pg_temp.{table}"))
    conn.execute(text("SELECT set_config('default_statistics_target', :prior, true)"), {"prior": prior})


def propagate(conn: Connection) -> Propagation:
    """Carry the tonnes of `chain_generation` along `chain_link_step` (temporary or stored, as the
    search path finds them) into `chain_inflow`, one level a statement. Links that still carry
    something after MAX_DEPTH + 1 levels form a cycle (or a chain longer than any real one): then the
    recursion over paths is the answer, as it is where those links were written."""
    drop_propagation(conn)
    conn.execute(text("ANALYZE chain_generation"))
    conn.execute(text(FIRST_HOP_SQL))
    conn.execute(text(ONWARD_SQL))
    return carry(conn, "chain_first_hop", "chain_onward")


def carry(conn: Connection, first_hop: str, onward: str) -> Propagation:
    """The levels after the first hop: `first_hop` holds each source link's amount and target,
    `onward` the steps of the links leaving facilities."""
    conn.execute(text(_arrival_sql(first_hop)))
    analyse_temporary(conn, "chain_arrival", onward)
    next_level = _next_level_sql(onward)
    for level in range(2, MAX_DEPTH + 3):
        moved = conn.execute(text(next_level), {"level": level}).rowcount
        if moved == 0:
            conn.execute(text(INFLOW_SQL))
            analyse_temporary(conn, "chain_inflow")
            return Propagation(LINK_FLOW_BY_NODE_SELECT, by_node=True)
        analyse_temporary(conn, "chain_arrival")
    drop_propagation(conn)
    return Propagation(LINK_FLOW_SELECT, by_node=False)


def drop_propagation(conn: Connection) -> None:
    for table in reversed(PROPAGATION_TABLES):
        conn.execute(text(f"DROP TABLE IF EXISTS pg_temp.{table}"))


def _facility_union() -> str:
    return " UNION ALL ".join(
        f"SELECT '{layer}'::text AS layer, id, code, name, status, capacity::float8 AS capacity, "
        f"capacity_unit, town_id FROM {layer}"
        for layer in FACILITY_LAYERS
    )


# A facility's inflow of every stream as JSON, from rows of (stream, `flow`), and its utilisation
# from its summed inflow: the same expressions for the stored table and the whole chain's view.
def _by_stream(flow: str) -> str:
    return f"jsonb_object_agg(stream, {flow}) FILTER (WHERE {flow} <> 0)"


UTILISATION = "CASE WHEN fac.capacity > 0 THEN coalesce(i.inflow, 0) / fac.capacity END"


def facility_select(facilities: str | None = None, by_node: bool = False) -> str:
    """Each facility with its inflow and utilisation; `facilities` names a table of (layer, id) to
    narrow them to. The inflow is summed over the links' flows (`chain_link_flow`), or read from
    `chain_inflow` when `propagate()` went node by node. A stream bringing nothing is not listed:
    both ways then list the same streams."""
    if by_node:
        per_stream = "SELECT layer, id, stream, amount AS flow FROM chain_inflow"
    else:
        links = _among(facilities, "l.target_layer", "l.target_id")
        per_stream = f"""
    SELECT l.target_layer AS layer, l.target_id AS id, l.stream, sum(f.flow_t_per_day) AS flow
    FROM chain_links l JOIN chain_link_flow f ON f.link_id = l.id
    WHERE {links}
    GROUP BY 1, 2, 3"""
    kept = _among(facilities, "fac.layer", "fac.id")
    return f"""
WITH per_stream AS ({per_stream}
), inflow AS (
    SELECT layer, id, sum(flow) AS inflow, {_by_stream("flow")} AS by_stream
    FROM per_stream GROUP BY id, layer
)
SELECT fac.*, coalesce(i.inflow, 0) AS inflow_t_per_day,
       coalesce(i.by_stream, '{{}}'::jsonb) AS inflow_by_stream, {UTILISATION} AS utilisation
FROM ({_facility_union()}) fac
LEFT JOIN inflow i ON i.layer = fac.layer AND i.id = fac.id
WHERE {kept}"""


def _node_union() -> str:
    facilities = " UNION ALL ".join(
        f"SELECT '{layer}'::text, id, code, name, status, town_id FROM {layer}" for layer in FACILITY_LAYERS
    )
    return (
        "SELECT 'villages'::text AS layer, id, code, name, 'operational'::text AS status, town_id "
        "FROM villages "
        "UNION ALL SELECT 'livestock_farms', id, code, name, status, town_id FROM livestock_farms "
        f"UNION ALL {facilities}"
    )


NODE_SQL = f"""
CREATE TEMP TABLE chain_node ON COMMIT DROP AS {_node_union()};
CREATE INDEX ON chain_node (layer, id)
"""


# The whole chain (D123). Its first hop is made with the source links' steps, in one pass over their
# index ranges: each link leaving a village or farm takes its share of what its source generates,
# and the join is full, so a source that generates something and has no link of that stream comes
# out too, as a row without a link id. The facilities' links have steps of their own;
# `chain_link_step` and `chain_link_flow` are views over the two parts, with the columns of the
# stored tables. The steps of the 1.85 million source links on national data are then written once,
# not once as steps and once as first hops (about 0.6 s).
def _source_hop_sql() -> str:
    generated = generation_parts()
    hops = (
        _source_hop(stream, layer, generated.get((stream, layer)))
        for stream in STREAMS
        for layer in GENERATING_LAYERS
    )
    return "CREATE TEMP TABLE chain_source_hop ON COMMIT DROP AS\n" + "\nUNION ALL\n".join(hops)


def _source_hop(stream: str, layer: str, generated: str | None) -> str:
    """One range of source links joined by source id to what those sources generate of the stream,
    computed again from their table with `generation_parts`' arithmetic: a join on an integer key,
    the villages' or farms' rows read in id order as the range is, instead of a hash of all of
    `chain_generation` on (stream, layer, id) (D123). A stream its layer does not generate (a link
    of the wrong stream) carries nothing."""
    steps = link_steps_of(stream, layer)
    if generated is None:
        return f"""
SELECT l.id AS link_id, l.stream, l.source_layer, l.source_id, l.target_layer, l.target_id, l.n, l.share,
       0::float8 AS amount
FROM ({steps}) l"""
    return f"""
SELECT l.id AS link_id, '{stream}'::text AS stream, '{layer}'::text AS source_layer,
       coalesce(l.source_id, g.id) AS source_id, l.target_layer, l.target_id, l.n, l.share,
       CASE WHEN l.id IS NULL THEN g.t_per_day ELSE coalesce(g.t_per_day * l.share / l.n, 0) END AS amount
FROM ({steps}) l
FULL JOIN ({generated}) g ON g.id = l.source_id"""


FACILITY_STEP_SQL = f"""
CREATE TEMP TABLE chain_facility_step ON COMMIT DROP AS
{link_steps_by_kind(tuple(layer for layer in LINK_SOURCE_LAYERS if layer not in GENERATING_LAYERS))}"""

LINK_STEP_VIEW_SQL = """
CREATE TEMP VIEW chain_link_step AS
SELECT link_id AS id, stream, source_layer, source_id, target_layer, target_id, n, share
FROM chain_source_hop WHERE link_id IS NOT NULL
UNION ALL
SELECT id, stream, source_layer, source_id, target_layer, target_id, n, share FROM chain_facility_step"""

# The facilities' links join what reached their source fully: what reached a facility with no link
# of that stream onward comes out as a row without a link id that names the facility.
ONWARD_FLOW_SQL = """
CREATE TEMP TABLE chain_onward_flow ON COMMIT DROP AS
SELECT l.id AS link_id, coalesce(l.stream, i.stream) AS stream,
       CASE WHEN l.id IS NULL THEN i.amount ELSE coalesce(i.amount * l.share / l.n, 0) END AS flow_t_per_day,
       CASE WHEN l.id IS NULL THEN i.layer END AS layer, CASE WHEN l.id IS NULL THEN i.id END AS id
FROM chain_facility_step l
FULL JOIN chain_inflow i ON i.stream = l.stream AND i.layer = l.source_layer AND i.id = l.source_id"""

LINK_FLOW_VIEW_SQL = """
CREATE TEMP VIEW chain_link_flow AS
SELECT link_id, stream, amount AS flow_t_per_day FROM chain_source_hop WHERE link_id IS NOT NULL
UNION ALL
SELECT link_id, stream, flow_t_per_day FROM chain_onward_flow"""

# The rows without a link, set aside for the rules that look for them (D122, D123): a source's that
# generates something to `chain_unconnected` (rule `source_unconnected`), and a facility's that
# passes its stream on (not an end of the chain, not a manure centre keeping it all) and received
# some of it to `chain_stuck` (rule `no_downstream`). Instead of anti joins over every link (1.3 s
# and 0.5-0.6 s on national data).
SET_ASIDE_SQL = f"""
CREATE TEMP TABLE chain_unconnected ON COMMIT DROP AS
SELECT stream, source_layer AS layer, source_id AS id, amount AS t_per_day
FROM chain_source_hop WHERE link_id IS NULL AND amount > 0;
CREATE TEMP TABLE chain_stuck (layer text, id bigint, stream text, t_per_day float8) ON COMMIT DROP;
WITH gone AS (
    DELETE FROM chain_onward_flow WHERE link_id IS NULL RETURNING layer, id, stream, flow_t_per_day
)
INSERT INTO chain_stuck
SELECT g.layer, g.id, g.stream, g.flow_t_per_day
FROM gone g LEFT JOIN manure_centers mc ON g.layer = 'manure_centers' AND mc.id = g.id
WHERE NOT {sql_in("g.layer", END_LAYERS)} AND g.flow_t_per_day > 0 AND coalesce(mc.forwarded_share, 1) > 0
"""

# The operational facilities no link feeds. Every link's target is either in `chain_inflow` (the
# first hops' targets all are, with 0 where nothing came) or a facility link's target. Only the
# facilities nothing reached can be unfed: the few of them are checked against those two sets,
# which are read once each against the few, not hashed whole (0.5 s to 0.1 s nationally; D123).
UNFED_SET_ASIDE_SQL = """
CREATE TEMP TABLE chain_unfed ON COMMIT DROP AS
WITH unreached AS MATERIALIZED (
    SELECT layer, id FROM chain_facility WHERE status = 'operational' AND inflow_t_per_day = 0
)
SELECT layer, id FROM unreached
EXCEPT SELECT layer, id FROM chain_inflow WHERE (layer, id) IN (SELECT layer, id FROM unreached)
EXCEPT SELECT target_layer, target_id FROM chain_facility_step
       WHERE (target_layer, target_id) IN (SELECT layer, id FROM unreached)
"""

# The kinds of link there are, for the stage rules (D122): the source links' from the first level's
# arrivals, the facilities' links' from their steps (0.1-0.2 s against 0.5 s over every link; D123).
LINK_KINDS_SET_ASIDE_SQL = """
CREATE TEMP TABLE chain_link_kind ON COMMIT DROP AS
SELECT stream, source_layer, layer AS target_layer FROM chain_arrival WHERE level = 1
UNION
SELECT stream, source_layer, target_layer FROM chain_facility_step"""

# Each facility with its inflow and utilisation, and a view that adds the inflow by stream as JSON
# from `chain_inflow`: only a reader that asks for it builds it (national flows and integrity never
# do; 0.4 s for 500,000 facilities, D124). A reader that does not is left with the table alone,
# because the joined side is one row per facility and PostgreSQL then drops the join.
FACILITY_LOAD_SQL = f"""
CREATE TEMP TABLE chain_facility_load ON COMMIT DROP AS
SELECT fac.*, coalesce(i.inflow, 0) AS inflow_t_per_day, {UTILISATION} AS utilisation
FROM ({_facility_union()}) fac
LEFT JOIN (SELECT layer, id, sum(amount) AS inflow FROM chain_inflow GROUP BY id, layer) i
       ON i.layer = fac.layer AND i.id = fac.id"""
FACILITY_VIEW_SQL = f"""
CREATE TEMP VIEW chain_facility AS
SELECT f.layer, f.id, f.code, f.name, f.status, f.capacity, f.capacity_unit, f.town_id, f.inflow_t_per_day,
       coalesce(s.by_stream, '{{}}'::jsonb) AS inflow_by_stream, f.utilisation
FROM chain_facility_load f
LEFT JOIN (
    SELECT layer, id, {_by_stream("amount")} AS by_stream FROM chain_inflow GROUP BY id, layer
) s ON s.layer = f.layer AND s.id = f.id"""

TEMP_TABLES = (  # and views: chain_generation, chain_link_step, chain_link_flow where the levels ended
    "chain_node",
    "chain_rates",
    "chain_generation",
    "chain_source_hop",
    "chain_facility_step",
    "chain_link_step",
    "chain_unconnected",
    "chain_onward_flow",
    "chain_link_flow",
    "chain_facility",
    "chain_facility_load",
    "chain_facility_inflow",
    "chain_unfed",
    "chain_stuck",
    "chain_link_kind",
)

TEMPORARY_RELATIONS_SQL = """
SELECT relname, relkind FROM pg_class
WHERE relnamespace = pg_my_temp_schema() AND relname = ANY(CAST(:names AS text[]))"""


def drop_temporary(conn: Connection) -> None:
    """Drop this transaction's chain_* temporary tables and views, if any, so the stored ones show
    again."""
    names = [*TEMP_TABLES, *PROPAGATION_TABLES]
    found = conn.execute(text(TEMPORARY_RELATIONS_SQL), {"names": names}).all()
    views = [f"pg_temp.{name}" for name, kind in found if kind == "v"]
    tables = [f"pg_temp.{name}" for name, kind in found if kind != "v"]
    for kind, names in (("VIEW", views), ("TABLE", tables)):  # the views first: they depend on tables
        if names:
            conn.execute(text(f"DROP {kind} {', '.join(names)}"))


WHOLE_CHAIN_WORK_MEM_KB = 128 * 1024


def whole_chain_settings(conn: Connection) -> None:
    """Planner settings for the rest of the caller's transaction, for statements over every link.

    - At least 128 MB of work_mem. The whole chain's joins hash every source (1.85 million on
      national data, about 150 MB with PostgreSQL's default hash_mem_multiplier of 2); with less they
      spill to disk in batches (the first hop: 4.6 s at 64 MB, 3.6 s at 128 MB). A setting the server
      already has above that is left alone.
    - No JIT compilation. Each statement reads every link once, so compiling its expressions costs
      more than it saves: integrity took 5.1–5.3 s without, 6.6–6.7 s with (D121).
    """
    conn.execute(
        text(
            "SELECT set_config('work_mem', :kb || 'kB', true) FROM pg_settings "
            "WHERE name = 'work_mem' AND setting::bigint < :kb"
        ),
        {"kb": WHOLE_CHAIN_WORK_MEM_KB},
    )
    conn.execute(text("SET LOCAL jit = off"))


def _private_copies(conn: Connection) -> bool:
    """Whether this transaction shadows a layer with a temporary copy (a scenario does)."""
    layers = ("villages", "livestock_farms", *FACILITY_LAYERS)
    found = " OR ".join(f"to_regclass('pg_temp.{layer}') IS NOT NULL" for layer in layers)
    return bool(conn.execute(text(f"SELECT {found}")).scalar_one())


def compute(conn: Connection, params: ChainParameters | None = None) -> None:
    """Fill the chain_* temporary tables for the whole inventory (caller holds a transaction)."""
    params = params or ChainParameters()
    drop_temporary(conn)
    whole_chain_settings(conn)
    if _private_copies(conn):  # the public view names the real tables, not a scenario's copies
        for statement in NODE_SQL.split(";"):
            conn.execute(text(statement))
        conn.execute(text("ANALYZE chain_node"))
    coefficients = {
        "waste_rate": params.waste_kg_per_person_day,
        "excreta": params.excreta_kg_per_person_day,
    }
    conn.execute(text(RATES_SQL), coefficients)
    conn.execute(text(GENERATION_VIEW_SQL))
    with in_window_order(conn):
        conn.execute(text(_source_hop_sql()), coefficients)
        conn.execute(text(FACILITY_STEP_SQL))
    conn.execute(text(LINK_STEP_VIEW_SQL))
    propagation = carry(conn, "chain_source_hop", "chain_facility_step")
    if propagation.by_node:
        for statement in (
            LINK_KINDS_SET_ASIDE_SQL,
            ONWARD_FLOW_SQL,
            LINK_FLOW_VIEW_SQL,
            *SET_ASIDE_SQL.split(";"),
        ):
            conn.execute(text(statement))
        flow_tables: tuple[str, ...] = ("chain_source_hop", "chain_onward_flow")
    else:  # a cycle: the recursion over paths, over the view of every step
        link_flows = propagation.link_flow_select
        conn.execute(text(f"CREATE TEMP TABLE chain_link_flow ON COMMIT DROP AS {link_flows}"))
        flow_tables = ("chain_link_flow",)
    if propagation.by_node:
        for statement in (FACILITY_LOAD_SQL, FACILITY_VIEW_SQL, UNFED_SET_ASIDE_SQL):
            conn.execute(text(statement))
        # The levels go; the inflow stays for the view, under a name of its own, so that a
        # propagation later in the transaction (the stored chain's) makes its own chain_inflow.
        conn.execute(text("DROP TABLE pg_temp.chain_arrival"))
        conn.execute(text("ALTER TABLE pg_temp.chain_inflow RENAME TO chain_facility_inflow"))
        flow_tables += ("chain_facility_load", "chain_facility_inflow")
    else:
        facilities = facility_select()
        conn.execute(text(f"CREATE TEMP TABLE chain_facility ON COMMIT DROP AS {facilities}"))
        flow_tables += ("chain_facility",)
    analyse_temporary(conn, *flow_tables)


@dataclass(frozen=True)
class StreamTotals:
    stream: str
    generated_t_per_day: float
    unconnected_t_per_day: float  # generated at sources with no downstream link
    delivered_t_per_day: float  # arriving at the end of the chain (plant, biogas centre)
    retained_t_per_day: float  # treated on site at intermediate facilities (not forwarded)


def stream_totals(conn: Connection, town_id: int | None = None) -> list[StreamTotals]:
    rows = conn.execute(
        text(
            f"""
            WITH g AS (
                SELECT g.stream, sum(g.t_per_day) AS generated,
                       sum(g.t_per_day) FILTER (WHERE NOT EXISTS (
                           SELECT 1 FROM chain_links l WHERE l.stream = g.stream
                           AND l.source_layer = g.layer AND l.source_id = g.id)) AS unconnected
                FROM chain_generation g WHERE CAST(:town AS bigint) IS NULL OR g.town_id = :town
                GROUP BY g.stream
            )
            SELECT s.stream, coalesce(g.generated, 0), coalesce(g.unconnected, 0)
            FROM unnest(ARRAY[{", ".join(repr(stream) for stream in STREAMS)}]) AS s(stream)
            LEFT JOIN g ON g.stream = s.stream ORDER BY 1
            """
        ),
        {"town": town_id},
    ).all()
    ends: dict[str, float] = dict(
        conn.execute(
            text(
                f"""
                SELECT l.stream, sum(f.flow_t_per_day)
                FROM chain_links l JOIN chain_link_flow f ON f.link_id = l.id
                WHERE {sql_in("l.target_layer", END_LAYERS)}
                GROUP BY l.stream
                """
            )
        ).all()
    )
    result = []
    for stream, generated, unconnected in rows:
        delivered = float(ends.get(stream, 0.0))
        if town_id is not None:
            delivered = float("nan")  # end-of-chain deliveries are city-wide; see the town's facilities
        retained = (
            max(0.0, float(generated) - float(unconnected) - delivered) if town_id is None else float("nan")
        )
        result.append(StreamTotals(stream, float(generated), float(unconnected), delivered, retained))
    return result


def facility_loads(
    conn: Connection, layer: str | None = None, town_id: int | None = None
) -> list[dict[str, Any]]:
    rows = conn.execute(
        text(
            """
            SELECT f.layer, f.id, f.code, f.name, f.status, f.capacity, f.capacity_unit,
                   t.code AS town_code, f.inflow_t_per_day, f.inflow_by_stream, f.utilisation
            FROM chain_facility f LEFT JOIN towns t ON t.id = f.town_id
            WHERE (CAST(:layer AS text) IS NULL OR f.layer = :layer)
              AND (CAST(:town AS bigint) IS NULL OR f.town_id = :town)
            ORDER BY f.layer, f.code
            """
        ),
        {"layer": layer, "town": town_id},
    ).mappings()
    return [dict(r) for r in rows]


# Each link as a GeoJSON Feature (text) with its flow and geodesic length; needs `compute()`.
LINK_FEATURES_SQL = """
SELECT json_build_object(
    'type', 'Feature', 'id', l.id,
    'geometry', ST_AsGeoJSON(l.geom, 6)::json,
    'properties', json_build_object(
        'stream', l.stream,
        'source_layer', l.source_layer, 'source_id', l.source_id,
        'source_code', s.code, 'source_name', s.name,
        'target_layer', l.target_layer, 'target_id', l.target_id,
        'target_code', t.code, 'target_name', t.name,
        'flow_t_per_day', round(f.flow_t_per_day::numeric, 4),
        'length_m', round(ST_Length(l.geom::geography)::numeric, 1)))::text
FROM chain_links l
JOIN chain_link_flow f ON f.link_id = l.id
JOIN chain_node s ON s.layer = l.source_layer AND s.id = l.source_id
JOIN chain_node t ON t.layer = l.target_layer AND t.id = l.target_id
WHERE (CAST(:stream AS text) IS NULL OR l.stream = :stream)
  AND (CAST(:town AS bigint) IS NULL OR s.town_id = :town OR t.town_id = :town)
ORDER BY l.id
"""


def link_features(conn: Connection, stream: str | None = None, town_id: int | None = None) -> Iterator[str]:
    """The links (of a stream, touching a town) as GeoJSON Feature texts, read from a server-side cursor."""
    rows = conn.execution_options(stream_results=True, max_row_buffer=500).execute(
        text(LINK_FEATURES_SQL), {"stream": stream, "town": town_id}
    )
    for (feature,) in rows:
        yield feature
