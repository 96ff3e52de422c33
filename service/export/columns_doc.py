"""docs/exports.md: every layer's export columns, written from the layer catalogue so that it cannot
drift from what the files hold (a test compares the two). `python -m service.export.columns_doc`."""

from __future__ import annotations

from service.export.link_flows import FIELD as LINK_FLOW
from service.features import catalogue
from service.features.catalogue import Field

# What a column means, where its name does not say it all.
MEANINGS = {
    "code": "the feature's code (towns: 9-digit official code)",
    "name": "name in Chinese",
    "name_en": "name in English (pinyin or translation)",
    "kind": "kind of town, collection point, plant or toilet",
    "city_id": "internal id of the city",
    "town_id": "internal id of the town (derived from the position)",
    "town_code": "9-digit official code of the town",
    "town_name": "name of the town",
    "community_id": "internal id of the community",
    "community_code": "12-digit official code of the community (社区/管区)",
    "community_name": "name of the community",
    "population": "people",
    "households": "households",
    "toilets_rebuilt": "households with a rebuilt sanitary toilet",
    "waste_rate_kg_per_person_day": "the village's own waste rate (empty: the city's default)",
    "status": "operational, under_construction, planned, suspended or closed",
    "capacity": "design capacity, in capacity_unit",
    "capacity_unit": "unit of capacity (t/day, m³/day, …)",
    "commissioned_on": "date the facility started operating",
    "operator": "operating company or office",
    "village_id": "internal id of the village the point serves",
    "station_class": "class by capacity (CJJ/T 47): collection_station, small, medium, large",
    "compression": "compression equipment",
    "campaign": "construction campaign (year or programme)",
    "phase": "construction phase",
    "power_mw": "installed electrical power, MW",
    "accepts_fecal_sludge": "takes fecal sludge from toilets",
    "accepts_manure": "takes livestock manure",
    "process": "treatment process",
    "forwarded_share": "share of the inflow passed on downstream (0–1)",
    "biogas_m3_per_day": "biogas produced, m³/day",
    "species": "pig, cattle, poultry, sheep, …",
    "head_count": "head on hand (or per year, see head_count_basis)",
    "head_count_basis": "on_hand or annual_output",
    "is_large_scale": "above the large-scale threshold of its species (derived)",
    "manure_facility_type": "the farm's own manure facility",
    "has_manure_facility": "whether the farm has a manure facility",
    "stream": "domestic_waste, fecal_sludge or manure",
    "source_layer": "layer of the link's source",
    "source_id": "internal id of the source in source_layer",
    "source_code": "code of the source (village, farm or facility)",
    "source_name": "name of the source",
    "target_layer": "layer of the link's target",
    "target_id": "internal id of the target in target_layer",
    "target_code": "code of the target facility",
    "target_name": "name of the target facility",
    "length_m": "geodesic length of the link's line, m",
    LINK_FLOW: "t/day the link carries, by the chain's flow computation at export time",
    "note": "free text",
    "created_at": "when the feature was created (UTC)",
    "updated_at": "when it last changed (UTC)",
    "version": "the feature's version (the ETag of its API record)",
}


def _meaning(field: Field) -> str:
    if field.name.startswith(("source_", "target_")) and field.name.endswith("_id"):
        layer = field.name.removeprefix("source_").removeprefix("target_").removesuffix("_id")
        return f"internal id of the {layer.replace('_', ' ')} (one of the {field.name[:6]} columns is set)"
    return MEANINGS.get(field.name, "")


def export_columns(layer_name: str) -> list[tuple[str, str, str]]:
    """(column, type, meaning) of a whole-layer export, in the file's order (geometry aside)."""
    layer = catalogue.layer(layer_name)
    rows = [("id", "integer", "the feature id (the API's `/collections/{layer}/items/{id}`)")]
    for f in layer.fields:
        kind = f.kind + (f" ({', '.join(f.vocabulary)})" if f.vocabulary and len(f.vocabulary) <= 8 else "")
        rows.append((f.name, kind, _meaning(f)))
    if layer_name == "chain_links":
        rows.append((LINK_FLOW, "number", MEANINGS[LINK_FLOW]))
    return rows


def render() -> str:
    parts = [
        "# Export columns",
        "",
        "Written from the layer catalogue by `python -m service.export.columns_doc > docs/exports.md`;",
        "a test keeps it equal to what the exports hold. Every format (`GET /export/{layer}.{ext}`,",
        "`sanichain export`) has these columns; GeoPackage, GeoJSON and KML hold the geometry as",
        "geometry, CSV and XLSX as `lon`/`lat` columns (point layers) or a `WKT` column. The OGC API",
        "items carry the same properties, except a link's `t_per_day` (an export computes it once).",
    ]
    for layer in catalogue.layers():
        parts += ["", f"## {layer.name}", "", f"{layer.title}; {layer.geometry_type} geometries.", ""]
        parts += ["| column | type | meaning |", "|---|---|---|"]
        parts += [f"| `{name}` | {kind} | {meaning} |" for name, kind, meaning in export_columns(layer.name)]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(render(), end="")
