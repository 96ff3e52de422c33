"""Coverage and its gaps as XLSX reports: city, towns, facilities and the unserved villages and farms
(coverage); gap areas and the unserved, ranked (gaps). Written by the shared report workbook."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, text

from service.reports.columns import CODE, LAT, LON, NAME, TOWN_CODE, Column, Lang
from service.reports.workbook import Figures, Report, Table, workbook

PEOPLE = ("人", "people")
HEAD = ("头（只）", "head")
PIG_EQ = ("头猪当量", "pig eq.")


def _count(key: str, zh: str, en: str, unit: tuple[str, str] = ("", "")) -> Column:
    return Column(key, zh, en, "count", *unit)


CITY_COLUMNS = (
    _count("villages_total", "行政村总数", "villages", ("个", "")),
    _count("villages_served", "覆盖行政村", "villages served", ("个", "")),
    Column("villages_served_share", "行政村覆盖率", "villages served share", "share"),
    _count("population_total", "人口", "population", PEOPLE),
    _count("population_served", "覆盖人口", "population served", PEOPLE),
    Column("population_served_share", "人口覆盖率", "population served share", "share"),
    _count("households_total", "户数", "households", ("户", "")),
    _count("households_served", "覆盖户数", "households served", ("户", "")),
    Column("households_served_share", "户数覆盖率", "households served share", "share"),
    _count("farms_total", "规模养殖场", "farms", ("个", "")),
    _count("farms_served", "覆盖养殖场", "farms served", ("个", "")),
    Column("farms_served_share", "养殖场覆盖率", "farms served share", "share"),
    _count("head_count_total", "存栏/出栏", "head count", HEAD),
    _count("head_count_served", "覆盖存栏/出栏", "head count served", HEAD),
    Column("pig_equivalents_total", "猪当量", "pig equivalents", "number", *PIG_EQ),
    Column("pig_equivalents_served", "覆盖猪当量", "pig equivalents served", "number", *PIG_EQ),
    Column("pig_equivalents_served_share", "猪当量覆盖率", "pig equivalents served share", "share"),
)
TOWN_NAME = Column("name", "乡镇（街道）", "town", en_key="name_en")
FACILITY_COLUMNS = (
    CODE,
    NAME,
    TOWN_CODE,
    Column("hypothetical", "假设设施", "hypothetical", "flag"),
    LON,
    LAT,
    _count("villages_served", "覆盖行政村", "villages served", ("个", "")),
    _count("population_served", "覆盖人口", "population served", PEOPLE),
    _count("farms_served", "覆盖养殖场", "farms served", ("个", "")),
    Column("pig_equivalents_served", "覆盖猪当量", "pig equivalents served", "number", *PIG_EQ),
)
KIND = Column("kind", "类型", "kind")
POPULATION = _count("population", "人口", "population", PEOPLE)
PIG_EQUIVALENTS = Column("pig_equivalents", "猪当量", "pig equivalents", "number", *PIG_EQ)
UNSERVED_COLUMNS = (KIND, CODE, NAME, TOWN_CODE, POPULATION, PIG_EQUIVALENTS, LON, LAT)
GAP_RANK = _count("gap_rank", "空白区序号", "gap area")
CLUSTER_COLUMNS = (
    _count("rank", "空白区序号", "gap area"),
    _count("villages", "未覆盖行政村", "villages unserved", ("个", "")),
    _count("population", "未覆盖人口", "population unserved", PEOPLE),
    _count("farms", "未覆盖养殖场", "farms unserved", ("个", "")),
    Column("pig_equivalents", "未覆盖猪当量", "pig equivalents unserved", "number", *PIG_EQ),
    LON,
    LAT,
    Column("members", "村/场编码", "member codes"),
)
GAP_VILLAGE_COLUMNS = (CODE, NAME, TOWN_CODE, POPULATION, GAP_RANK, LON, LAT)
GAP_FARM_COLUMNS = (CODE, NAME, TOWN_CODE, PIG_EQUIVALENTS, GAP_RANK, LON, LAT)
GAP_TOTALS = (
    _count("villages_unserved", "未覆盖行政村", "villages unserved", ("个", "")),
    _count("farms_unserved", "未覆盖养殖场", "farms unserved", ("个", "")),
)
GAP_AREAS = _count("gap_areas", "空白区（本表所列）", "gap areas (listed)", ("个", ""))
SUBJECT_WORDS = {"village": ("行政村", "village"), "farm": ("养殖场", "farm")}
UNSERVED_SQL = """
SELECT 'village' AS kind, g.code, g.name, NULL::text AS name_en, t.code AS town_code,
       v.population AS population, NULL::float8 AS pig_equivalents, ST_X(g.geom) AS lon, ST_Y(g.geom) AS lat
FROM cov_village v JOIN villages g ON g.id = v.id LEFT JOIN towns t ON t.id = g.town_id WHERE NOT v.served
UNION ALL
SELECT 'farm', g.code, g.name, g.name_en, t.code, NULL, round(f.pig_equivalents::numeric, 1)::float8,
       ST_X(g.geom), ST_Y(g.geom)
FROM cov_farm f JOIN livestock_farms g ON g.id = f.id LEFT JOIN towns t ON t.id = g.town_id WHERE NOT f.served
ORDER BY 1 DESC, 6 DESC NULLS LAST, 7 DESC NULLS LAST, 2
"""


def parameters(meta: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """The question's members (road mode's nested `road` block as dotted names), in order."""
    rows: list[tuple[str, Any]] = []
    for key, value in meta.items():
        if isinstance(value, dict):
            rows += parameters(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def _asked(columns: tuple[Column, ...], figures: dict[str, Any]) -> list[Column]:
    """The columns whose figures were computed (a subject not asked for has none)."""
    return [c for c in columns if c.key in figures]


def _kind_word(kind: str, lang: Lang) -> str:
    zh, en = SUBJECT_WORDS[kind]
    return en if lang == "en" else zh


def workbook_of_coverage(
    conn: Connection, meta: dict[str, Any], result: dict[str, Any], lang: Lang, names: Mapping[str, str]
) -> bytes:
    """The prepared coverage (see query.prepare) as an .xlsx report (`names`: the layers' names in
    `lang`)."""
    layer = names.get(meta["layer"], meta["layer"])
    city = result["city"]
    asked = _asked(CITY_COLUMNS, city)
    unserved = [
        {**dict(r), "kind": _kind_word(r["kind"], lang)} for r in conn.execute(text(UNSERVED_SQL)).mappings()
    ]
    sample = result["facilities"][0] if result["facilities"] else {}
    facility_columns = [c for c in FACILITY_COLUMNS if c.kind not in ("count", "number") or c.key in sample]
    report = Report(
        f"设施覆盖报告：{layer}，{meta['distance_m']:,.0f} 米",
        f"Coverage report: {layer} within {meta['distance_m']:,.0f} m",
        parameters(meta),
        [
            Figures("全市", "city", [("全市", "city")], [(c, [city.get(c.key)]) for c in asked]),
            Table("乡镇", "towns", [CODE, TOWN_NAME, *asked], result["towns"]),
            Table("设施", "facilities", facility_columns, result["facilities"]),
            Table("未覆盖", "unserved", UNSERVED_COLUMNS, unserved),
        ],
    )
    return workbook(report, lang)


def workbook_of_gaps(
    meta: dict[str, Any], found: dict[str, Any], lang: Lang, names: Mapping[str, str]
) -> bytes:
    """Gap areas and the unserved villages and farms (as `gaps.find` returned them) as an .xlsx report."""
    layer = names.get(meta["layer"], meta["layer"])
    clusters = [{**c, "members": ", ".join(c["members"])} for c in found["clusters"]]
    report = Report(
        f"服务空白区报告：{layer}，{meta['distance_m']:,.0f} 米",
        f"Coverage gaps: {layer} within {meta['distance_m']:,.0f} m",
        parameters(meta),
        [
            Figures(
                "概况",
                "summary",
                [("数量", "count")],
                [(c, [found[c.key]]) for c in GAP_TOTALS] + [(GAP_AREAS, [len(found["clusters"])])],
            ),
            Table("空白区", "gap areas", CLUSTER_COLUMNS, clusters),
            Table("未覆盖行政村", "unserved villages", GAP_VILLAGE_COLUMNS, found["villages"]),
            Table("未覆盖养殖场", "unserved farms", GAP_FARM_COLUMNS, found["farms"]),
        ],
    )
    return workbook(report, lang)
