"""A real answer checked against the schema the OpenAPI document gives for it."""

from __future__ import annotations

from typing import Any

import jsonschema


def validate_answer(doc: dict[str, Any], method: str, path: str, body: Any, status: str = "200") -> None:
    content = doc["paths"][path][method]["responses"][status]["content"]
    schema = next(m["schema"] for t, m in content.items() if t.endswith("json"))
    jsonschema.validate(
        body, {**schema, "components": doc["components"]}, cls=jsonschema.Draft202012Validator
    )
