"""FastAPI's OpenAPI 3.1 document rewritten as OpenAPI 3.0.3 (what OGC API – Features' "oas30" class
and many clients expect).

3.1 schemas are JSON Schema 2020-12; 3.0 schemas are an older dialect. What FastAPI/pydantic write
that 3.0 lacks is rewritten: null in a type list or an `anyOf` → `nullable`, `const` → a one-value
`enum`, a list of `examples` → one `example`, numeric `exclusiveMinimum`/`exclusiveMaximum` → a bound
plus the boolean flag, `$ref` with siblings → `allOf: [$ref]` (3.0 ignores a ref's siblings),
`contentMediaType`/`contentEncoding` → `format: binary`/`byte`; 2020-12 keywords 3.0 has no word for
are dropped.
"""

from __future__ import annotations

import copy
from typing import Any

VERSION = "3.0.3"
MEDIA_TYPE = "application/vnd.oai.openapi+json;version=3.0"

# keywords of JSON Schema 2020-12 with no OpenAPI 3.0 counterpart
DROPPED = frozenset(
    {
        "$schema",
        "$id",
        "$anchor",
        "$comment",
        "$defs",
        "$dynamicRef",
        "$dynamicAnchor",
        "dependentRequired",
        "dependentSchemas",
        "prefixItems",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contains",
        "minContains",
        "maxContains",
        "if",
        "then",
        "else",
        "patternProperties",
        "contentSchema",
    }
)
SUBSCHEMA = ("items", "not", "additionalProperties")
SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null" and not (set(schema) - {"type", "title"})


def _without_null_option(schema: dict[str, Any]) -> dict[str, Any]:
    """`anyOf: [X, {"type": "null"}]` → X with `nullable: true` (the outer keywords kept)."""
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if not isinstance(options, list) or not any(_is_null(o) for o in options):
            continue
        rest = [o for o in options if not _is_null(o)]
        outer = {k: v for k, v in schema.items() if k != key}
        if len(rest) == 1 and isinstance(rest[0], dict) and "$ref" not in rest[0]:
            schema = {**rest[0], **outer}
        elif len(rest) == 1:
            schema = {**outer, "allOf": [*outer.get("allOf", []), rest[0]]}
        else:
            schema = {**outer, key: rest}
        schema["nullable"] = True
    return schema


def schema_30(schema: Any) -> Any:
    """One JSON Schema 2020-12 (OpenAPI 3.1) schema as an OpenAPI 3.0 schema object."""
    if schema is True:
        return {}
    if schema is False:
        return {"not": {}}
    if not isinstance(schema, dict):
        return schema
    schema = _without_null_option(schema)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in DROPPED:
            continue
        if key == "properties":
            out[key] = {name: schema_30(sub) for name, sub in value.items()}
        elif key == "additionalProperties" and isinstance(value, bool):
            out[key] = value  # 3.0 takes a boolean here too
        elif key in SUBSCHEMA and isinstance(value, dict | bool):
            out[key] = schema_30(value)
        elif key in SUBSCHEMA_LISTS:
            out[key] = [schema_30(sub) for sub in value]
        elif key == "const":
            out["enum"] = [value]
        elif key == "examples":
            if isinstance(value, list) and value:
                out.setdefault("example", value[0])
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            stricter = bound not in schema or (
                value >= schema[bound] if bound == "minimum" else value <= schema[bound]
            )
            if stricter:
                out[bound], out[key] = value, True
        elif key == "contentMediaType":
            out.setdefault("format", "binary")
        elif key == "contentEncoding":
            out["format"] = "byte" if value == "base64" else "binary"
        elif key == "minimum" or key == "maximum":
            out.setdefault(key, value)
        else:
            out[key] = value
    _type_list(out)
    if "$ref" in out and len(out) > 1:
        ref = {"$ref": out.pop("$ref")}
        out["allOf"] = [ref, *out.get("allOf", [])]
    return out


def _type_list(out: dict[str, Any]) -> None:
    """`type: [T, "null"]` → `type: T, nullable: true`; several types → anyOf; `type: "null"` alone →
    a nullable schema whose only value is null."""
    kinds = out.get("type")
    if kinds == "null":
        del out["type"]
        out["nullable"], out["enum"] = True, [None]
        return
    if not isinstance(kinds, list):
        return
    rest = [k for k in kinds if k != "null"]
    if len(rest) < len(kinds):
        out["nullable"] = True
    if len(rest) == 1:
        out["type"] = rest[0]
    else:
        del out["type"]
        if rest:
            out["anyOf"] = [*out.get("anyOf", []), *({"type": k} for k in rest)]


def _schemas_in(node: Any) -> Any:
    """Convert every `schema` of parameters, headers and media types below `node` (paths, components)."""
    if isinstance(node, list):
        return [_schemas_in(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {key: schema_30(value) if key == "schema" else _schemas_in(value) for key, value in node.items()}


def document_30(doc: dict[str, Any]) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document as OpenAPI 3.0.3 (the input is left unchanged)."""
    doc = copy.deepcopy(doc)
    out: dict[str, Any] = {"openapi": VERSION}
    info = {k: v for k, v in doc.get("info", {}).items() if k != "summary"}
    if "license" in info:
        info["license"] = {k: v for k, v in info["license"].items() if k != "identifier"}
    out["info"] = info
    for key in ("servers", "security", "tags", "externalDocs"):
        if key in doc:
            out[key] = doc[key]
    out["paths"] = _schemas_in(doc.get("paths", {}))
    components = {k: v for k, v in doc.get("components", {}).items() if k != "pathItems"}
    if "schemas" in components:
        components["schemas"] = {name: schema_30(s) for name, s in components["schemas"].items()}
    if components:
        out["components"] = _schemas_in({k: v for k, v in components.items() if k != "schemas"}) | (
            {"schemas": components["schemas"]} if "schemas" in components else {}
        )
    out.update({k: v for k, v in doc.items() if k.startswith("x-")})
    return out
