"""Replacing the town boundaries (and the city outline) from the city's own boundary file.

`read_file` reads town polygons from a Shapefile, GeoPackage or GeoJSON in any CRS the import knows;
`plan` matches each to a town by its 9-digit code (or its name), checks them and works out, for every
village and facility layer, which features change town, which now lie outside every town or outside
the city: all in the caller's transaction, nothing written. `replace` plans and, unless it is a dry
run or the plan has problems, writes it in the same transaction: the towns' outlines, the city outline
(the union of the towns, or a given one), each feature's town derived again as the editor derives it
(the town whose outline covers the point, the lowest id where outlines overlap), a history row for
every town and feature that changed, and one audit entry.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

from service.accounts import audit
from service.config import ImportFileSettings, settings
from service.editing import history, store
from service.errors import BadParameter
from service.importing import columns, geodata, geometries

# Layers whose rows carry a town derived from their position, in the order their foreign keys need:
# a village's community lies in its town, a collection point's village too.
TOWN_LAYERS = (
    "communities",
    "villages",
    "collection_points",
    "transfer_stations",
    "treatment_plants",
    "manure_centers",
    "biogas_centers",
    "livestock_farms",
    "public_toilets",
)
# Layers whose town may be empty (a plant or biogas centre may lie outside every town).
TOWN_OPTIONAL = frozenset({"treatment_plants", "biogas_centers"})
# Feature layers with a history (communities are no editable layer).
HISTORY_LAYERS = tuple(layer for layer in TOWN_LAYERS if layer != "communities")
# Field names boundary files use for a town's code and name besides the import's own (编码, 名称, …):
# 行政区代码/名称 as China's land-survey data names them (XZQDM/XZQMC).
CODE_FIELDS = ("xzqdm", "xzdm", "xzqhdm", "区划代码", "行政区划代码", "行政区代码", "乡镇代码", "towncode")
NAME_FIELDS = ("xzqmc", "xzmc", "行政区名称", "乡镇名称", "乡镇", "townname")
SHOWN = 5  # problems named in one error message
# An outline within this of the stored one (degrees, about 1 cm) is the same outline: a file's trip
# through Gauss-Krüger metres and back moves vertices by far less.
SAME_DEGREES = 1e-7


@dataclass(frozen=True)
class Boundary:
    number: int  # the feature's position in the file
    code: str | None
    name: str | None
    geometry: dict[str, Any]  # MultiPolygon, WGS 84


@dataclass
class Report:
    file: str
    matched: list[dict[str, Any]] = field(default_factory=list)  # number, code, name of each town
    missing: list[dict[str, Any]] = field(default_factory=list)  # towns the file leaves out (kept)
    unknown: list[dict[str, Any]] = field(default_factory=list)  # features naming no town
    problems: list[str] = field(default_factory=list)  # any of these: nothing is written
    changes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # layer → from/to
    outside_towns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    outside_city: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    towns_changed: list[str] = field(default_factory=list)
    written: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- reading the file ------------------------------------------------------------------------------------


def _field(
    fields: tuple[str, ...], given: str | None, option: str, target: str, extra: tuple[str, ...]
) -> str | None:
    if given is not None:
        if given not in fields:
            raise BadParameter(option, f"the file has no field {given!r} (it has {', '.join(fields)})")
        return given
    matched = columns.match(list(fields), "towns")
    index = matched.column_of(target)
    if index is not None:
        return fields[index]
    return next((f for f in fields if columns.fold(f) in extra), None)


def _code(value: Any) -> str | None:
    if value is None:
        return None
    text_value = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip()
    # Statistical codes are often written with the 12 digits of the village level: 370782001000.
    if re.fullmatch(r"\d{9}000", text_value):
        return text_value[:9]
    return text_value or None


def read_file(
    path: Path,
    *,
    crs: str | None = None,
    code_field: str | None = None,
    name_field: str | None = None,
    layer: str | None = None,
) -> list[Boundary]:
    """The town polygons of a boundary file, in WGS 84; BadParameter naming the file and the features
    that are no polygon or cannot be placed."""
    found: list[Boundary] = []
    problems: list[str] = []
    with geodata.opened(path, layer=layer) as geofile:
        crs = crs or geofile.crs
        code_name = _field(geofile.fields, code_field, "code-field", "code", CODE_FIELDS)
        name_name = _field(geofile.fields, name_field, "name-field", "name", NAME_FIELDS)
        if code_name is None and name_name is None:
            raise BadParameter(
                "file",
                f"{geofile.name}: no field names the towns (a code such as 编码/XZQDM, or a name such as "
                f"名称/XZQMC; it has {', '.join(geofile.fields)}): "
                "name one with --code-field or --name-field",
            )
        for feature in geofile.features():
            fitted = geometries.fit(feature.geometry, "towns", "MultiPolygon", crs, None)
            code = _code(feature.properties.get(code_name)) if code_name else None
            name = None
            if name_name is not None:
                name = str(feature.properties.get(name_name) or "").strip() or None
            if fitted.geometry is None:
                problems.append(f"feature {feature.number} ({code or name}): {'; '.join(fitted.problems)}")
                continue
            found.append(Boundary(feature.number, code, name, fitted.geometry))
    if problems:
        more = f" (and {len(problems) - SHOWN} more)" if len(problems) > SHOWN else ""
        raise BadParameter("file", f"{path.name}: " + "; ".join(problems[:SHOWN]) + more)
    if not found:
        raise BadParameter("file", f"{path.name} holds no town outline")
    return found


def read_city(path: Path, *, crs: str | None = None, layer: str | None = None) -> dict[str, Any]:
    """The city outline from a file of one or more polygons (their union, made in PostGIS later)."""
    polygons: list[Any] = []
    with geodata.opened(path, layer=layer) as geofile:
        for feature in geofile.features():
            fitted = geometries.fit(feature.geometry, "towns", "MultiPolygon", crs or geofile.crs, None)
            if fitted.geometry is None:
                raise BadParameter(
                    "city", f"{path.name} feature {feature.number}: {'; '.join(fitted.problems)}"
                )
            polygons.extend(fitted.geometry["coordinates"])
    if not polygons:
        raise BadParameter("city", f"{path.name} holds no outline")
    return {"type": "MultiPolygon", "coordinates": polygons}


# -- planning ------------------------------------------------------------------------------------------


def _stage(conn: Connection, boundaries: list[Boundary]) -> None:
    conn.execute(
        text(
            """CREATE TEMP TABLE boundary_file (number int, code text, name text, town_id bigint,
                                                 geom geometry(MultiPolygon, 4326)) ON COMMIT DROP"""
        )
    )
    conn.execute(
        text(
            """INSERT INTO boundary_file (number, code, name, geom)
               SELECT b.number, b.code, b.name, ST_SetSRID(ST_GeomFromGeoJSON(b.geometry), 4326)
               FROM json_to_recordset(CAST(:rows AS json))
                    AS b(number int, code text, name text, geometry text)"""
        ),
        {
            "rows": json.dumps(
                [
                    {"number": b.number, "code": b.code, "name": b.name, "geometry": json.dumps(b.geometry)}
                    for b in boundaries
                ],
                ensure_ascii=False,
            )
        },
    )
    # by code first; by name only for a feature without a known code and a name no other town has
    conn.execute(text("UPDATE boundary_file b SET town_id = t.id FROM towns t WHERE t.code = b.code"))
    conn.execute(
        text(
            """UPDATE boundary_file b SET town_id = t.id FROM towns t
               WHERE b.town_id IS NULL AND t.name = b.name
                 AND (SELECT count(*) FROM towns u WHERE u.name = b.name) = 1"""
        )
    )


def _match(conn: Connection, report: Report) -> None:
    rows = conn.execute(
        text(
            """SELECT b.number, b.code AS given_code, b.name AS given_name, t.code, t.name
               FROM boundary_file b LEFT JOIN towns t ON t.id = b.town_id ORDER BY b.number"""
        )
    ).all()
    for r in rows:
        if r.code is None:
            report.unknown.append({"number": r.number, "code": r.given_code, "name": r.given_name})
            report.problems.append(
                f"feature {r.number} ({r.given_code or r.given_name}) names no town of the inventory"
            )
        else:
            report.matched.append({"number": r.number, "code": r.code, "name": r.name})
    for r in conn.execute(
        text(
            """SELECT t.code, t.name, array_agg(b.number ORDER BY b.number) AS numbers FROM boundary_file b
               JOIN towns t ON t.id = b.town_id GROUP BY t.code, t.name HAVING count(*) > 1 ORDER BY t.code"""
        )
    ):
        report.problems.append(f"town {r.code} {r.name} has {len(r.numbers)} outlines (features {r.numbers})")
    report.missing = [
        {"code": r.code, "name": r.name}
        for r in conn.execute(
            text(
                """SELECT code, name FROM towns t
                   WHERE NOT EXISTS (SELECT 1 FROM boundary_file b WHERE b.town_id = t.id) ORDER BY code"""
            )
        )
    ]


def _check_outlines(conn: Connection, report: Report, tolerance_m2: float) -> bool:
    """Validity of each outline, then overlaps between towns beyond the tolerance; False when invalid."""
    invalid = conn.execute(
        text(
            """SELECT number, coalesce(code, name) AS label, ST_IsValidReason(geom) AS reason
               FROM boundary_file
               WHERE NOT ST_IsValid(geom) ORDER BY number"""
        )
    ).all()
    for r in invalid:
        report.problems.append(f"feature {r.number} ({r.label}): the outline is not valid: {r.reason}")
    if invalid:
        return False
    conn.execute(
        text(
            """CREATE TEMP TABLE boundary_towns ON COMMIT DROP AS
               SELECT DISTINCT ON (t.id) t.id AS town_id, t.code,
                      CASE WHEN b.geom IS NULL OR ST_HausdorffDistance(b.geom, t.geom) <= :same THEN t.geom
                           ELSE b.geom END AS geom
               FROM towns t LEFT JOIN boundary_file b ON b.town_id = t.id ORDER BY t.id, b.number"""
        ),
        {"same": SAME_DEGREES},
    )
    for r in conn.execute(
        text(
            """SELECT a.code AS a, b.code AS b,
                      ST_Area(ST_Intersection(a.geom, b.geom)::geography) AS overlap
               FROM boundary_towns a JOIN boundary_towns b ON a.code < b.code AND a.geom && b.geom
               WHERE ST_Intersects(a.geom, b.geom)
                 AND ST_Area(ST_Intersection(a.geom, b.geom)::geography) > :tolerance
               ORDER BY a.code, b.code"""
        ),
        {"tolerance": tolerance_m2},
    ):
        report.problems.append(
            f"towns {r.a} and {r.b} overlap by {r.overlap:,.0f} m² (more than the {tolerance_m2:,.0f} m² "
            "tolerated, SANICHAIN_IMPORT_BOUNDARY_OVERLAP_M2)"
        )
    return True


def _city(conn: Connection, city: dict[str, Any] | None) -> None:
    conn.execute(
        text(
            """CREATE TEMP TABLE boundary_city ON COMMIT DROP AS
               SELECT CASE WHEN CAST(:city AS text) IS NULL
                           THEN (SELECT ST_Multi(ST_Union(geom)) FROM boundary_towns)
                           ELSE ST_Multi(ST_Union(ST_MakeValid(ST_SetSRID(ST_GeomFromGeoJSON(:city), 4326))))
                      END AS geom"""
        ),
        {"city": None if city is None else json.dumps(city)},
    )


def _derive(conn: Connection, report: Report) -> None:
    """Each layer's town derived again from the new outlines, compared with the stored one."""
    for layer in TOWN_LAYERS:
        conn.execute(
            text(
                f"""CREATE TEMP TABLE boundary_{layer} ON COMMIT DROP AS
                    SELECT f.id, f.code, f.name, f.town_id AS old,
                           (SELECT n.town_id FROM boundary_towns n WHERE ST_Covers(n.geom, f.geom)
                            ORDER BY n.town_id LIMIT 1) AS new,
                           ST_Covers((SELECT geom FROM boundary_city), f.geom) AS in_city
                    FROM {layer} f"""
            )
        )
        moved = conn.execute(
            text(
                f"""SELECT m.id, m.code, m.name, o.code AS old, n.code AS new FROM boundary_{layer} m
                    LEFT JOIN towns o ON o.id = m.old LEFT JOIN towns n ON n.id = m.new
                    WHERE m.old IS DISTINCT FROM m.new ORDER BY m.code"""
            )
        ).all()
        changes = [{"id": r.id, "code": r.code, "name": r.name, "from": r.old, "to": r.new} for r in moved]
        if changes:
            report.changes[layer] = [c for c in changes if c["to"] is not None]
            if not report.changes[layer]:
                del report.changes[layer]
        outside = [{"id": c["id"], "code": c["code"], "name": c["name"]} for c in changes if c["to"] is None]
        outside += [
            {"id": r.id, "code": r.code, "name": r.name}
            for r in conn.execute(
                text(
                    f"""SELECT id, code, name FROM boundary_{layer}
                        WHERE old IS NULL AND new IS NULL ORDER BY code"""
                )
            )
        ]
        if outside:
            report.outside_towns[layer] = outside
            if layer not in TOWN_OPTIONAL:
                shown = ", ".join(f["code"] for f in outside[:SHOWN]) + (
                    ", …" if len(outside) > SHOWN else ""
                )
                report.problems.append(f"{len(outside)} {layer} would lie in no town ({shown})")
        beyond = [
            {"id": r.id, "code": r.code, "name": r.name}
            for r in conn.execute(
                text(f"SELECT id, code, name FROM boundary_{layer} WHERE NOT in_city ORDER BY code")
            )
        ]
        if beyond:
            report.outside_city[layer] = beyond


def _conflicts(conn: Connection, report: Report) -> None:
    """Pairs the database keeps in one town: a village and its community, a collection point and its
    village. A border between them is the city's to settle (move one of them, or the border)."""
    pairs = (
        ("villages", "communities", "community_id", "community"),
        ("collection_points", "villages", "village_id", "village"),
    )
    for child, parent, column, word in pairs:
        for r in conn.execute(
            text(
                f"""SELECT c.code, nc.code AS town, p.code AS parent, np.code AS parent_town
                    FROM boundary_{child} c JOIN {child} f ON f.id = c.id
                    JOIN boundary_{parent} p ON p.id = f.{column}
                    LEFT JOIN towns nc ON nc.id = c.new LEFT JOIN towns np ON np.id = p.new
                    WHERE c.new IS DISTINCT FROM p.new AND c.new IS NOT NULL AND p.new IS NOT NULL
                    ORDER BY c.code"""
            )
        ):
            report.problems.append(
                f"{child} {r.code} would lie in town {r.town} but its {word} {r.parent} in town "
                f"{r.parent_town}: move one of them, or the border"
            )


def plan(
    conn: Connection, boundaries: list[Boundary], *, city: dict[str, Any] | None = None, file: str = ""
) -> Report:
    """What replacing the towns' outlines would change, in the caller's transaction; writes only
    temporary tables (dropped at its end)."""
    report = Report(file)
    _stage(conn, boundaries)
    _match(conn, report)
    if not _check_outlines(conn, report, settings(ImportFileSettings).boundary_overlap_m2):
        return report
    _city(conn, city)
    _derive(conn, report)
    _conflicts(conn, report)
    report.towns_changed = [
        r.code
        for r in conn.execute(
            text(
                """SELECT t.code FROM towns t JOIN boundary_towns n ON n.town_id = t.id
                   WHERE NOT ST_Equals(t.geom, n.geom) ORDER BY t.code"""
            )
        )
    ]
    return report


# -- writing -------------------------------------------------------------------------------------------


def _write(conn: Connection, report: Report, actor: audit.Actor) -> None:
    towns = [
        r.id
        for r in conn.execute(
            text(
                """SELECT t.id FROM towns t JOIN boundary_towns n ON n.town_id = t.id
                   WHERE NOT ST_Equals(t.geom, n.geom) ORDER BY t.id"""
            )
        )
    ]
    moved = {layer: [c["id"] for c in report.changes.get(layer, [])] for layer in HISTORY_LAYERS}
    before = {(layer, i): store.read(conn, layer, i) for layer, ids in moved.items() for i in ids}
    before.update({("towns", i): store.read(conn, "towns", i) for i in towns})
    conn.execute(
        text(
            """UPDATE towns t SET geom = n.geom FROM boundary_towns n
               WHERE n.town_id = t.id AND NOT ST_Equals(t.geom, n.geom)"""
        )
    )
    conn.execute(
        text(
            """UPDATE cities c SET geom = (SELECT geom FROM boundary_city)
               WHERE c.id IN (SELECT DISTINCT city_id FROM towns)
                 AND NOT ST_Equals(c.geom, (SELECT geom FROM boundary_city))"""
        )
    )
    # One statement: the database checks "same town" pairs (village–community, point–village) at its end.
    updates = [
        f"""u_{layer} AS (UPDATE {layer} f SET town_id = m.new FROM boundary_{layer} m
                          WHERE f.id = m.id AND f.town_id IS DISTINCT FROM m.new RETURNING 1)"""
        for layer in TOWN_LAYERS
    ]
    conn.execute(text(f"WITH {', '.join(updates)} SELECT 1"))
    for (layer, feature_id), was in before.items():
        now = store.read(conn, layer, feature_id)
        if was is not None and now is not None:
            version = int(now["properties"]["version"])
            history.append(conn, actor, layer, feature_id, version, "update", was, now)
    audit.record(
        conn,
        actor,
        "boundaries.replace",
        layer="towns",
        detail={
            "file": report.file,
            "towns_changed": report.towns_changed,
            "features_moved": {layer: len(changes) for layer, changes in report.changes.items()},
            "towns_missing": [t["code"] for t in report.missing],
        },
    )


def replace(
    engine: Engine,
    boundaries: list[Boundary],
    actor: audit.Actor,
    *,
    city: dict[str, Any] | None = None,
    dry_run: bool = False,
    file: str = "",
) -> Report:
    """Plan the replacement and, unless `dry_run` or the plan has problems, write it in one
    transaction; the report says what changed (or would) and whether it was written."""
    with engine.connect() as conn, conn.begin() as transaction:
        report = plan(conn, boundaries, city=city, file=file)
        if dry_run or report.problems:
            transaction.rollback()
            return report
        _write(conn, report, actor)
        report.written = True
    return report
