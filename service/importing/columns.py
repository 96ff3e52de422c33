"""Matching a file's header to a layer's fields: the Chinese and English names clerks use, or a mapping file.

A header may carry its unit in brackets ("处理能力(吨/日)"): the unit is kept for the column's numbers.
Besides the layer's writable fields, a column may hold the position (`lon`, `lat`) or the town (`town`,
which the database derives from the position: read, never written).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.editing import fields as editing_fields
from service.errors import BadParameter
from service.features import catalogue

LON, LAT, TOWN = "lon", "lat", "town"
POSITION = (LON, LAT)

# Names of each target as headers write them, compared folded (`fold`). The layer's own field names
# match too. Order matters only between targets: the first column that names a target wins.
ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("编码", "代码", "设施编码", "统一编码", "code"),
    "name": ("名称", "名字", "设施名称", "站点名称", "养殖场名称", "场名", "村名", "name"),
    "name_en": ("英文名称", "英文名", "nameen", "englishname"),
    LON: ("经度", "东经", "横坐标", "x", "lon", "lng", "long", "longitude"),
    LAT: ("纬度", "北纬", "纵坐标", "y", "lat", "latitude"),
    "capacity": ("处理能力", "设计处理能力", "设计能力", "能力", "capacity"),
    "capacity_unit": ("能力单位", "单位", "capacityunit", "unit"),
    "status": ("状态", "运行状态", "status"),
    TOWN: ("乡镇", "乡镇(街道)", "所属乡镇", "镇街", "街道", "town"),
    "head_count": ("存栏", "存栏量", "存栏数", "出栏", "出栏量", "年出栏", "年出栏量", "headcount", "heads"),
    "species": ("畜种", "养殖品种", "品种", "species"),
    "operator": ("运营单位", "运营方", "管理单位", "operator"),
    "commissioned_on": ("投运日期", "投运时间", "建成时间", "commissionedon", "commissioned"),
    "kind": ("类型", "类别", "kind", "type"),
    "population": ("人口", "户籍人口", "常住人口", "population"),
    "households": ("户数", "总户数", "households"),
}

_FULL_WIDTH = str.maketrans({"（": "(", "）": ")", "／": "/", "：": ":", "　": " ", "【": "(", "】": ")"})
_UNIT = re.compile(r"^(.*?)[(\[]([^()\[\]]*)[)\]]$")


def fold(text: object) -> str:
    """A header compared by: lower case, full-width brackets folded, no spaces, `_` or `-`."""
    folded = str(text).translate(_FULL_WIDTH).strip().lower()
    return re.sub(r"[\s_\-]+", "", folded)


def split_unit(header: object) -> tuple[str, str | None]:
    """("处理能力", "吨/日") from "处理能力(吨/日)"; the folded header and None when it has no unit."""
    folded = fold(header)
    match = _UNIT.match(folded)
    if match is None or not match.group(1):
        return folded, None
    return match.group(1), match.group(2) or None


def known(layer: str) -> set[str]:
    """What a column may hold for this layer: its writable fields, a point's position, the town."""
    described = catalogue.layer(layer)
    extra = set(POSITION) if described.geometry_type == "Point" else set()
    if described.has_town:
        extra.add(TOWN)
    return {*editing_fields.writable(layer), *extra}


def targets(layer: str) -> dict[str, str]:
    """Folded name → target, for every name a header may use for this layer."""
    writable = editing_fields.writable(layer)
    known_targets = known(layer)
    names: dict[str, str] = {}
    for target, aliases in ALIASES.items():
        if target in known_targets:
            for alias in aliases:
                names.setdefault(fold(alias), target)
    for name in writable:
        names.setdefault(fold(name), name)
    return names


@dataclass
class Columns:
    """Which column (0-based) holds which target, and what is left over."""

    targets: dict[int, str] = field(default_factory=dict)
    units: dict[int, str] = field(default_factory=dict)  # a header's unit, for the column's numbers
    unmatched: list[str] = field(default_factory=list)  # headers that name nothing of the layer
    duplicates: list[str] = field(default_factory=list)  # headers of a target an earlier column holds

    def column_of(self, target: str) -> int | None:
        return next((index for index, name in self.targets.items() if name == target), None)


def load_mapping(path: Path, layer: str) -> dict[str, str | None]:
    """A mapping file: a JSON object of header → field (or null to ignore the column), checked."""
    try:
        mapping = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadParameter("mapping", f"{path.name} is not a JSON file: {error}") from error
    return check_mapping(mapping, layer)


def check_mapping(mapping: Any, layer: str) -> dict[str, str | None]:
    if not isinstance(mapping, dict):
        raise BadParameter("mapping", "must be a JSON object of header → field")
    known_targets = known(layer)
    for header, target in mapping.items():
        if target is not None and target not in known_targets:
            raise BadParameter(
                "mapping", f"{header!r} → {target!r}: {layer} has no field {target!r}", field=target
            )
    return {str(header): target for header, target in mapping.items()}


def match(header: list[Any], layer: str, mapping: dict[str, str | None] | None = None) -> Columns:
    """The columns of `header` matched to the layer's targets; a mapping's entries come first."""
    names = targets(layer)
    overrides = {fold(text): target for text, target in (mapping or {}).items()}
    columns = Columns()
    taken: set[str] = set()
    for index, cell in enumerate(header):
        if cell is None or not str(cell).strip():
            continue
        text = str(cell).strip()
        name, unit = split_unit(text)
        if fold(text) in overrides or name in overrides:
            target = overrides.get(fold(text), overrides.get(name))
            if target is None:  # the mapping says: ignore this column
                continue
        else:
            found = names.get(fold(text)) or names.get(name)
            if found is None:
                columns.unmatched.append(text)
                continue
            target = found
        if target in taken:
            columns.duplicates.append(text)
            continue
        taken.add(target)
        columns.targets[index] = target
        if unit is not None:
            columns.units[index] = unit
    return columns


def score(cells: list[Any], layer: str, mapping: dict[str, str | None] | None = None) -> int:
    """How many cells of a row name a target of the layer: the header is the row that names most."""
    names = dict(targets(layer))
    names.update({fold(text): target or "" for text, target in (mapping or {}).items()})
    return sum(
        1
        for cell in cells
        if cell is not None and (names.get(fold(cell)) or names.get(split_unit(cell)[0])) is not None
    )


# A field app's Placemark description often lists attributes as "名称：东关村" lines (or <br>-separated
# in HTML): such lines are read as more columns.
_TAG = re.compile(r"<[^>]*>")
_BREAK = re.compile(r"<\s*(br|/p|/tr|/div)\s*/?>", re.IGNORECASE)
_PAIR = re.compile(r"^\s*([^:：]{1,30}?)\s*[:：]\s*(.*?)\s*$")


def description_pairs(text: object) -> list[tuple[str, str]]:
    """("key", "value") of each "key：value" line of a description; other lines are left out."""
    if not isinstance(text, str) or not text.strip():
        return []
    plain = _TAG.sub(" ", _BREAK.sub("\n", text))
    pairs = []
    for line in plain.splitlines():
        found = _PAIR.match(line)
        if found and found.group(2):
            pairs.append((found.group(1), found.group(2)))
    return pairs
