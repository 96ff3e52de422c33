"""The options of an import as a form sends them (text fields), checked and typed before any job starts.

The checked options are kept with the job as JSON, so that a confirmation runs the dry run's import
again with exactly the same ones.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from typing import Any

from service.errors import BadParameter
from service.importing import columns, coordinates, rows
from service.importing.job import IMPORTABLE

TRUE = ("true", "1", "on", "yes")
FALSE = ("false", "0", "off", "no", "")
UPSERT_KEYS = ("code",)
# the encodings a form offers; anything else Python knows is accepted too
AUTO = "auto"


@dataclass(frozen=True)
class Submission:
    layer: str
    options: dict[str, Any]  # crs, encoding, sheet, mapping, upsert_by, valid_rows_only
    dry_run: bool


def flag(name: str, value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise BadParameter(name, f"{value!r} is not true or false")


def _text(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _layer(value: str | None) -> str:
    layer = _text(value)
    if layer is None:
        raise BadParameter("layer", "required: the layer to import into, e.g. livestock_farms")
    if layer not in IMPORTABLE:
        raise BadParameter("layer", f"{layer!r} cannot be imported: one of {', '.join(IMPORTABLE)}")
    return layer


def _crs(value: str | None) -> str | None:
    crs = _text(value)
    if crs is None or crs.lower() in ("wgs84", "epsg:4326", "4326"):
        return None
    if crs.isdigit():
        crs = f"EPSG:{crs}"
    return coordinates.check_crs(crs)


def _encoding(value: str | None) -> str | None:
    encoding = _text(value)
    if encoding is None or encoding.lower() == AUTO:
        return None
    try:
        codecs.lookup(encoding)
    except LookupError as error:
        raise BadParameter(
            "encoding", f"{encoding!r}: not an encoding (auto, utf-8, gbk, gb18030)"
        ) from error
    return encoding


def _mapping(value: str | None, layer: str) -> dict[str, str | None] | None:
    if _text(value) is None:
        return None
    try:
        mapping = json.loads((value or "").lstrip("\ufeff"))
    except json.JSONDecodeError as error:
        raise BadParameter("mapping", f"not JSON: {error.msg} at line {error.lineno}") from error
    if not isinstance(mapping, dict):
        raise BadParameter("mapping", "a JSON object of header → field (or null to skip the column)")
    return columns.check_mapping(mapping, layer)


def _upsert_by(value: str | None) -> str | None:
    key = _text(value)
    if key is not None and key not in UPSERT_KEYS:
        raise BadParameter("upsert_by", f"{key!r}: only 'code' is a key to update by")
    return key


def from_form(fields: dict[str, str]) -> Submission:
    """The submission of a form's fields; BadParameter naming the first field at fault."""
    layer = _layer(fields.get("layer"))
    options = {
        "crs": _crs(fields.get("crs")),
        "encoding": _encoding(fields.get("encoding")),
        "sheet": _text(fields.get("sheet")),
        "mapping": _mapping(fields.get("mapping"), layer),
        "upsert_by": _upsert_by(fields.get("upsert_by")),
        "valid_rows_only": flag("valid_rows_only", fields.get("valid_rows_only")),
    }
    return Submission(layer, options, flag("dry_run", fields.get("dry_run")))


def read_options(options: dict[str, Any]) -> rows.Options:
    """The reader's options of a job's stored options."""
    return rows.Options(
        encoding=options.get("encoding"),
        sheet=options.get("sheet"),
        crs=options.get("crs"),
        mapping=options.get("mapping"),
    )
