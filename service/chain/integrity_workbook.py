"""The integrity report as an XLSX a leader can read: the counts by rule, then every finding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, text

from service.models import LAYERS
from service.reports.columns import CODE, NAME, TOWN_CODE, Column, Lang
from service.reports.workbook import Figures, Report, Table, workbook

RULE_NAMES = {
    "source_unconnected": ("来源未接入", "source unconnected"),
    "no_downstream": ("设施无去向", "no downstream"),
    "stage_skip": ("越级链接", "stage skipped"),
    "stage_reverse": ("逆向链接", "link upstream"),
    "wrong_stream": ("链接类别不符", "wrong stream"),
    "cycle": ("循环链接", "cycle"),
    "inactive_target": ("送往非运行设施", "inactive target"),
    "over_capacity": ("超负荷", "over capacity"),
    "near_capacity": ("接近满负荷", "near capacity"),
    "no_capacity": ("未登记处理能力", "no capacity recorded"),
    "link_too_long": ("收运距离过长", "link too long"),
    "facility_unfed": ("设施无来源", "facility unfed"),
}
SEVERITY_NAMES = {"error": ("错误", "error"), "warning": ("警告", "warning")}
TOTALS = (
    Column("errors", "错误", "errors", "count", "条", ""),
    Column("warnings", "警告", "warnings", "count", "条", ""),
)
RULE_COLUMNS = (
    Column("rule_name", "规则", "rule"),
    Column("rule", "规则代码", "rule code"),
    Column("count", "发现", "findings", "count", "条", ""),
    Column("description", "说明（英文）", "description"),
)
FINDING_COLUMNS = (
    Column("severity", "级别", "severity"),
    Column("rule", "规则", "rule"),
    Column("layer", "图层", "layer"),
    CODE,
    NAME,
    TOWN_CODE,
    Column("stream", "类别", "stream"),
    Column("message", "说明（英文）", "message"),
    Column("numbers", "数值", "numbers"),
)


def english_names(conn: Connection, findings: Sequence[Mapping[str, Any]]) -> dict[tuple[str, int], str]:
    """(layer, id) → the English name recorded for each finding's feature that has one (villages have
    none: their rows keep the Chinese)."""
    ids: dict[str, list[int]] = {}
    for f in findings:
        model = LAYERS.get(f["layer"])
        if model is not None and "name_en" in model.__table__.columns:
            ids.setdefault(f["layer"], []).append(int(f["id"]))
    found: dict[tuple[str, int], str] = {}
    for layer, wanted in ids.items():  # layer: a key of LAYERS, never the request's text
        rows = conn.execute(
            text(f"SELECT id, name_en FROM {layer} WHERE id = ANY(:ids) AND name_en IS NOT NULL"),
            {"ids": wanted},
        )
        found.update({(layer, int(i)): str(name) for i, name in rows})
    return found


def _name(names: dict[str, tuple[str, str]], key: str | None, lang: Lang) -> str | None:
    if key is None:
        return None
    zh, en = names.get(key, (key, key))
    return en if lang == "en" else zh


def _numbers(numbers: dict[str, Any]) -> str:
    return "; ".join(f"{k} = {round(v, 3) if isinstance(v, float) else v}" for k, v in numbers.items())


def integrity_workbook(
    report: dict[str, Any],
    parameters: list[tuple[str, Any]],
    lang: Lang,
    vocabulary: Mapping[str, str],
    names_en: Mapping[tuple[str, int], str] | None = None,
) -> bytes:
    """`integrity.report(...)` (the JSON of the same request) as .xlsx; `vocabulary`: the names of
    layers and streams in `lang`; `names_en`: the features' English names (`english_names`)."""
    names_en = names_en or {}
    summary = report["summary"]
    rules = [
        {
            "rule_name": _name(RULE_NAMES, rule, lang),
            "rule": rule,
            "count": summary["by_rule"].get(rule, 0),
            "description": description,
        }
        for rule, description in report["rules"].items()
    ]
    findings = [
        {
            **f,
            "name_en": names_en.get((f["layer"], f["id"])),
            "severity": _name(SEVERITY_NAMES, f["severity"], lang),
            "rule": _name(RULE_NAMES, f["rule"], lang),
            "layer": vocabulary.get(f["layer"], f["layer"]),
            "stream": vocabulary.get(f["stream"], f["stream"]) if f["stream"] else None,
            "numbers": _numbers(f["numbers"]),
        }
        for f in report["findings"]
    ]
    book = Report(
        "收运链完整性检查",
        "Chain integrity report",
        parameters,
        [
            Figures("概况", "summary", [("数量", "count")], [(c, [summary[c.key]]) for c in TOTALS]),
            Table("规则", "rules", RULE_COLUMNS, rules),
            Table("发现", "findings", FINDING_COLUMNS, findings),
        ],
    )
    return workbook(book, lang)
