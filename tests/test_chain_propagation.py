"""Node-by-node propagation (D119) against the recursion over paths it replaced: same figures on any
chain without a cycle, and the recursion itself wherever the links form one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from service.chain import flows, integrity, stored
from tests.conftest import demo_copy_engine


@pytest.fixture(scope="module")
def demo(pg_server: Any, migrated_template: str) -> Iterator[Engine]:
    with demo_copy_engine(pg_server, migrated_template, "chain_propagation") as engine:
        yield engine


def _branch(conn: Connection) -> None:
    """Splits at every stage: a village to two collection points, a collection point to two transfer
    stations, a station to a second plant, and a manure centre passing on only 40 %."""
    conn.execute(
        text(
            """
            INSERT INTO chain_links (stream, source_village_id, target_collection_point_id)
            SELECT 'domestic_waste', l.source_village_id,
                   (SELECT min(c.id) FROM collection_points c WHERE c.id <> l.target_collection_point_id)
            FROM chain_links l
            WHERE l.source_village_id IS NOT NULL AND l.target_collection_point_id IS NOT NULL
            ORDER BY l.id LIMIT 3;
            INSERT INTO chain_links (stream, source_collection_point_id, target_transfer_station_id)
            SELECT 'domestic_waste', l.source_collection_point_id,
                   (SELECT min(t.id) FROM transfer_stations t WHERE t.id <> l.target_transfer_station_id)
            FROM chain_links l WHERE l.source_collection_point_id IS NOT NULL
            ORDER BY l.id LIMIT 3;
            INSERT INTO chain_links (stream, source_transfer_station_id, target_treatment_plant_id)
            SELECT 'domestic_waste', l.source_transfer_station_id,
                   (SELECT min(p.id) FROM treatment_plants p WHERE p.id <> l.target_treatment_plant_id)
            FROM chain_links l WHERE l.source_transfer_station_id IS NOT NULL
            ORDER BY l.id LIMIT 1
            ON CONFLICT DO NOTHING;
            UPDATE manure_centers SET forwarded_share = 0.4 WHERE id = (SELECT min(id) FROM manure_centers)
            """
        )
    )


def _by_path(conn: Connection) -> dict[int, float]:
    """Every link's flow by the recursion over paths, over the same generation and steps."""
    return {r.link_id: r.flow_t_per_day for r in conn.execute(text(flows.LINK_FLOW_SELECT))}


def _table(conn: Connection, sql: str) -> dict[Any, Any]:
    return {r[0]: tuple(r[1:]) for r in conn.execute(text(sql))}


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def test_node_by_node_flows_equal_the_path_recursion_on_a_branching_chain(demo: Engine) -> None:
    with demo.connect() as conn, conn.begin():
        _branch(conn)
        flows.compute(conn)
        ours = _table(conn, "SELECT link_id, flow_t_per_day FROM chain_link_flow")
        by_path = _by_path(conn)
        assert ours.keys() == by_path.keys()
        assert len(ours) == conn.execute(text("SELECT count(*) FROM chain_links")).scalar_one()
        assert all(_close(ours[k][0], by_path[k]) for k in ours), "a link's flow differs"
        split = conn.execute(
            text(
                "SELECT count(*) FROM chain_link_step s JOIN chain_link_flow f ON f.link_id = s.id "
                "WHERE s.n > 1 AND f.flow_t_per_day > 0 AND s.source_layer <> 'villages'"
            )
        ).scalar_one()
        assert split >= 2, "the test chain must split downstream of the villages"
        shared = conn.execute(
            text("SELECT count(*) FROM chain_link_step WHERE share = 0.4 AND source_layer = 'manure_centers'")
        ).scalar_one()
        assert shared >= 1

        # The facilities: read from the node sums, as summed over the links' flows.
        facilities = _table(
            conn, "SELECT layer || id, inflow_t_per_day, inflow_by_stream FROM chain_facility"
        )
        by_links = _table(
            conn, f"SELECT layer || id, inflow_t_per_day, inflow_by_stream FROM ({flows.facility_select()}) f"
        )
        assert facilities.keys() == by_links.keys()
        for key, (inflow, streams) in facilities.items():
            assert _close(inflow, by_links[key][0]), key
            assert streams.keys() == by_links[key][1].keys(), key
            assert all(_close(streams[s], by_links[key][1][s]) for s in streams), key
        assert any(inflow > 0 for inflow, _ in facilities.values())
        conn.rollback()


def test_the_first_hops_become_link_flows_with_the_stored_tables_columns(demo: Engine) -> None:
    """The temporary chain_link_flow is the first-hop table renamed, its target columns dropped (D121):
    readers see the stored table's columns, in its order, and every link once."""
    with demo.connect() as conn, conn.begin():
        flows.compute(conn)
        ours = conn.execute(text("SELECT * FROM pg_temp.chain_link_flow LIMIT 0")).keys()
        stored_columns = conn.execute(text("SELECT * FROM public.chain_link_flow LIMIT 0")).keys()
        assert list(ours) == list(stored_columns) == ["link_id", "stream", "flow_t_per_day"]
        counts = conn.execute(
            text("SELECT count(*), count(DISTINCT link_id) FROM pg_temp.chain_link_flow")
        ).one()
        links = conn.execute(text("SELECT count(*) FROM chain_links")).scalar_one()
        assert tuple(counts) == (links, links)
        assert conn.execute(text("SELECT to_regclass('pg_temp.chain_first_hop')")).scalar_one() is None
        conn.rollback()


def test_the_out_degree_window_reads_only_the_covering_unique_index(demo: Engine) -> None:
    """Since migration 0015 the unique index on (stream, source, target) holds every column the steps
    read, already grouped by stream and source: an index-only scan with no sort (D121). Whether it
    then skips the table's pages depends on how recently they were vacuumed, not on the plan."""
    with demo.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE chain_links"))
    with demo.connect() as conn, conn.begin(), flows.in_window_order(conn):
        plan = "\n".join(
            row[0] for row in conn.execute(text(f"EXPLAIN (ANALYZE, COSTS OFF) {flows.link_step_select()}"))
        )
        assert "Index Only Scan using uq_chain_links_stream_source_target on chain_links" in plan, plan
        assert "Sort" not in plan, plan


def test_a_cycle_is_carried_by_the_path_recursion_and_reported(demo: Engine) -> None:
    with demo.connect() as conn, conn.begin():
        station, point = conn.execute(
            text(
                "SELECT target_transfer_station_id, source_collection_point_id FROM chain_links "
                "WHERE source_collection_point_id IS NOT NULL ORDER BY id LIMIT 1"
            )
        ).one()
        back = conn.execute(
            text(
                "INSERT INTO chain_links (stream, source_transfer_station_id, target_collection_point_id) "
                "VALUES ('domestic_waste', :s, :c) RETURNING id"
            ),
            {"s": station, "c": point},
        ).scalar_one()
        flows.compute(conn)
        assert not flows.propagate(conn).by_node  # the levels never run dry: the recursion answers
        flows.drop_propagation(conn)
        ours = _table(conn, "SELECT link_id, flow_t_per_day FROM chain_link_flow")
        by_path = _by_path(conn)
        assert all(_close(ours[k][0], by_path[k]) for k in ours)
        assert ours[back][0] > 0  # what goes back round is carried once, not looped
        cycles = [f for f in integrity.check(conn) if f.rule == "cycle"]
        assert {f.numbers["link_id"] for f in cycles} >= {back}
        found = next(f for f in cycles if f.numbers["link_id"] == back)
        assert found.layer == "transfer_stations" and len(found.numbers["cycle_links"]) == 2
        conn.rollback()


def test_a_chain_without_a_cycle_leaves_no_cycle_candidates(demo: Engine) -> None:
    with demo.connect() as conn, conn.begin():
        _branch(conn)
        flows.compute(conn)
        assert flows.propagate(conn).by_node
        flows.drop_propagation(conn)
        assert not integrity._cycle_candidates(conn)
        assert not [f for f in integrity.check(conn) if f.rule == "cycle"]
        conn.rollback()


def _catalogue(conn: Connection) -> list[tuple[str, str]]:
    return [
        (r[0], r[1])
        for r in conn.execute(
            text(
                "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                "AND tablename = ANY(:tables) ORDER BY 1, 2"
            ),
            {"tables": list(stored.STORED_TABLES)},
        )
    ]


def test_a_rebuild_builds_the_stored_tables_keys_and_indexes_again(demo: Engine) -> None:
    with demo.connect() as conn:
        before = _catalogue(conn)
        conn.rollback()
    assert len(before) >= 6  # four keys, the steps' two indexes
    with demo.begin() as conn:
        stored._lock(conn)
        stored.rebuild(conn)
    with demo.connect() as conn:
        assert _catalogue(conn) == before
        links = conn.execute(text("SELECT count(*) FROM chain_links")).scalar_one()
        assert conn.execute(text("SELECT count(*) FROM public.chain_link_flow")).scalar_one() == links
        assert conn.execute(text("SELECT count(*) FROM public.chain_link_step")).scalar_one() == links
        duplicate = text("INSERT INTO public.chain_link_flow SELECT * FROM public.chain_link_flow LIMIT 1")
        with pytest.raises(IntegrityError):  # the key is enforced again
            conn.execute(duplicate)


@pytest.mark.parametrize(("before", "after"), [("4MB", "128MB"), ("64MB", "128MB"), ("1GB", "1GB")])
def test_the_whole_chain_gets_roomy_hashes_and_no_jit_without_lowering_a_bigger_setting(
    demo: Engine, before: str, after: str
) -> None:
    with demo.connect() as conn:
        conn.execute(text(f"SET work_mem = '{before}'"))
        conn.execute(text("SET jit = on"))
        jit_before = conn.execute(text("SHOW jit")).scalar_one()
        conn.commit()
        with conn.begin():
            flows.whole_chain_settings(conn)
            assert conn.execute(text("SHOW work_mem")).scalar_one() == after
            assert conn.execute(text("SHOW jit")).scalar_one() == "off"
        assert conn.execute(text("SHOW work_mem")).scalar_one() == before  # for its transaction only
        assert conn.execute(text("SHOW jit")).scalar_one() == jit_before
        conn.execute(text("RESET work_mem"))
        conn.execute(text("RESET jit"))
        conn.commit()
