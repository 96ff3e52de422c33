"""The chain on a small hand-built world whose flows are known, each integrity rule firing and not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from service.chain import assignment, flows, indicators, integrity, livestock
from service.chain.parameters import ChainParameters
from tests import worlds

GEOD = worlds.GEOD
AT = worlds.CHAIN_AT
Change = str | Callable[[Connection], Any]  # what run() applies to the world before computing

# Known answers (t/day): waste 0.4 kg/person (V2 overrides 1.0); sludge = toilets × persons per
# household × 1.55 kg; pig: 730 sold/yr × 180/365 = 360 on hand × 2 kg; dairy: 150 × 20 kg.
WASTE = {"V1": 0.4, "V2": 0.5, "V3": 0.08}
SLUDGE = {"V1": 300 * 2.5 * 1.55 / 1000, "V2": 200 * 2.5 * 1.55 / 1000}
MANURE = {"F1": 360 * 2.0 / 1000, "F2": 150 * 20.0 / 1000}
M1_IN = SLUDGE["V1"] + SLUDGE["V2"] + MANURE["F1"]
B1_IN = 0.5 * M1_IN + MANURE["F2"]


@pytest.fixture
def world(empty_engine: Engine) -> Engine:
    with empty_engine.begin() as conn:
        worlds.chain(conn)
    return empty_engine


def run(engine: Engine, change: Change | None = None, params: ChainParameters | None = None):
    """Optionally change the world (an SQL statement or a builder), then compute and return (loads by
    code, findings, indicators); the change is rolled back."""
    with engine.connect() as conn, conn.begin():
        if isinstance(change, str):
            conn.execute(text(change))
        elif change is not None:
            change(conn)
        flows.compute(conn, params)
        loads = {f["code"]: f for f in flows.facility_loads(conn)}
        found = integrity.check(conn, params)
        figures = indicators.compute(conn)
        conn.rollback()
    return loads, found, figures


def rules(found) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in found:
        out.setdefault(f.rule, set()).add(f.code)
    return out


def test_flows_match_the_hand_computed_answers(world):
    loads, _, _ = run(world)
    assert loads["CP1"]["inflow_t_per_day"] == pytest.approx(WASTE["V1"])
    assert loads["CP2"]["inflow_t_per_day"] == pytest.approx(WASTE["V2"])
    assert loads["CP2"]["utilisation"] == pytest.approx(0.5 / 0.6)
    assert loads["S1"]["inflow_t_per_day"] == pytest.approx(0.9)
    assert loads["P1"]["inflow_t_per_day"] == pytest.approx(0.9)
    assert loads["P1"]["utilisation"] == pytest.approx(0.009)
    assert loads["M1"]["inflow_t_per_day"] == pytest.approx(M1_IN)
    assert loads["M1"]["inflow_by_stream"]["manure"] == pytest.approx(MANURE["F1"])
    assert loads["B1"]["inflow_t_per_day"] == pytest.approx(B1_IN)
    assert loads["B1"]["inflow_by_stream"]["fecal_sludge"] == pytest.approx(
        0.5 * (SLUDGE["V1"] + SLUDGE["V2"])
    )
    assert loads["P2"]["inflow_t_per_day"] == 0


def test_stream_totals_separate_unconnected_and_treated_on_site(world):
    with world.connect() as conn, conn.begin():
        flows.compute(conn)
        totals = {t.stream: t for t in flows.stream_totals(conn)}
    waste = totals["domestic_waste"]
    assert waste.generated_t_per_day == pytest.approx(0.98)
    assert waste.unconnected_t_per_day == pytest.approx(0.08)
    assert waste.delivered_t_per_day == pytest.approx(0.9)
    sludge = totals["fecal_sludge"]
    assert sludge.retained_t_per_day == pytest.approx(0.5 * (SLUDGE["V1"] + SLUDGE["V2"]))
    assert totals["manure"].delivered_t_per_day == pytest.approx(0.5 * MANURE["F1"] + MANURE["F2"])


def test_per_capita_rate_override_scales_the_waste(world):
    loads, _, _ = run(world, params=ChainParameters(waste_kg_per_person_day=0.8))
    assert loads["CP1"]["inflow_t_per_day"] == pytest.approx(0.8)  # V1 follows the city rate
    assert loads["CP2"]["inflow_t_per_day"] == pytest.approx(0.5)  # V2 keeps its own rate


def test_absurd_rates_are_refused():
    with pytest.raises(ValueError):
        ChainParameters(waste_kg_per_person_day=6)
    with pytest.raises(ValueError):
        ChainParameters(waste_kg_per_person_day=-0.1)


def test_link_lengths_are_geodesic(world):
    with world.connect() as conn, conn.begin():
        length = conn.execute(
            text("SELECT ST_Length(geom::geography) FROM chain_links WHERE source_transfer_station_id = 1")
        ).scalar()
    _, _, expected = GEOD.inv(*AT["S1"], *AT["P1"])
    assert length == pytest.approx(expected, abs=0.01)


def test_only_the_unconnected_village_and_its_unused_point_are_reported_on_the_clean_world(world):
    _, found, _ = run(world)
    assert rules(found) == {"source_unconnected": {"V3"}, "facility_unfed": {"CP3"}}
    finding = found[0]  # errors come first
    assert finding.severity == "error" and finding.stream == "domestic_waste"
    assert finding.numbers["t_per_day"] == pytest.approx(0.08)


def test_stage_skip_fires_for_village_straight_to_station_but_not_for_farm_to_biogas(world):
    _, found, _ = run(
        world,
        lambda c: worlds.link(c, "domestic_waste", ("villages", 3), ("transfer_stations", 1)),
    )
    assert rules(found) == {"stage_skip": {"V3"}, "facility_unfed": {"CP3"}}


def test_stage_reverse_and_cycle_are_reported_and_the_computation_terminates(world):
    loads, found, _ = run(
        world,
        lambda c: worlds.link(c, "domestic_waste", ("transfer_stations", 1), ("collection_points", 1)),
    )
    got = rules(found)
    assert got["stage_reverse"] == {"S1"}
    assert got["cycle"] == {"S1", "CP1"}
    assert loads["P1"]["inflow_t_per_day"] > 0


def test_wrong_stream_layer_is_an_error(world):
    _, found, _ = run(
        world,
        lambda c: worlds.link(c, "domestic_waste", ("collection_points", 1), ("manure_centers", 1)),
    )
    assert rules(found)["wrong_stream"] == {"CP1"}


def test_link_to_a_closed_plant_is_an_error_and_splits_the_flow(world):
    loads, found, _ = run(
        world,
        lambda c: worlds.link(c, "domestic_waste", ("transfer_stations", 1), ("treatment_plants", 2)),
    )
    assert rules(found)["inactive_target"] == {"P2"}
    assert loads["P1"]["inflow_t_per_day"] == pytest.approx(0.45)
    assert loads["P2"]["inflow_t_per_day"] == pytest.approx(0.45)


def test_capacity_rules_fire_at_their_thresholds(world):
    _, found, _ = run(world, "UPDATE collection_points SET capacity = 0.52 WHERE code = 'CP2'")
    assert rules(found).get("near_capacity") == {"CP2"}
    _, found, _ = run(world, "UPDATE collection_points SET capacity = 0.4 WHERE code = 'CP2'")
    over = [f for f in found if f.rule == "over_capacity"]
    assert [(f.code, f.severity) for f in over] == [("CP2", "error")]
    assert over[0].numbers["utilisation"] == pytest.approx(1.25)
    _, found, _ = run(world, "UPDATE collection_points SET capacity = NULL WHERE code = 'CP2'")
    assert rules(found).get("no_capacity") == {"CP2"}
    _, found, _ = run(world, "UPDATE collection_points SET capacity = 0.6 WHERE code = 'CP2'")
    assert "near_capacity" not in rules(found) and "over_capacity" not in rules(found)


def test_link_longer_than_the_collection_radius_is_a_warning(world):
    _, found, _ = run(world, params=ChainParameters(max_village_collection_m=100))
    _, _, v1_cp1 = GEOD.inv(*AT["V1"], *AT["CP1"])
    _, _, v2_cp2 = GEOD.inv(*AT["V2"], *AT["CP2"])
    long = {f.code: f for f in found if f.rule == "link_too_long"}
    assert min(v1_cp1, v2_cp2) > 100
    assert set(long) == {"V1", "V2"}
    assert long["V1"].numbers["length_m"] == pytest.approx(v1_cp1, abs=0.01)
    _, found, _ = run(world)  # default 3 km: these short links pass
    assert "link_too_long" not in rules(found)


def test_station_passing_waste_nowhere_and_unfed_station_are_reported(world):
    def unlink_s1_and_add_an_empty_station(conn: Connection) -> None:
        conn.execute(text("DELETE FROM chain_links WHERE source_transfer_station_id = 1"))
        worlds.facility(conn, "transfer_stations", "S2", AT["S1"], name="空站", capacity=10)

    _, found, _ = run(world, unlink_s1_and_add_an_empty_station)
    got = rules(found)
    assert got["no_downstream"] == {"S1"}
    assert got["facility_unfed"] == {"S2", "P1", "CP3"}


def test_indicators_count_only_villages_connected_through_operational_facilities(world):
    _, _, figures = run(world)
    city = figures["city"]
    assert (city["villages"], city["villages_waste_connected"], city["population_waste_connected"]) == (
        3,
        2,
        1500,
    )
    assert city["toilets_rebuilt"] == 500 and city["toilet_share"] == pytest.approx(500 / 680)
    assert city["large_farms"] == 2 and city["large_farms_connected"] == 2
    assert city["manure_pig_equivalents"] == pytest.approx(360 + 1500)
    _, _, figures = run(world, "UPDATE transfer_stations SET status = 'suspended' WHERE code = 'S1'")
    assert figures["city"]["villages_waste_connected"] == 0


def test_assignment_dry_run_proposes_nearest_and_writes_nothing(world):
    with world.connect() as conn, conn.begin():
        flows.compute(conn)
        proposals, unassigned = assignment.propose(conn, "domestic_waste")
    got = [(p.source_code, p.target_code) for p in proposals]
    assert got == [("V3", "CP3"), ("CP3", "S1")]
    _, _, expected = GEOD.inv(*AT["V3"], *AT["CP3"])
    assert proposals[0].distance_m == pytest.approx(expected, abs=0.01)
    assert proposals[0].amount_t_per_day == pytest.approx(0.08)
    assert unassigned == []
    with world.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM chain_links")).scalar() == 11


def test_assignment_respecting_capacity_skips_a_full_point_and_apply_writes(world):
    with world.connect() as conn, conn.begin():
        flows.compute(conn)
        proposals, _ = assignment.propose(conn, "domestic_waste", respect_capacity=True)
        # CP3 holds 0.05 t/day, V3 sends 0.08: the next nearest point with room is chosen
        d1 = GEOD.inv(*AT["V3"], *AT["CP1"])[2]
        d2 = GEOD.inv(*AT["V3"], *AT["CP2"])[2]
        nearest_with_room = "CP1" if d1 < d2 else "CP2"
        assert (proposals[0].source_code, proposals[0].target_code) == ("V3", nearest_with_room)
        assert assignment.apply(conn, proposals[:1]) == 1
    _, found, _ = run(world)
    assert "source_unconnected" not in rules(found)


def test_assignment_reports_sources_with_no_facility_to_attach_to(world):
    with world.connect() as conn, conn.begin():
        conn.execute(text("UPDATE collection_points SET status = 'closed'"))
        flows.compute(conn)
        proposals, unassigned = assignment.propose(conn, "domestic_waste")
        conn.rollback()
    assert proposals == []
    assert [(u.source_code, u.reason) for u in unassigned] == [
        ("V3", "no operational collection_points to attach to")
    ]


def test_what_the_whole_computation_sets_aside_equals_what_the_rules_look_for(world):
    """flows.compute() leaves the unconnected sources, the unfed facilities and the stuck streams in
    tables of their own (D122, D123); the rules' own queries, which the stored chain uses, must agree."""

    def messy(conn: Connection) -> None:
        conn.execute(text("DELETE FROM chain_links WHERE source_transfer_station_id = 1"))
        s2 = worlds.facility(conn, "transfer_stations", "S2", AT["S1"], name="空站", capacity=10)
        plant = conn.execute(text("SELECT id FROM treatment_plants WHERE code = 'P1'")).scalar_one()
        worlds.link(conn, "domestic_waste", ("transfer_stations", s2), ("treatment_plants", plant))  # P1 fed
        conn.execute(text("UPDATE livestock_farms SET status = 'closed' WHERE code = 'F1'"))  # linked, no t
        conn.execute(  # V2's sludge: unlinked, but it generates nothing either
            text(
                "DELETE FROM chain_links WHERE stream = 'fecal_sludge' "
                "AND source_village_id = (SELECT id FROM villages WHERE code = 'V2')"
            )
        )
        conn.execute(text("UPDATE villages SET toilets_rebuilt = 0 WHERE code = 'V2'"))
        # Neither stuck nor unfed: a point that receives nothing from its empty village (a row of 0
        # in the inflow, no link onward), and a centre that keeps all it receives (D123).
        v0 = worlds.village(conn, "V0", AT["V1"], 0, 0)
        cp0 = worlds.facility(conn, "collection_points", "CP0", AT["CP1"], name="空点", village_id=v0)
        worlds.link(conn, "domestic_waste", ("villages", v0), ("collection_points", cp0))
        m2 = worlds.facility(
            conn, "manure_centers", "M2", AT["M1"], name="自用中心", capacity=100, forwarded_share=0
        )
        f3 = worlds.farm(conn, "F3", AT["F1"], "pig", 100, name="三号猪场")
        worlds.link(conn, "manure", ("livestock_farms", f3), ("manure_centers", m2))
        # a kind of link that breaks a stage rule, from a source (the kinds are set aside too: D123)
        v1 = conn.execute(text("SELECT id FROM villages WHERE code = 'V1'")).scalar_one()
        worlds.link(conn, "manure", ("villages", v1), ("manure_centers", m2))

    with world.connect() as conn, conn.begin():
        messy(conn)
        flows.compute(conn)
        set_aside = integrity.check(conn)
        for table in ("chain_unconnected", "chain_unfed", "chain_stuck", "chain_link_kind"):
            conn.execute(text(f"DROP TABLE pg_temp.{table}"))
        sought = integrity.check(conn)
        conn.rollback()
    assert set_aside == sought
    assert rules(set_aside) == {
        "source_unconnected": {"V3"},
        "no_downstream": {"S1"},
        "facility_unfed": {"S2", "CP3"},  # P1 is fed, if with nothing: S2 has no inflow to pass on
        "wrong_stream": {"V1"},
    }
    unconnected = next(f for f in set_aside if f.rule == "source_unconnected")
    assert unconnected.numbers["t_per_day"] == pytest.approx(WASTE["V3"])


def test_link_steps_read_kind_by_kind_are_every_link_with_its_out_degree_and_share(world):
    """The whole chain reads its steps in fifteen ranges of (stream, source layer) (D123); the same
    rows, out-degrees and shares as one window over all links, links of unusual kinds included."""
    with world.connect() as conn, conn.begin():
        ids = {
            code: conn.execute(text(f"SELECT id FROM {layer} WHERE code = :c"), {"c": code}).scalar_one()
            for layer, code in (
                ("villages", "V1"),
                ("manure_centers", "M1"),
                ("collection_points", "CP1"),
                ("treatment_plants", "P1"),
            )
        }
        worlds.link(conn, "manure", ("villages", ids["V1"]), ("manure_centers", ids["M1"]))  # wrong stream
        worlds.link(
            conn, "domestic_waste", ("collection_points", ids["CP1"]), ("treatment_plants", ids["P1"])
        )
        conn.execute(text("CREATE TEMP TABLE every_node ON COMMIT DROP AS SELECT layer, id FROM chain_node"))
        by_kind = conn.execute(text(f"{flows.link_step_select()} ORDER BY 1")).all()
        one_window = conn.execute(text(f"{flows.link_step_select('every_node')} ORDER BY 1")).all()
        links = conn.execute(text("SELECT count(*) FROM chain_links")).scalar_one()
        conn.rollback()
    assert by_kind == one_window and len(by_kind) == links == 13
    shares = {(r.stream, r.source_layer): r.share for r in by_kind if r.source_layer == "manure_centers"}
    assert shares == {("fecal_sludge", "manure_centers"): 0.5, ("manure", "manure_centers"): 0.5}
    degree = {(r.stream, r.source_layer, r.source_id): r.n for r in by_kind}
    assert degree[("domestic_waste", "collection_points", ids["CP1"])] == 2  # to S1 and to P1
    assert degree[("manure", "villages", ids["V1"])] == degree[("domestic_waste", "villages", ids["V1"])] == 1


def test_stage_rules_follow_from_the_kind_of_link_alone():
    waste = "domestic_waste"
    assert integrity._stage_rule(waste, "villages", "collection_points") is None
    assert integrity._stage_rule(waste, "villages", "transfer_stations") == "stage_skip"
    assert integrity._stage_rule("manure", "livestock_farms", "biogas_centers") is None  # allowed skip
    assert integrity._stage_rule(waste, "transfer_stations", "collection_points") == "stage_reverse"
    assert integrity._stage_rule(waste, "collection_points", "manure_centers") == "wrong_stream"


def test_a_cycle_is_only_looked_for_when_a_link_goes_back_because_every_layer_has_one_stage():
    assert integrity.CYCLE_NEEDS_A_BACKWARD_LINK  # each layer has the same stage in all its streams
    # Were a layer earlier in one stream and later in another, forward links alone could close a loop.
    crossed = {"a": {"x": 0, "y": 1}, "b": {"y": 0, "x": 1}}
    assert not integrity._layers_ranked_alike(crossed)


def test_the_computations_tables_are_analysed_and_the_statistics_target_comes_back(world):
    with world.connect() as conn, conn.begin():
        conn.execute(text("SET LOCAL default_statistics_target = 123"))
        flows.compute(conn)
        assert conn.execute(text("SHOW default_statistics_target")).scalar_one() == "123"
        analysed = conn.execute(
            text(
                "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.oid = pg_my_temp_schema() AND c.relkind = 'r' AND c.reltuples > 0"
            )
        ).scalars()
        # the steps, flows and facilities are views over these (D123, D124)
        tables = {
            "chain_source_hop",
            "chain_facility_step",
            "chain_onward_flow",
            "chain_facility_load",
            "chain_facility_inflow",
        }
        assert tables <= set(analysed)
        conn.rollback()


def test_the_whole_chain_leaves_nothing_behind_once_its_transaction_commits(world):
    """The whole chain's generation is a view (D124): it must go with the transaction like the
    tables, or the pooled connection's next request would read it instead of the stored chain."""
    with world.connect() as conn:
        with conn.begin():
            flows.compute(conn, ChainParameters(waste_kg_per_person_day=1.2))
            names = {"names": ["chain_generation"]}
            kinds = dict(conn.execute(text(flows.TEMPORARY_RELATIONS_SQL), names).all())
            assert kinds == {"chain_generation": "v"}
            generated = conn.execute(text("SELECT sum(t_per_day) FROM chain_generation")).scalar_one()
            assert generated > 0
        temporary = "SELECT relname FROM pg_class WHERE relnamespace = pg_my_temp_schema()"
        left = conn.execute(text(f"{temporary} AND relname ~ '^chain'")).all()
        assert left == []
        found = conn.execute(text("SELECT to_regclass('chain_generation')::text")).scalar_one()
        assert found == "chain_generation"  # the stored table, not a temporary one


def test_the_facilities_view_adds_each_streams_inflow_as_the_links_flows_sum_it(world):
    """The whole chain's `chain_facility` is a view adding the inflow by stream as JSON (D124): the
    same rows, in the stored table's columns, as summing every link's flow per facility and stream,
    a facility fed two streams (M1) and one fed nothing (CP3, its village unlinked) included."""
    with world.connect() as conn, conn.begin():
        flows.compute(conn)
        viewed = conn.execute(text("SELECT * FROM chain_facility ORDER BY layer, id")).mappings().all()
        summed = conn.execute(text(f"{flows.facility_select()} ORDER BY layer, id")).mappings().all()
        conn.rollback()
    columns = list(viewed[0].keys())
    assert columns == list(summed[0].keys())
    assert columns[-3:] == ["inflow_t_per_day", "inflow_by_stream", "utilisation"]
    assert [(r["layer"], r["id"]) for r in viewed] == [(r["layer"], r["id"]) for r in summed]
    for ours, theirs in zip(viewed, summed, strict=True):
        assert ours["inflow_by_stream"] == pytest.approx(theirs["inflow_by_stream"])
        assert ours["inflow_t_per_day"] == pytest.approx(theirs["inflow_t_per_day"])
        assert ours["code"] == theirs["code"] and ours["utilisation"] == pytest.approx(theirs["utilisation"])
    by_code = {r["code"]: r for r in viewed}
    assert by_code["M1"]["inflow_by_stream"] == pytest.approx(
        {"fecal_sludge": SLUDGE["V1"] + SLUDGE["V2"], "manure": MANURE["F1"]}
    )
    assert by_code["CP3"]["inflow_by_stream"] == {} and by_code["CP3"]["inflow_t_per_day"] == 0


def test_farm_coefficients_written_per_species_equal_the_species_table_joined(world):
    """`FARM_MEASURE_SELECT` writes each species' coefficients into the SQL instead of joining the
    species table (D124): every species, both head-count bases, equal to the bit."""
    joined = f"""
        SELECT f.id, f.town_id, f.status, f.head_count, k.manure_kg, k.wastewater_l, k.pig_eq,
               {livestock.head_on_hand_sql()} AS head_on_hand
        FROM livestock_farms f JOIN ({livestock.SPECIES_SQL}) k ON k.species = f.species"""
    with world.connect() as conn, conn.begin():
        for n, species in enumerate(livestock.MANURE_KG_PER_HEAD_DAY):
            worlds.farm(conn, f"FS{n}", (119.4 + n / 100, 36.0), species, 1000 + 37 * n)
        written = conn.execute(text(f"{livestock.FARM_MEASURE_SELECT} ORDER BY 1")).all()
        expected = conn.execute(text(f"{joined} ORDER BY 1"), {"species": livestock.species_json()}).all()
        bases = set(conn.execute(text("SELECT DISTINCT head_count_basis FROM livestock_farms")).scalars())
        conn.rollback()
    assert bases == {"sold_per_year", "on_hand"}
    assert len(written) == 8 and written == expected


def test_no_line_is_longer_on_the_ellipsoid_than_its_degrees_times_the_bound(world):
    """The long-link rule skips the geodesic length of links whose planar length in degrees already
    keeps them within the limit; that needs this bound to hold everywhere, poles and equator too."""
    lines = [
        "LINESTRING(119 36, 119.03 36.02)",  # Zhucheng, a typical village link
        "LINESTRING(0 -0.5, 0 0.5)",  # along the equator's meridian
        "LINESTRING(-0.5 0, 0.5 0)",  # along the equator
        "LINESTRING(10 89.0, 10 89.9)",  # a meridian near the pole, where a degree is longest
        "LINESTRING(100 -60, 101 -60.5, 102 -61)",  # several segments
    ]
    with world.connect() as conn:
        for wkt in lines:
            planar, geodesic = conn.execute(
                text(
                    "SELECT ST_Length(g), ST_Length(g::geography) "
                    "FROM (SELECT ST_GeomFromText(:wkt, 4326) AS g) x"
                ),
                {"wkt": wkt},
            ).one()
            assert geodesic <= planar * integrity.METRES_PER_DEGREE_AT_MOST, wkt
            assert geodesic >= planar * integrity.METRES_PER_DEGREE_AT_MOST * 0.5, wkt  # not a loose bound
