"""Reference for bench/chain_flows.py: the chain's flows and integrity counts in pandas/geopandas.

Runs in its own venv (the anchors' pinned geopandas stack, no sanichain installed):

    /tmp/bench-geo-venv/bin/python bench/chain_flows_pandas.py --url URL --params JSON

It reads the inventory tables (read_postgis for the point layers, read_sql for the links), then does
what `service.chain.flows.compute` and most of `service.chain.integrity.check` do in SQL:

1. generation per source (same coefficients, passed as JSON by the caller);
2. propagation over the links stage by stage (merge + groupby per stage; a source's or facility's
   amount is split evenly over its outgoing links of the stream, manure centres pass on their
   forwarded share);
3. facility inflow and utilisation;
4. geodesic link lengths from the endpoints (pyproj Geod on the WGS84 ellipsoid, like PostGIS
   geography);
5. the integrity rules except `cycle`, as counts.

Prints one JSON line: row counts, totals to compare with the SQL side, findings by rule, phase times.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import argparse  # noqa: E402  (import time is reported on its own, as in the anchors)
import json  # noqa: E402
from typing import Any  # noqa: E402

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from pyproj import Geod  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402

T_IMPORTED = time.perf_counter()

SOURCES = ("villages", "livestock_farms")
FACILITIES = (
    "collection_points",
    "transfer_stations",
    "treatment_plants",
    "manure_centers",
    "biogas_centers",
)
LAYERS = SOURCES + FACILITIES
LAYER_CODE = {layer: i for i, layer in enumerate(LAYERS)}
STREAMS = ("domestic_waste", "fecal_sludge", "manure")
STREAM_CODE = {s: i for i, s in enumerate(STREAMS)}
END_LAYERS = ("treatment_plants", "biogas_centers")
MAX_DEPTH = 16
NODE_SPAN = 2**40  # node key = layer code × 2^40 + id
STREAM_SPAN = 2**44  # stream key = stream code × 2^44 + node key


def node_key(layer: pd.Series, ids: pd.Series) -> pd.Series:
    return layer.map(LAYER_CODE).astype("int64") * NODE_SPAN + ids.astype("int64")


def stream_key(stream: pd.Series, node: pd.Series) -> pd.Series:
    return stream.map(STREAM_CODE).astype("int64") * STREAM_SPAN + node


def load(url: str) -> dict[str, Any]:
    """Every table the computation needs; numeric columns cast to float8 in the query."""
    engine = create_engine(url)
    frames: dict[str, Any] = {}
    with engine.connect() as conn:
        frames["villages"] = gpd.read_postgis(
            "SELECT id, town_id, population, households, toilets_rebuilt,"
            " waste_rate_kg_per_person_day::float8 AS waste_rate, geom FROM villages",
            conn,
            geom_col="geom",
        )
        frames["livestock_farms"] = gpd.read_postgis(
            "SELECT id, town_id, status, species, head_count, head_count_basis, geom FROM livestock_farms",
            conn,
            geom_col="geom",
        )
        for layer in FACILITIES:
            extra = ", forwarded_share::float8 AS forwarded_share" if layer == "manure_centers" else ""
            frames[layer] = gpd.read_postgis(
                f"SELECT id, status, capacity::float8 AS capacity, town_id{extra}, geom FROM {layer}",
                conn,
                geom_col="geom",
            )
        frames["links"] = pd.read_sql(
            "SELECT id, stream, source_layer, source_id, target_layer, target_id FROM chain_links", conn
        )
    engine.dispose()
    return frames


def generation(frames: dict[str, Any], p: dict[str, Any]) -> pd.DataFrame:
    v = frames["villages"]
    rate = v["waste_rate"].fillna(p["waste_kg_per_person_day"])
    waste = pd.DataFrame(
        {"stream": "domestic_waste", "layer": "villages", "id": v["id"], "t": v["population"] * rate / 1000.0}
    )
    persons = np.where(v["households"] > 0, v["population"] / v["households"].where(v["households"] > 0), 0.0)
    sludge = pd.DataFrame(
        {
            "stream": "fecal_sludge",
            "layer": "villages",
            "id": v["id"],
            "t": v["toilets_rebuilt"] * persons * p["excreta_kg_per_person_day"] / 1000.0,
        }
    )
    f = frames["livestock_farms"]
    f = f.loc[f["status"] == "operational", ["id", "species", "head_count", "head_count_basis"]]
    species = pd.DataFrame(p["species"]).set_index("species")
    k = species.loc[f["species"]].reset_index(drop=True)
    f = f.reset_index(drop=True)
    sold = f["head_count_basis"] == "sold_per_year"
    on_hand = np.where(sold, f["head_count"] * k["feeding_days"].fillna(0) / 365.0, f["head_count"])
    manure = pd.DataFrame(
        {
            "stream": "manure",
            "layer": "livestock_farms",
            "id": f["id"],
            "t": on_hand * k["manure_kg"] / 1000.0,
        }
    )
    gen = pd.concat([waste, sludge, manure], ignore_index=True)
    gen["node"] = node_key(gen["layer"], gen["id"])
    gen["skey"] = stream_key(gen["stream"], gen["node"])
    return gen


def prepare_links(frames: dict[str, Any]) -> pd.DataFrame:
    links = frames["links"]
    links["src"] = node_key(links["source_layer"], links["source_id"])
    links["dst"] = node_key(links["target_layer"], links["target_id"])
    links["skey"] = stream_key(links["stream"], links["src"])
    links["tkey"] = stream_key(links["stream"], links["dst"])
    links["n"] = links.groupby("skey")["id"].transform("size").astype("float64")
    mc = frames["manure_centers"]
    share = pd.Series(
        mc["forwarded_share"].to_numpy(), index=node_key(pd.Series("manure_centers", mc.index), mc["id"])
    )
    links["share"] = links["src"].map(share).fillna(1.0)
    return links


def propagate(gen: pd.DataFrame, links: pd.DataFrame) -> pd.Series:
    """Flow per link id: first hop from the sources, then one merge + groupby per stage."""
    lk = links[["id", "skey", "tkey", "n", "share"]]
    hop = gen[["skey", "t"]].merge(lk, on="skey")
    parts = [pd.Series((hop["t"] / hop["n"]).to_numpy(), index=hop["id"].to_numpy())]
    amount = (hop["t"] / hop["n"]).groupby(hop["tkey"].to_numpy()).sum()
    for _ in range(MAX_DEPTH):
        step = pd.DataFrame({"skey": amount.index, "a": amount.to_numpy()}).merge(lk, on="skey")
        if step.empty:
            break
        flow = step["a"] * step["share"] / step["n"]
        parts.append(pd.Series(flow.to_numpy(), index=step["id"].to_numpy()))
        amount = flow.groupby(step["tkey"].to_numpy()).sum()
    flows = pd.concat(parts).groupby(level=0).sum()
    return flows.reindex(links["id"].to_numpy(), fill_value=0.0)


def facilities(frames: dict[str, Any], links: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    per_stream = links.groupby(["dst", "stream"], as_index=False)["flow"].sum()
    inflow = per_stream.groupby("dst")["flow"].sum()
    fac = pd.concat(
        [
            pd.DataFrame(
                {
                    "layer": layer,
                    "id": frames[layer]["id"],
                    "status": frames[layer]["status"],
                    "capacity": frames[layer]["capacity"],
                }
            )
            for layer in FACILITIES
        ],
        ignore_index=True,
    )
    fac["node"] = node_key(fac["layer"], fac["id"])
    fac["inflow"] = fac["node"].map(inflow).fillna(0.0)
    fac["utilisation"] = np.where(
        fac["capacity"] > 0, fac["inflow"] / fac["capacity"].where(fac["capacity"] > 0), np.nan
    )
    return fac, per_stream


def lengths(frames: dict[str, Any], links: pd.DataFrame) -> np.ndarray:
    xy = pd.concat(
        [
            pd.DataFrame(
                {
                    "node": node_key(pd.Series(layer, frames[layer].index), frames[layer]["id"]),
                    "x": frames[layer].geometry.x,
                    "y": frames[layer].geometry.y,
                }
            )
            for layer in LAYERS
        ],
        ignore_index=True,
    ).set_index("node")
    src = xy.reindex(links["src"].to_numpy())
    dst = xy.reindex(links["dst"].to_numpy())
    _, _, dist = Geod(ellps="WGS84").inv(
        src["x"].to_numpy(), src["y"].to_numpy(), dst["x"].to_numpy(), dst["y"].to_numpy()
    )
    return np.asarray(dist)


def integrity(
    gen: pd.DataFrame,
    links: pd.DataFrame,
    fac: pd.DataFrame,
    per_stream: pd.DataFrame,
    frames: dict[str, Any],
    p: dict[str, Any],
) -> dict[str, int]:
    counts: dict[str, int] = {}
    linked = pd.Index(links["skey"].unique())
    counts["source_unconnected"] = int(((gen["t"] > 0) & ~gen["skey"].isin(linked)).sum())
    # no_downstream: a non-final facility receives a stream and forwards it nowhere
    ps = per_stream[per_stream["flow"] > 0].copy()
    ps["layer_code"] = ps["dst"] // NODE_SPAN
    final = [LAYER_CODE[layer] for layer in END_LAYERS]
    mc = frames["manure_centers"]
    mc_share = pd.Series(
        mc["forwarded_share"].to_numpy(), index=node_key(pd.Series("manure_centers", mc.index), mc["id"])
    )
    ps["share"] = ps["dst"].map(mc_share).fillna(1.0)
    ps["skey"] = stream_key(ps["stream"], ps["dst"])
    counts["no_downstream"] = int(
        (~ps["layer_code"].isin(final) & (ps["share"] > 0) & ~ps["skey"].isin(linked)).sum()
    )
    # stage rules
    stages = {(s["stream"], s["layer"]): s["stage"] for s in p["stages"]}
    st = pd.Series(stages)
    idx_s = pd.MultiIndex.from_arrays([links["stream"], links["source_layer"]])
    idx_t = pd.MultiIndex.from_arrays([links["stream"], links["target_layer"]])
    s_stage = st.reindex(idx_s).to_numpy()
    t_stage = st.reindex(idx_t).to_numpy()
    wrong = np.isnan(s_stage) | np.isnan(t_stage)
    reverse = ~wrong & (t_stage <= s_stage)
    skip = ~wrong & (t_stage > s_stage + 1)
    allowed = pd.MultiIndex.from_tuples([tuple(a) for a in p["allowed_skips"]])
    is_allowed = pd.MultiIndex.from_arrays(
        [links["stream"], links["source_layer"], links["target_layer"]]
    ).isin(allowed)
    counts["wrong_stream"] = int(wrong.sum())
    counts["stage_reverse"] = int(reverse.sum())
    counts["stage_skip"] = int((skip & ~is_allowed).sum())
    # inactive_target: groups (target facility, stream) whose target is not operational
    status = pd.Series(fac["status"].to_numpy(), index=fac["node"].to_numpy())
    inactive = links[links["dst"].map(status).fillna("operational") != "operational"]
    counts["inactive_target"] = int(inactive[["dst", "stream"]].drop_duplicates().shape[0])
    # capacity
    fed = fac[fac["inflow"] > 0]
    no_cap = fed["capacity"].isna() | (fed["capacity"] == 0)
    counts["no_capacity"] = int(no_cap.sum())
    counts["over_capacity"] = int((~no_cap & (fed["utilisation"] > 1)).sum())
    counts["near_capacity"] = int(
        (~no_cap & (fed["utilisation"] > p["utilisation_warning"]) & (fed["utilisation"] <= 1)).sum()
    )
    vc = (links["source_layer"] == "villages") & (links["target_layer"] == "collection_points")
    counts["link_too_long"] = int((vc & (links["length_m"] > p["max_village_collection_m"])).sum())
    targeted = pd.Index(links["dst"].unique())
    counts["facility_unfed"] = int(((fac["status"] == "operational") & ~fac["node"].isin(targeted)).sum())
    return {k: v for k, v in counts.items() if v}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="SQLAlchemy URL of the database")
    ap.add_argument("--params", required=True, help="chain parameters and coefficients as JSON")
    a = ap.parse_args()
    p = json.loads(a.params)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    frames = load(a.url)
    t1 = time.perf_counter()
    gen = generation(frames, p)
    links = prepare_links(frames)
    t2 = time.perf_counter()
    links["flow"] = propagate(gen, links).to_numpy()
    t3 = time.perf_counter()
    fac, per_stream = facilities(frames, links)
    t4 = time.perf_counter()
    links["length_m"] = lengths(frames, links)
    t5 = time.perf_counter()
    findings = integrity(gen, links, fac, per_stream, frames, p)
    t6 = time.perf_counter()
    times = {
        "import_s": T_IMPORTED - T_START,
        "load_s": t1 - t0,
        "generation_s": t2 - t1,
        "propagation_s": t3 - t2,
        "facility_s": t4 - t3,
        "lengths_s": t5 - t4,
        "integrity_s": t6 - t5,
        "flows_s": t4 - t1,
        "checks_s": t6 - t4,
        "compute_s": t6 - t1,
        "load_compute_s": t6 - t0,
    }
    ends = links["target_layer"].isin(END_LAYERS)
    linked = pd.Index(links["skey"].unique())
    totals = {
        "generated": gen.groupby("stream")["t"].sum().to_dict(),
        "unconnected": gen[~gen["skey"].isin(linked)].groupby("stream")["t"].sum().to_dict(),
        "delivered": links[ends].groupby("stream")["flow"].sum().to_dict(),
        "plant_inflow": float(fac.loc[fac["layer"] == "treatment_plants", "inflow"].sum()),
        "facility_inflow": float(fac["inflow"].sum()),
        "facility_inflow_sq": float((fac["inflow"] ** 2).sum()),
        "link_flow": float(links["flow"].sum()),
        "link_length_m": float(links["length_m"].sum()),
    }
    print(
        json.dumps(
            {
                "rows": {
                    "villages": len(frames["villages"]),
                    "farms": len(frames["livestock_farms"]),
                    "links": len(links),
                    "facilities": len(fac),
                },
                "totals": totals,
                "findings_by_rule": findings,
                "length_method": "pyproj.Geod(ellps='WGS84').inv",
                "times": {k: round(v, 4) for k, v in times.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
