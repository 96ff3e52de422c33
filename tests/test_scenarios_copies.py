"""What-ifs on copies: the same answers as when scenarios wrote to the inventory, and no row is written or
locked, so real writers and other scenarios run alongside."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from service.planning import scenarios as sc
from tests.scenario_answers import DEMO_SCENARIOS, digest

ANSWERS = json.loads((Path(__file__).parent / "data" / "scenario_answers.json").read_text(encoding="utf-8"))
TS_SCENARIO = "transfer stations: close one, shrink one, add one"


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("name", list(DEMO_SCENARIOS))
def test_demo_scenarios_give_the_answers_recorded_when_they_wrote_to_the_inventory(demo_engine, name):
    assert _json(digest(sc.play(demo_engine, DEMO_SCENARIOS[name]))) == ANSWERS[name]


def _play_in_thread(engine: Engine, scenario: sc.Scenario) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        started = time.perf_counter()
        try:
            out["result"] = sc.play(engine, scenario)
        except Exception as exc:  # reported by the assertions below
            out["error"] = exc
        out["seconds"] = time.perf_counter() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_a_scenario_finishes_while_another_transaction_holds_row_locks_on_what_it_changes(demo_engine):
    scenario = DEMO_SCENARIOS[TS_SCENARIO]
    codes = [*scenario.remove, *scenario.capacity]
    with demo_engine.connect() as writer:
        writer.begin()
        locked = writer.execute(
            text("SELECT count(*) FROM (SELECT 1 FROM transfer_stations WHERE code = ANY(:c) FOR UPDATE) x"),
            {"c": codes},
        ).scalar_one()
        links = writer.execute(
            text("SELECT count(*) FROM (SELECT 1 FROM chain_links FOR UPDATE) x")
        ).scalar_one()
        assert locked == 2 and links > 4000
        thread, out = _play_in_thread(demo_engine, scenario)
        thread.join(timeout=20)
        finished_under_lock = not thread.is_alive()
        writer.rollback()
    thread.join(timeout=20)
    assert finished_under_lock, "the scenario waited for the row locks of another transaction"
    assert "error" not in out, out.get("error")
    assert _json(digest(out["result"])) == ANSWERS[TS_SCENARIO]


def test_a_scenario_spends_no_id_of_the_inventory_on_its_hypothetical_sites_and_links(demo_engine):
    def last_ids() -> list[Any]:
        with demo_engine.connect() as conn:
            return [
                conn.execute(
                    text("SELECT last_value FROM pg_sequences WHERE sequencename = :s"),
                    {"s": f"{table}_id_seq"},
                ).scalar_one()
                for table in ("transfer_stations", "chain_links")
            ]

    before = last_ids()
    result = sc.play(demo_engine, DEMO_SCENARIOS[TS_SCENARIO])
    assert [f["code"] for f in result["chain"]["facilities"] if f["hypothetical"]] == ["TS-NEW"]
    # an INSERT into the real tables would have drawn from their sequences, rollback or not
    assert last_ids() == before
    with demo_engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM transfer_stations WHERE code = 'TS-NEW'")).scalar() == 0
        )


def test_three_concurrent_scenarios_never_wait_on_locks_and_each_takes_about_one_scenarios_time(
    demo_engine,
):
    scenario = DEMO_SCENARIOS[TS_SCENARIO]
    sc.play(demo_engine, scenario)  # warm caches
    started = time.perf_counter()
    sc.play(demo_engine, scenario)
    alone = time.perf_counter() - started
    runs = [_play_in_thread(demo_engine, scenario) for _ in range(3)]
    waits: list[tuple[str, str, str]] = []  # (wait event, backend type, query) of each waiting sample
    with demo_engine.connect() as watcher:
        while any(thread.is_alive() for thread, _ in runs):
            waits += [
                (row[0], row[1], row[2])
                for row in watcher.execute(
                    text(
                        "SELECT wait_event, backend_type, left(query, 200) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )
            ]
            time.sleep(0.02)
    for thread, out in runs:
        thread.join()
        assert "error" not in out, out.get("error")
        assert _json(digest(out["result"])) == ANSWERS[TS_SCENARIO]
    assert waits == [], waits  # who waited, on what: a lock here means the scenarios share something
    # queued behind one another (as with row locks) the last would take three times as long; two cores
    # shared by three scenarios make each at most about 1.5 times slower
    slowest = max(out["seconds"] for _, out in runs)
    assert slowest < 2.5 * alone + 0.5, (alone, [out["seconds"] for _, out in runs])
