"""The README's siting examples run as written against a real service over the demo, and the p-median's
answer is checked against the demo's villages: every village assigned, each within reach, the loads within
capacity, and the objective recomputed from the returned figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from service.db import make_engine
from tests.accounts import role_token
from tests.readme_examples import readme, run_section, section_blocks

SECTION = "## Planning: siting"


def test_the_siting_examples_of_the_readme_run_and_return_solutions(empty_database_url, tmp_path: Path):
    blocks = section_blocks(readme(), SECTION)
    assert len(blocks) == 1 and "p_median" in blocks[0]
    engine = make_engine(empty_database_url)
    token = role_token(engine, "planner")
    done = run_section(empty_database_url, SECTION, tmp_path, env={"TOKEN": token}, timeout=300)
    assert done.returncode == 0, (done.returncode, done.stderr, done.stdout)
    result = json.loads((tmp_path / "p-median.json").read_text())
    with engine.connect() as conn:
        villages = conn.execute(text("SELECT count(*) FROM villages")).scalar_one()
        people = conn.execute(text("SELECT sum(population) FROM villages")).scalar_one()
    engine.dispose()
    assert result["status"] in ("optimal", "feasible")
    assert len(result["sites"]) == 25 and result["reach_cut"]["cut_off_m"] < 8000
    demand = result["demand"]
    assert demand["points"] == villages and demand["total"] == people
    # every village within 8 km of some grid point is assigned, to one site
    assert sum(s["demand_points"] for s in result["sites"]) == demand["in_model"]
    assert demand["in_model"] == villages - demand["out_of_reach_points"]
    loads = [s["assigned_t_per_day"] for s in result["sites"]]
    assert all(load <= 30 + 1e-6 for load in loads)
    assert sum(loads) == pytest.approx(demand["total_t_per_day"] - demand["out_of_reach_t_per_day"])
    assert all(s["max_distance_m"] <= 8000 for s in result["sites"])
    # Σ t·d over the sites = the objective (mean distance is t-weighted)
    recomputed = sum(s["assigned_t_per_day"] * s["mean_distance_m"] / 1000 for s in result["sites"])
    assert result["objective"]["value"] == pytest.approx(recomputed, rel=1e-6)
    assert result["problem"]["variables"] <= 13_000
    assert '"optimal"' in done.stdout or '"feasible"' in done.stdout


def test_an_infeasible_demo_p_median_names_the_distance_and_how_many_villages_k_sites_reach(demo_engine):
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from tests.accounts import role_headers

    with TestClient(create_app(demo_engine), headers=role_headers(demo_engine, "planner")) as client:
        response = client.post(
            "/planning/siting",
            json={"layer": "transfer_stations", "model": "p_median", "k": 10, "distance_m": 10000,
                  "capacity_t_per_day": 40, "candidates": {"source": "grid", "spacing_m": 4000}},
        )  # fmt: skip
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["parameter"] == "distance_m"
    assert "no 10 site(s) reach every demand point within 10,000 m: at most " in problem["detail"]
    assert "of 1,249 can be reached" in problem["detail"] and "limited to 7,827 m" in problem["detail"]
