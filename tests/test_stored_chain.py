"""The stored chain (D113): updated in place by each change, it must always equal a full computation."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from service.api.app import create_app
from service.chain import flows, stored
from service.chain.computation import computed
from service.chain.parameters import ChainParameters
from service.config import forget_settings
from tests.accounts import role_headers
from tests.conftest import demo_copy_engine

# What each stored table is compared on, keyed as the full computation keys it.
COMPARED = {
    "chain_generation": (
        ("stream", "layer", "id"), ("town_id", "t_per_day", "pig_equivalents", "wastewater_m3_per_day"),
    ),
    "chain_link_step": (
        ("id",), ("stream", "source_layer", "source_id", "target_layer", "target_id", "n", "share"),
    ),
    "chain_link_flow": (("link_id",), ("stream", "flow_t_per_day")),
    "chain_facility": (
        ("layer", "id"),
        ("code", "name", "status", "capacity", "capacity_unit", "town_id",
         "inflow_t_per_day", "inflow_by_stream", "utilisation"),
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def demo(pg_server: Any, migrated_template: str) -> Iterator[Engine]:
    with demo_copy_engine(pg_server, migrated_template, "stored_chain") as engine:
        yield engine


def _rows(conn: Connection, schema: str, table: str) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    key, values = COMPARED[table]
    rows = conn.execute(text(f"SELECT {', '.join(key + values)} FROM {schema}.{table}")).all()
    return {tuple(r[: len(key)]): tuple(r[len(key) :]) for r in rows}


def _same(a: Any, b: Any) -> bool:
    # a jsonb figure reads back as an int when it happens to be whole
    if all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b)):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def differences(engine: Engine) -> dict[str, list[Any]]:
    """Stored tables against a full computation of the same inventory, table by table."""
    found: dict[str, list[Any]] = {}
    with engine.connect() as conn, conn.begin():
        kept = {table: _rows(conn, "public", table) for table in COMPARED}
        flows.compute(conn)
        for table in COMPARED:
            ours, full = kept[table], _rows(conn, "pg_temp", table)
            wrong = [
                (k, ours.get(k), full.get(k))
                for k in ours.keys() | full.keys()
                if k not in ours or k not in full or not all(map(_same, ours[k], full[k]))
            ]
            if wrong:
                found[table] = sorted(wrong, key=repr)[:5]
        conn.rollback()
    return found


def _pick(conn: Connection, rng: random.Random, sql: str) -> Any:
    ids = conn.execute(text(sql)).scalars().all()
    return rng.choice(ids) if ids else None


Edit = Callable[[Connection, random.Random], None]


def _village_people(conn: Connection, rng: random.Random) -> None:
    v = _pick(conn, rng, "SELECT id FROM villages")
    conn.execute(
        text(
            "UPDATE villages SET population = :p, toilets_rebuilt = least(toilets_rebuilt, households) "
            "WHERE id = :v"
        ),
        {"p": rng.randint(0, 4000), "v": v},
    )


def _village_rate(conn: Connection, rng: random.Random) -> None:
    v = _pick(conn, rng, "SELECT id FROM villages")
    rate = rng.choice([None, 0.6, 1.1])
    conn.execute(
        text("UPDATE villages SET waste_rate_kg_per_person_day = :r WHERE id = :v"), {"r": rate, "v": v}
    )


def _village_town(conn: Connection, rng: random.Random) -> None:
    v = _pick(
        conn,
        rng,
        "SELECT id FROM villages v WHERE NOT EXISTS "
        "(SELECT FROM collection_points c WHERE c.village_id = v.id)",
    )
    c = _pick(conn, rng, "SELECT id FROM communities WHERE kind = 'rural'")
    conn.execute(
        text(
            "UPDATE villages SET (town_id, community_id) = "
            "(SELECT town_id, id FROM communities WHERE id = :c) WHERE id = :v"
        ),
        {"c": c, "v": v},
    )


def _farm_herd(conn: Connection, rng: random.Random) -> None:
    f = _pick(conn, rng, "SELECT id FROM livestock_farms")
    conn.execute(
        text("UPDATE livestock_farms SET head_count = :n WHERE id = :f"), {"n": rng.randint(1, 20000), "f": f}
    )


def _farm_status(conn: Connection, rng: random.Random) -> None:
    f = _pick(conn, rng, "SELECT id FROM livestock_farms WHERE status IN ('operational', 'suspended')")
    conn.execute(
        text(
            "UPDATE livestock_farms SET status = CASE status WHEN 'operational' THEN 'suspended' "
            "ELSE 'operational' END WHERE id = :f"
        ),
        {"f": f},
    )


def _share(conn: Connection, rng: random.Random) -> None:
    m = _pick(conn, rng, "SELECT id FROM manure_centers")
    conn.execute(
        text("UPDATE manure_centers SET forwarded_share = :s WHERE id = :m"),
        {"s": rng.choice([0, 0.25, 1]), "m": m},
    )


def _capacity(conn: Connection, rng: random.Random) -> None:
    s = _pick(conn, rng, "SELECT id FROM transfer_stations")
    conn.execute(
        text("UPDATE transfer_stations SET capacity = :c WHERE id = :s"),
        {"c": rng.choice([5, 50, 500]), "s": s},
    )


def _retarget(conn: Connection, rng: random.Random) -> None:
    link = _pick(conn, rng, "SELECT id FROM chain_links WHERE target_transfer_station_id IS NOT NULL")
    s = _pick(conn, rng, "SELECT id FROM transfer_stations")
    conn.execute(
        text("UPDATE chain_links SET target_transfer_station_id = :s WHERE id = :l"), {"s": s, "l": link}
    )


def _unlink(conn: Connection, rng: random.Random) -> None:
    link = _pick(conn, rng, "SELECT id FROM chain_links")
    conn.execute(text("DELETE FROM chain_links WHERE id = :l"), {"l": link})


def _second_collection_point(conn: Connection, rng: random.Random) -> None:
    """A village split over two collection points: every outgoing share of it changes."""
    v = _pick(conn, rng, "SELECT id FROM villages")
    c = _pick(conn, rng, "SELECT id FROM collection_points")
    conn.execute(
        text(
            "INSERT INTO chain_links (stream, source_village_id, target_collection_point_id) "
            "VALUES ('domestic_waste', :v, :c) ON CONFLICT DO NOTHING"
        ),
        {"v": v, "c": c},
    )


def _new_village(conn: Connection, rng: random.Random) -> None:
    cp = _pick(conn, rng, "SELECT id FROM collection_points")
    village = conn.execute(
        text(
            """INSERT INTO villages
                   (code, name, town_id, community_id, population, households, toilets_rebuilt, geom)
               SELECT 'NEW-' || :n, 'New village', m.town_id, m.id, :p, 100, 50,
                      ST_Translate(c.geom, 0.002, 0.002)
               FROM collection_points c JOIN communities m ON m.town_id = c.town_id
               WHERE c.id = :c ORDER BY m.id LIMIT 1 RETURNING id"""
        ),
        {"p": rng.randint(50, 2000), "c": cp, "n": rng.randrange(10**9)},
    ).scalar_one()
    conn.execute(
        text(
            "INSERT INTO chain_links (stream, source_village_id, target_collection_point_id) "
            "VALUES ('domestic_waste', :v, :c)"
        ),
        {"v": village, "c": cp},
    )


def _loop(conn: Connection, rng: random.Random) -> None:
    """A transfer station sending back to a collection point: a cycle the walk must not follow twice."""
    s = _pick(
        conn,
        rng,
        "SELECT target_transfer_station_id FROM chain_links WHERE source_collection_point_id IS NOT NULL",
    )
    c = _pick(conn, rng, "SELECT id FROM collection_points")
    conn.execute(
        text(
            "INSERT INTO chain_links (stream, source_transfer_station_id, target_collection_point_id) "
            "VALUES ('domestic_waste', :s, :c) ON CONFLICT DO NOTHING"
        ),
        {"s": s, "c": c},
    )


def _close_point(conn: Connection, rng: random.Random) -> None:
    c = _pick(conn, rng, "SELECT id FROM collection_points")
    conn.execute(
        text(
            "DELETE FROM chain_links WHERE source_collection_point_id = :c OR target_collection_point_id = :c"
        ),
        {"c": c},
    )
    conn.execute(text("DELETE FROM collection_points WHERE id = :c"), {"c": c})


def _move_station(conn: Connection, rng: random.Random) -> None:
    s = _pick(conn, rng, "SELECT id FROM transfer_stations")
    conn.execute(
        text("UPDATE transfer_stations SET geom = ST_Translate(geom, 0.001, 0) WHERE id = :s"), {"s": s}
    )


EDITS: list[Edit] = [
    _village_people, _village_rate, _village_town, _farm_herd, _farm_status, _share, _capacity,
    _retarget, _unlink, _second_collection_point, _new_village, _loop, _close_point, _move_station,
]  # fmt: skip


def _one_edit(engine: Engine, rng: random.Random, settle: bool) -> str:
    """One random edit in its own transaction; settled there (as a writer does) or left noted."""
    edit = rng.choice(EDITS)
    with engine.connect() as conn, conn.begin():
        savepoint = conn.begin_nested()
        try:
            edit(conn, rng)
        except DBAPIError as refused:  # a constraint refused this random edit: nothing to fold in
            savepoint.rollback()
            return f"{edit.__name__} (refused: {str(refused.orig).splitlines()[0]})"
        savepoint.commit()
        if settle:
            stored.settle(conn)
    return edit.__name__


def _bring_current(engine: Engine) -> None:
    with engine.connect() as conn, conn.begin():
        stored.make_current(conn)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_stored_chain_equals_a_full_computation_after_random_edit_sequences(demo: Engine, seed: int) -> None:
    rng = random.Random(seed)
    _bring_current(demo)
    assert differences(demo) == {}
    done = []
    for step in range(30):
        # Mostly settled by the writer; now and then a few edits pile up for the next reader.
        done.append(_one_edit(demo, rng, settle=rng.random() < 0.7))
        if step % 3 == 2:
            _bring_current(demo)
            assert differences(demo) == {}, done
    _bring_current(demo)
    assert differences(demo) == {}, done
    assert len([d for d in done if "refused" not in d]) >= 20, done  # the sequence really edited
    print(seed, done)


def test_an_edit_moves_the_stored_chain_in_its_own_transaction(demo: Engine) -> None:
    _bring_current(demo)
    with demo.connect() as conn, conn.begin():
        village, link, before = conn.execute(
            text(
                """SELECT v.id, l.id, f.flow_t_per_day FROM villages v
                   JOIN chain_links l ON l.source_village_id = v.id AND l.stream = 'domestic_waste'
                   JOIN chain_link_flow f ON f.link_id = l.id
                   WHERE v.population > 0 AND v.waste_rate_kg_per_person_day IS NULL
                   AND (SELECT count(*) FROM chain_links o WHERE o.source_village_id = v.id
                        AND o.stream = 'domestic_waste') = 1
                   ORDER BY v.id LIMIT 1"""
            )
        ).one()
        conn.execute(text("UPDATE villages SET population = population + 1000 WHERE id = :v"), {"v": village})
        stored.settle(conn)
        assert conn.execute(text("SELECT count(*) FROM chain_pending")).scalar_one() == 0
        after = conn.execute(
            text("SELECT flow_t_per_day FROM chain_link_flow WHERE link_id = :l"), {"l": link}
        ).scalar_one()
        conn.rollback()  # the whole edit goes, the stored chain with it
    assert after == pytest.approx(before + 1000 * 0.4 / 1000)
    with demo.connect() as conn:
        assert conn.execute(
            text("SELECT flow_t_per_day FROM chain_link_flow WHERE link_id = :l"), {"l": link}
        ).scalar_one() == pytest.approx(before)
    assert differences(demo) == {}


def test_a_write_made_outside_the_service_is_folded_in_by_the_next_reader(demo: Engine) -> None:
    _bring_current(demo)
    with demo.begin() as conn:  # as psql would: no settle
        conn.execute(
            text(
                "UPDATE livestock_farms SET head_count = head_count * 2 "
                "WHERE id = (SELECT min(id) FROM livestock_farms)"
            )
        )
        assert conn.execute(text("SELECT count(*) FROM chain_pending")).scalar_one() == 1
    with computed(demo) as conn:
        assert conn.execute(text("SELECT count(*) FROM chain_pending")).scalar_one() == 0
    assert differences(demo) == {}


def test_a_statement_too_big_to_note_marks_the_chain_stale_and_the_next_reader_recomputes_it(
    demo: Engine,
) -> None:
    _bring_current(demo)
    with demo.begin() as conn:
        conn.execute(
            text(
                """INSERT INTO livestock_farms
                       (code, name, town_id, species, head_count, status, capacity_unit, geom)
                   SELECT 'X' || g, 'bulk farm ' || g, f.town_id, f.species, 100, 'operational',
                          f.capacity_unit, f.geom
                   FROM generate_series(1, :n) g, (SELECT * FROM livestock_farms ORDER BY id LIMIT 1) f"""
            ),
            {"n": 20_001},
        )
        assert conn.execute(text("SELECT stale FROM chain_state")).scalar_one() is True
        assert conn.execute(text("SELECT count(*) FROM chain_pending")).scalar_one() == 0
    with computed(demo) as conn:
        assert conn.execute(text("SELECT stale FROM chain_state")).scalar_one() is False
        generated = conn.execute(
            text(
                "SELECT count(*) FROM chain_generation WHERE layer = 'livestock_farms' "
                "AND id IN (SELECT id FROM livestock_farms WHERE code LIKE 'X%')"
            )
        ).scalar_one()
    assert generated == 20_001
    assert differences(demo) == {}


def test_other_parameters_get_their_own_computation_and_leave_the_stored_chain_alone(demo: Engine) -> None:
    _bring_current(demo)
    other = ChainParameters(waste_kg_per_person_day=0.8)
    assert not stored.serves(other) and stored.serves(ChainParameters()) and stored.serves(None)
    with demo.connect() as conn:
        city = conn.execute(
            text("SELECT sum(t_per_day) FROM chain_generation WHERE stream = 'domestic_waste'")
        ).scalar_one()
    with computed(demo, other) as conn:
        doubled = conn.execute(
            text("SELECT sum(t_per_day) FROM chain_generation WHERE stream = 'domestic_waste'")
        ).scalar_one()
        kept = conn.execute(
            text("SELECT sum(t_per_day) FROM public.chain_generation WHERE stream = 'domestic_waste'")
        ).scalar_one()
    assert kept == pytest.approx(city) and doubled > 1.9 * city  # (villages with a rate of their own keep it)


def test_concurrent_writers_and_readers_leave_the_stored_chain_as_a_full_computation(demo: Engine) -> None:
    """Writers settling in their own transactions while readers bring the chain up to date: the
    advisory lock orders them, nothing deadlocks, and the result is what one computation gives."""
    _bring_current(demo)
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(8):
                _one_edit(demo, rng, settle=rng.random() < 0.8)
        except BaseException as exc:  # reported below, with the thread's seed
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(10):
                with computed(demo) as conn:
                    conn.execute(text("SELECT sum(flow_t_per_day) FROM chain_link_flow")).scalar_one()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in (11, 12, 13)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and not any(t.is_alive() for t in threads)
    _bring_current(demo)
    assert differences(demo) == {}


def test_a_capacity_change_refreshes_its_facility_without_walking_any_source(demo: Engine) -> None:
    _bring_current(demo)
    with demo.connect() as conn, conn.begin():
        station, inflow = conn.execute(
            text(
                "SELECT id, inflow_t_per_day FROM chain_facility WHERE layer = 'transfer_stations' "
                "AND inflow_t_per_day > 0 ORDER BY id LIMIT 1"
            )
        ).one()
        conn.execute(text("UPDATE transfer_stations SET capacity = 200 WHERE id = :s"), {"s": station})
        folded = stored.settle(conn)
        after = conn.execute(
            text(
                "SELECT capacity, utilisation FROM chain_facility "
                "WHERE layer = 'transfer_stations' AND id = :s"
            ),
            {"s": station},
        ).one()
        conn.rollback()
    assert folded == stored.Settled(noted=1, sources=0, links=0)
    assert after.capacity == 200 and after.utilisation == pytest.approx(inflow / 200)


def test_a_patch_through_the_api_commits_the_stored_chain_with_it(demo: Engine) -> None:
    """PATCH a village's population: when the answer arrives, the stored flows already carry it (no
    note left for a reader) and /indicators, reading the stored chain, shows the new tonnes."""
    _bring_current(demo)
    with demo.connect() as conn:
        village, version, before = conn.execute(
            text(
                """SELECT v.id, v.version, g.t_per_day FROM villages v
                   JOIN chain_generation g
                     ON g.layer = 'villages' AND g.id = v.id AND g.stream = 'domestic_waste'
                   WHERE v.waste_rate_kg_per_person_day IS NULL ORDER BY v.id LIMIT 1"""
            )
        ).one()
        city_before = conn.execute(
            text("SELECT sum(t_per_day) FROM chain_generation WHERE stream = 'domestic_waste'")
        ).scalar_one()
    with TestClient(create_app(demo)) as api:
        answer = api.patch(
            f"/collections/villages/items/{village}",
            json={"properties": {"population": 2500}},
            headers={**role_headers(demo, "editor"), "If-Match": f'"{version}"'},
        )
        assert answer.status_code == 200, answer.text
        with demo.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM chain_pending")).scalar_one() == 0
            after = conn.execute(
                text(
                    "SELECT t_per_day FROM chain_generation "
                    "WHERE layer = 'villages' AND id = :v AND stream = 'domestic_waste'"
                ),
                {"v": village},
            ).scalar_one()
        figures = api.get("/indicators", headers={"Accept": "application/json"}).json()
    assert after == pytest.approx(2500 * 0.4 / 1000) and after != pytest.approx(before)
    generated = figures["city"]["waste_generated_t_per_day"]
    assert generated == pytest.approx(city_before - before + after, abs=1e-3)
    assert differences(demo) == {}


def test_a_new_city_rate_recomputes_the_stored_chain_and_no_edit_folds_in_with_the_old_one(
    demo: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _bring_current(demo)
    with demo.connect() as conn:
        city = conn.execute(
            text("SELECT sum(t_per_day) FROM chain_generation WHERE stream = 'domestic_waste'")
        ).scalar_one()
    monkeypatch.setenv("SANICHAIN_WASTE_KG_PER_PERSON_DAY", "0.5")
    forget_settings()
    try:
        with demo.connect() as conn, conn.begin():  # a writer's settle leaves the change to a rebuild
            conn.execute(
                text(
                    "UPDATE villages SET population = population + 1 "
                    "WHERE id = (SELECT min(id) FROM villages)"
                )
            )
            assert stored.settle(conn) == stored.Settled()
        with computed(demo) as conn:
            raised = conn.execute(
                text("SELECT sum(t_per_day) FROM chain_generation WHERE stream = 'domestic_waste'")
            ).scalar_one()
        assert raised > city * 1.1
        assert differences(demo) == {}
    finally:
        monkeypatch.delenv("SANICHAIN_WASTE_KG_PER_PERSON_DAY")
        forget_settings()
    _bring_current(demo)
    assert differences(demo) == {}
