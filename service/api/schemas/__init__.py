"""The bodies the service answers, as pydantic models, written into the OpenAPI document.

`RESPONSE_MODELS` names the model of each operation's JSON success; `document(doc)` puts the models'
JSON Schemas under components and points each success's JSON media types at them. One registry rather
than `response_model=` on each route: most routes answer a `Response` they build themselves (the media
type is chosen at run time), and FastAPI would otherwise filter the body through the model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from service.api.schemas import analysis as a
from service.api.schemas import chain as ch
from service.api.schemas import common as c
from service.api.schemas import finding
from service.api.schemas import inspections as i
from service.api.schemas import planning as pl

ITEM = "/collections/{layer}/items/{feature_id}"
RESTORE = ITEM + "/history/{version}/restore"

Models = type[BaseModel] | dict[str, type[BaseModel]]  # one model, or one per media type
GEO = "application/geo+json"
JSON = "application/json"
# (method, path, status) → (what the answer is, its model)
RESPONSE_MODELS: dict[tuple[str, str, str], tuple[str, Models]] = {
    ("get", "/health", "200"): ("the service and its database answer", c.Health),
    ("get", "/search", "200"): ("towns, villages and facilities found, best first", finding.SearchResult),
    ("get", "/search/towns", "200"): ("every town with its map (the town picker's list)", finding.TownList),
    ("get", "/problems", "200"): ("what needs attention now, grouped by kind", finding.Attention),
    ("post", "/auth/token", "200"): ("signed in: a bearer token", c.AccessToken),
    ("get", "/auth/me", "200"): ("the signed-in user", c.Me),
    ("post", "/auth/logout", "200"): ("signed out", c.SignedOut),
    ("get", "/", "200"): ("the landing page: links to everything", c.Landing),
    ("get", "/conformance", "200"): ("the OGC conformance classes", c.Conformance),
    ("get", "/collections", "200"): ("every layer, with its extent and links", c.Collections),
    ("get", "/collections/{layer}", "200"): ("the layer, with its extent and links", c.Collection),
    ("get", "/collections/{layer}/queryables", "200"): (
        "the properties filters may use",
        c.JsonSchemaDocument,
    ),
    ("get", "/collections/{layer}/schema", "200"): (
        "JSON Schema of the features' properties",
        c.JsonSchemaDocument,
    ),
    ("get", "/collections/{layer}/items", "200"): ("a page of features", c.FeatureCollection),
    ("post", "/collections/{layer}/items", "201"): ("the feature as stored", c.Feature),
    ("post", "/collections/{layer}/items", "200"): ("dry run: what would be stored", c.EditOutcome),
    ("get", ITEM, "200"): ("the feature", c.Feature),
    ("put", ITEM, "200"): (
        "the feature as stored (dry run: what would be)",
        {GEO: c.Feature, JSON: c.EditOutcome},
    ),
    ("patch", ITEM, "200"): (
        "the feature as stored (dry run: what would be)",
        {GEO: c.Feature, JSON: c.EditOutcome},
    ),
    ("delete", ITEM, "200"): ("dry run: what the delete would do", c.EditOutcome),
    ("get", ITEM + "/history", "200"): ("every recorded version, newest first", c.FeatureHistory),
    ("post", RESTORE, "200"): (
        "the feature as restored (dry run: what would be)",
        {GEO: c.Feature, JSON: c.EditOutcome},
    ),
    ("get", "/export/{filename}", "200"): (
        "the layer as a file in the format asked for",
        {GEO: c.FeatureCollection},
    ),
    ("get", "/tiles/{layer}.json", "200"): ("TileJSON 3.0 of the layer's tiles", c.TileJson),
    ("get", "/maps/editor", "200"): ("what the signed-in user may do on the maps", c.EditorRights),
    ("get", "/chain/flows", "200"): ("the chain links as lines, with their t/day and length", ch.Flows),
    ("get", "/chain/facilities", "200"): ("each facility's inflow and utilisation", ch.ChainFacilities),
    ("get", "/chain/integrity", "200"): ("the chain's integrity findings", ch.Integrity),
    ("post", "/chain/assignments", "200"): ("proposed (or applied) assignments", a.Assignments),
    ("get", "/indicators", "200"): ("the city's and towns' indicators", ch.Indicators),
    ("get", "/coverage", "200"): ("who is served within the distance, city, towns, facilities", a.Coverage),
    ("get", "/coverage/gaps", "200"): ("unserved villages and farms, and gap areas", a.Gaps),
    ("post", "/planning/siting", "200"): ("the chosen sites and how good the solution is", a.Siting),
    ("post", "/planning/scenarios", "200"): (
        "the scenario's coverage and chain, before and after",
        pl.Scenario,
    ),
    ("get", "/planning/scenarios", "200"): ("saved scenarios, a page", pl.ScenarioPage),
    ("get", "/planning/scenarios/{scenario_id}", "200"): ("the saved scenario", pl.SavedScenario),
    ("post", "/inspections", "201"): ("the inspection as recorded", i.InspectionRecord),
    ("post", "/inspections", "200"): ("a re-send of a recorded key: the first record", i.InspectionRecord),
    ("get", "/inspections", "200"): ("inspections, newest first", i.InspectionList),
    ("get", "/inspections/checklists", "200"): ("the checklist of each facility layer", i.Checklists),
    ("get", "/inspections/{inspection_id}", "200"): ("the inspection", i.InspectionRecord),
    ("get", "/inspections/overdue", "200"): ("what is due, by town and grid", i.Overdue),
    ("get", "/inspections/review", "200"): ("the period's figures per town and grid", i.Review),
    ("get", "/chain/outages/{layer}/{feature_id}", "200"): ("what depends on the facility", i.Outage),
    ("post", "/chain/outages/{layer}/{feature_id}/reroute", "200"): ("the links re-routed", i.Rerouted),
}
# Successes documented with a model by their route, which only need saying what they are.
DESCRIPTIONS = {
    ("get", "/audit", "200"): "audit log entries, oldest first, a page (or CSV)",
    ("get", "/imports/{job_id}", "200"): "the import job: status, progress, its report once done",
    ("get", "/inspections/{inspection_id}/photos/{number}", "200"): "the photo, as the inspector sent it",
}
# JSON media types whose body is not the operation's document (a streamed sequence, an error list)
NOT_DOCUMENTS = frozenset({"application/geo+json-seq", "application/problem+json"})
REF = "#/components/schemas/{model}"
# Operations FastAPI lists with its default JSON media type although they answer only files
FILE_ONLY = frozenset(
    {("get", "/imports/{job_id}/rejected.csv"), ("get", "/inspections/{inspection_id}/photos/{number}")}
)


def _is_json(media_type: str) -> bool:
    return media_type.split(";")[0].endswith("json") and media_type not in NOT_DOCUMENTS


def document(doc: dict[str, Any]) -> None:
    """Point each registered JSON success at its model's schema, in place; the models go to components."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for method, path in FILE_ONLY:
        content = doc.get("paths", {}).get(path, {}).get(method, {}).get("responses", {}).get("200", {})
        content.get("content", {}).pop("application/json", None)
    paths = doc.get("paths", {})
    for (method, path, status), text in DESCRIPTIONS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is not None:
            response["description"] = text
    for (method, path, status), (description, models) in RESPONSE_MODELS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        response["description"] = description
        for media_type, media in response.get("content", {}).items():
            model = models.get(media_type.split(";")[0]) if isinstance(models, dict) else models
            if model is None or not _is_json(media_type):
                continue
            found = model.model_json_schema(ref_template=REF, by_alias=True)
            schemas.update(found.pop("$defs", {}))
            schemas[model.__name__] = found
            media["schema"] = {"$ref": REF.format(model=model.__name__)}
