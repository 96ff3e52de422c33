"""Deterministic generator of the Zhucheng demo dataset (gis_data/zhucheng/).

Facts come from `facts.py` (each with its source). Around them this module places SYNTHETIC detail:
town polygons (Voronoi cells of the town seats inside the approximate city outline), community and
village positions (villages within the 2 km service radius of their community), names, per-village
population, households and toilets, facility positions, capacities and dates, farms and chain links.
Same code, same numpy/shapely versions → byte-identical files (checked by the test suite).

Run: `sanichain demo generate-zhucheng [-o DIR]`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon, mapping

from service.demo import facts, grids
from service.demo.loader import LOAD_ORDER, ROADS_FILE
from service.demo.roads import road_features
from service.models.facilities import LARGE_FARM_THRESHOLDS, MANURE_FACILITY_TYPES

SEED = 370782
GENERATOR_VERSION = 2
LAYER_FILES = LOAD_ORDER  # one file per table, in load order

KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON = 111.320 * math.cos(math.radians(36.0))  # at Zhucheng's latitude
INNER_MARGIN_DEG = 0.004  # keep sampled points ~400 m inside their town, clear of shared borders

# SYNTHETIC naming material (common surnames and Zhucheng-style place-name endings such as 戈庄).
SURNAMES = (
    "王",
    "李",
    "张",
    "刘",
    "陈",
    "杨",
    "赵",
    "黄",
    "周",
    "吴",
    "徐",
    "孙",
    "胡",
    "朱",
    "高",
    "林",
    "何",
    "郭",
    "马",
    "罗",
    "梁",
    "宋",
    "郑",
    "谢",
    "韩",
    "唐",
    "冯",
    "于",
    "董",
    "萧",
    "程",
    "曹",
    "袁",
    "邓",
    "许",
    "傅",
    "沈",
    "曾",
    "彭",
    "吕",
    "苏",
    "卢",
    "蒋",
    "蔡",
    "贾",
    "丁",
    "魏",
    "薛",
    "叶",
    "阎",
    "余",
    "潘",
    "杜",
    "戴",
    "夏",
    "钟",
    "汪",
    "田",
    "任",
    "姜",
    "范",
    "方",
    "石",
    "姚",
    "谭",
    "廖",
    "邹",
    "熊",
    "金",
    "陆",
    "郝",
    "孔",
    "白",
    "崔",
    "康",
    "毛",
    "邱",
    "秦",
    "江",
    "史",
    "顾",
    "侯",
    "邵",
    "孟",
    "龙",
    "万",
    "段",
    "雷",
    "钱",
    "汤",
    "尹",
    "黎",
    "易",
    "常",
    "武",
    "乔",
    "贺",
    "赖",
    "龚",
    "文",
    "臧",
    "管",
)
VILLAGE_ENDINGS = ("家庄", "戈庄", "家村", "家屯", "家岭", "家河", "家沟", "家埠", "家官庄", "家岔河")
VILLAGE_PREFIXES = ("", "", "", "东", "西", "南", "北", "前", "后", "大", "小")
URBAN_WORDS = (
    "和平",
    "繁荣",
    "东坡",
    "超然",
    "舜德",
    "密州",
    "龙源",
    "人民",
    "新华",
    "兴华",
    "府前",
    "文化",
    "振华",
    "东关",
    "西关",
    "南关",
    "北关",
    "潍河",
    "扶淇",
    "常山",
    "马耳",
    "学府",
    "康宁",
    "福泽",
    "恐龙",
    "龙城",
    "舜都",
    "明珠",
    "锦绣",
    "光明",
    "育才",
    "翠园",
    "紫荆",
    "华山",
    "泰和",
    "安泰",
)
SPECIES_CN = {
    "pig": "生猪",
    "broiler": "肉鸡",
    "layer": "蛋鸡",
    "beef": "肉牛",
    "sheep": "肉羊",
    "dairy": "奶牛",
}
# SYNTHETIC mix of the 566 large farms (Zhucheng is a pig and poultry county).
FARM_SPECIES_COUNTS = {"pig": 310, "broiler": 110, "layer": 60, "beef": 36, "sheep": 30, "dairy": 20}
CAMPAIGN_STATION_TOWNS = ("370782101", "370782102", "370782110", "370782114", "370782118")  # SYNTHETIC
MANURE_CENTER_TOWNS = ("370782101", "370782105", "370782108", "370782111", "370782114", "370782117")
BIOGAS_TOWN = "370782102"
URBAN_COMMUNITY_SPLIT = {"370782001": 12, "370782002": 10, "370782003": 8, "370782400": 6}
PUBLIC_TOILETS_NEW_SPLIT = {"370782001": 5, "370782002": 5}
PUBLIC_TOILETS_REBUILT_SPLIT = {"370782001": 15, "370782002": 13, "370782003": 12}
FARM_DIRECT_TO_BIOGAS_KM = 8.0
# SYNTHETIC: centres compost or land-apply most of what they receive and send 30 % (slurry) to biogas.
MANURE_CENTER_FORWARDED_SHARE = 0.3  # farms this close deliver straight to the biogas centre
CITY_OPERATOR = "诸城市环境卫生管理中心"  # SYNTHETIC operator name


# ------------------------------------------------------------------------------------------- geometry
def km_offset(lon: float, lat: float, east_km: float, north_km: float) -> tuple[float, float]:
    return lon + east_km / KM_PER_DEG_LON, lat + north_km / KM_PER_DEG_LAT


def approx_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Local flat-earth distance; plenty for choosing the nearest of a few facilities."""
    return math.hypot((a[0] - b[0]) * KM_PER_DEG_LON, (a[1] - b[1]) * KM_PER_DEG_LAT)


def r6(value: float) -> float:
    return round(float(value), 6)


def point_json(xy: tuple[float, float]) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [r6(xy[0]), r6(xy[1])]}


def polygon_json(geom: Polygon | MultiPolygon) -> dict[str, Any]:
    if isinstance(geom, Polygon):
        geom = MultiPolygon([geom])
    data = mapping(geom)
    return {
        "type": "MultiPolygon",
        "coordinates": [[[[r6(x), r6(y)] for x, y in ring] for ring in poly] for poly in data["coordinates"]],
    }


# ------------------------------------------------------------------------------------------- numbers
def largest_remainder(total: int, weights: list[float]) -> list[int]:
    """Split `total` into integers proportional to `weights` that sum exactly to `total`."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    out = [math.floor(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (out[i] - raw[i], i))
    for i in order[: total - sum(out)]:
        out[i] += 1
    return out


def scale_to_sum(values: np.ndarray, total: int, minimum: int) -> list[int]:
    weights = np.maximum(values, minimum).astype(float)
    return largest_remainder(total, list(weights))


def random_date(rng: np.random.Generator, start: date, end: date) -> str:
    return (start + timedelta(days=int(rng.integers(0, (end - start).days + 1)))).isoformat()


# ------------------------------------------------------------------------------------------- model
@dataclass
class Town:
    fact: facts.TownFact
    polygon: Polygon | MultiPolygon
    inner: Polygon | MultiPolygon
    area_km2: float
    communities: int = 0
    villages: int = 0


@dataclass
class Generator:
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(SEED))
    layers: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {name: [] for name in LAYER_FILES}
    )
    towns: dict[str, Town] = field(default_factory=dict)

    # -- sampling -------------------------------------------------------------------------------
    def sample_in(
        self,
        region: Polygon | MultiPolygon,
        centre: tuple[float, float] | None = None,
        radius_km: float = 0.0,
        avoid: list[tuple[float, float]] | None = None,
        spacing_km: float = 0.0,
    ) -> tuple[float, float]:
        """A random point inside `region` (within `radius_km` of `centre` when given), kept
        `spacing_km` from the points in `avoid`; the spacing and radius relax if space runs out."""
        minx, miny, maxx, maxy = region.bounds
        for attempt in range(20_000):
            if centre is not None:
                r = radius_km * math.sqrt(self.rng.random())
                a = 2 * math.pi * self.rng.random()
                x, y = km_offset(centre[0], centre[1], r * math.cos(a), r * math.sin(a))
            else:
                x, y = minx + (maxx - minx) * self.rng.random(), miny + (maxy - miny) * self.rng.random()
            x, y = r6(x), r6(y)
            if not region.contains(Point(x, y)):
                continue
            relax = 0.85 ** (attempt // 500)
            if avoid and spacing_km and any(approx_km((x, y), p) < spacing_km * relax for p in avoid):
                continue
            return x, y
        raise RuntimeError("could not place a point: region too small")

    def feature(self, layer: str, code: str, geometry: dict[str, Any] | None, **props: Any) -> None:
        self.layers[layer].append(
            {"type": "Feature", "id": code, "geometry": geometry, "properties": {"code": code, **props}}
        )

    # -- layers ---------------------------------------------------------------------------------
    def city_and_towns(self) -> None:
        outline = Polygon(facts.CITY_OUTLINE)
        self.feature(
            "cities", facts.CITY_CODE, polygon_json(outline), name=facts.CITY_NAME, name_en=facts.CITY_NAME_EN
        )
        seats = MultiPoint([t.seat for t in facts.TOWNS])
        cells = list(shapely.voronoi_polygons(seats, extend_to=outline).geoms)
        for fact in facts.TOWNS:
            cell = next(c for c in cells if c.contains(Point(fact.seat)))
            polygon = shapely.set_precision(cell.intersection(outline), 1e-6)
            inner = polygon.buffer(-INNER_MARGIN_DEG)
            area = polygon.area * KM_PER_DEG_LON * KM_PER_DEG_LAT
            self.towns[fact.code] = Town(fact, polygon, inner, area)
            self.feature(
                "towns",
                fact.code,
                polygon_json(polygon),
                name=fact.name,
                name_en=fact.name_en,
                kind=fact.kind,
                city_code=facts.CITY_CODE,
            )
        # Rural communities and villages in proportion to land, urban units weighted down (built-up).
        weights = [t.area_km2 * (0.5 if t.fact.urban else 1.0) for t in self.towns.values()]
        for town, n_comm, n_vil in zip(
            self.towns.values(),
            largest_remainder(facts.RURAL_COMMUNITIES, weights),
            largest_remainder(facts.ADMINISTRATIVE_VILLAGES, weights),
            strict=True,
        ):
            town.communities, town.villages = n_comm, n_vil

    def village_name(self, used: set[str]) -> str:
        while True:
            name = (
                str(self.rng.choice(VILLAGE_PREFIXES))
                + str(self.rng.choice(SURNAMES))
                + str(self.rng.choice(VILLAGE_ENDINGS))
                + "村"
            )
            if name not in used:
                used.add(name)
                return name

    def communities_and_villages(self) -> list[dict[str, Any]]:
        villages: list[dict[str, Any]] = []
        for town in self.towns.values():
            used_names: set[str] = set()
            centres: list[tuple[float, float]] = []
            for _ in range(town.communities):
                centres.append(self.sample_in(town.inner, avoid=centres, spacing_km=2.5))
            per_comm = largest_remainder(town.villages, [1.0] * town.communities)
            placed: list[tuple[float, float]] = []
            for ci, (centre, n) in enumerate(zip(centres, per_comm, strict=True)):
                comm_code = f"{town.fact.code}{201 + ci:03d}"
                names = []
                for vi in range(n):
                    xy = self.sample_in(
                        town.inner,
                        centre=centre,
                        radius_km=facts.COMMUNITY_SERVICE_RADIUS_M / 1000,
                        avoid=placed,
                        spacing_km=0.4,
                    )
                    placed.append(xy)
                    name = self.village_name(used_names)
                    names.append(name)
                    villages.append(
                        {
                            "code": f"{comm_code}{vi + 1:02d}",
                            "name": name,
                            "xy": xy,
                            "town": town.fact.code,
                            "community": comm_code,
                        }
                    )
                self.feature(
                    "communities",
                    comm_code,
                    point_json(centre),
                    name=names[0][:-1] + "社区",
                    kind="rural",
                    town_code=town.fact.code,
                    population=None,
                    households=None,
                )
        self.urban_communities()
        self.village_numbers(villages)
        return villages

    def urban_communities(self) -> None:
        n_urban = facts.COMMUNITIES_TOTAL - facts.RURAL_COMMUNITIES
        assert sum(URBAN_COMMUNITY_SPLIT.values()) == n_urban
        pops = scale_to_sum(self.rng.lognormal(0, 0.35, n_urban), facts.URBAN_POPULATION, 1)
        words = iter(URBAN_WORDS)
        k = 0
        for town_code, n in URBAN_COMMUNITY_SPLIT.items():
            town = self.towns[town_code]
            placed: list[tuple[float, float]] = []
            for i in range(n):
                xy = self.sample_in(
                    town.inner, centre=town.fact.seat, radius_km=3.0, avoid=placed, spacing_km=0.6
                )
                placed.append(xy)
                pop = pops[k]
                k += 1
                self.feature(
                    "communities",
                    f"{town_code}{i + 1:03d}",
                    point_json(xy),
                    name=next(words) + "社区",
                    kind="urban",
                    town_code=town_code,
                    population=pop,
                    households=max(1, round(pop / 2.8)),
                )

    def village_numbers(self, villages: list[dict[str, Any]]) -> None:
        n = len(villages)
        pops = scale_to_sum(self.rng.lognormal(math.log(560), 0.45, n), facts.RURAL_POPULATION, 80)
        size = self.rng.uniform(2.7, 3.1, n)
        share = self.rng.uniform(0.90, 0.98, n)
        for v, pop, hh_size, toilet_share in zip(villages, pops, size, share, strict=True):
            households = max(1, round(pop / hh_size))
            v["population"] = pop
            v["households"] = households
            v["toilets_rebuilt"] = int(households * toilet_share)
            self.feature(
                "villages",
                v["code"],
                point_json(v["xy"]),
                name=v["name"],
                town_code=v["town"],
                community_code=v["community"],
                population=pop,
                households=households,
                toilets_rebuilt=v["toilets_rebuilt"],
                waste_rate_kg_per_person_day=None,
            )

    def collection_points(self, villages: list[dict[str, Any]]) -> None:
        for v in villages:
            town = self.towns[v["town"]]
            xy = self.sample_in(town.inner, centre=v["xy"], radius_km=0.25)
            waste_t = v["population"] * facts.WASTE_KG_PER_PERSON_DAY / 1000
            self.feature(
                "collection_points",
                f"CP-{v['code']}",
                point_json(xy),
                name=v["name"] + "垃圾收集点",
                name_en=None,
                status="operational",
                capacity=round(math.ceil(waste_t * 15) / 10, 1),
                capacity_unit="t/d",
                commissioned_on=random_date(self.rng, date(2015, 3, 1), date(2019, 12, 31)),
                operator=town.fact.name + "环卫所",
                town_code=v["town"],
                kind="bin_station",
                village_code=v["code"],
            )
            v["collection_point"] = f"CP-{v['code']}"

    def transfer_stations(self, villages: list[dict[str, Any]]) -> None:
        for town in self.towns.values():
            rural_pop = sum(v["population"] for v in villages if v["town"] == town.fact.code)
            waste_t = rural_pop * facts.WASTE_KG_PER_PERSON_DAY / 1000
            capacity = max(30, math.ceil(waste_t * 1.6 / 10) * 10)
            campaign = town.fact.code in CAMPAIGN_STATION_TOWNS
            commissioned = (
                random_date(self.rng, date(2018, 4, 1), date(2020, 11, 30))
                if campaign
                else random_date(self.rng, date(2011, 5, 1), date(2016, 10, 31))
            )
            xy = self.sample_in(town.inner, centre=town.fact.seat, radius_km=2.0)
            self.feature(
                "transfer_stations",
                f"TS-{town.fact.code}",
                point_json(xy),
                name=town.fact.name + "垃圾压缩中转站",
                name_en=town.fact.name_en + " waste transfer station",
                status="operational",
                capacity=capacity,
                capacity_unit="t/d",
                commissioned_on=commissioned,
                operator=CITY_OPERATOR,
                town_code=town.fact.code,
                compression=True,
                campaign=facts.NEW_STATION_CAMPAIGN if campaign else None,
            )

    def plants_and_centres(self) -> None:
        longdu = self.towns["370782002"]
        plant_xy = self.sample_in(longdu.inner, centre=km_offset(*longdu.fact.seat, 3.0, -2.0), radius_km=1.0)
        self.feature(
            "treatment_plants",
            "TP-INC-2",
            point_json(plant_xy),
            name="诸城市生活垃圾焚烧发电厂（二期）",
            name_en="Zhucheng waste-to-energy plant, phase 2",
            status="operational",
            capacity=facts.INCINERATION_PHASE2_T_PER_DAY,
            capacity_unit="t/d",
            commissioned_on="2020-06-30",
            operator="诸城市生活垃圾焚烧发电厂",
            town_code=longdu.fact.code,
            kind="incineration",
            phase=2,
            power_mw=None,
        )
        jiayue = self.towns[BIOGAS_TOWN]
        landfill_xy = self.sample_in(
            jiayue.inner, centre=km_offset(*jiayue.fact.seat, 4.0, 2.0), radius_km=1.5
        )
        self.feature(
            "treatment_plants",
            "TP-LF-1",
            point_json(landfill_xy),
            name="诸城市生活垃圾卫生填埋场",
            name_en="Zhucheng sanitary landfill",
            status="closed",
            capacity=300,
            capacity_unit="t/d",
            commissioned_on="2006-09-01",
            operator=CITY_OPERATOR,
            town_code=jiayue.fact.code,
            kind="landfill",
            phase=None,
            power_mw=None,
        )
        for i, code in enumerate(MANURE_CENTER_TOWNS, start=1):
            town = self.towns[code]
            xy = self.sample_in(town.inner, centre=town.fact.seat, radius_km=3.0)
            self.feature(
                "manure_centers",
                f"MC-{i:02d}",
                point_json(xy),
                name=town.fact.name + "粪污集中收集处理中心",
                name_en=town.fact.name_en + " fecal and manure treatment centre",
                status="operational",
                capacity=450,
                capacity_unit="t/d",
                commissioned_on=random_date(self.rng, date(2018, 6, 1), date(2020, 10, 31)),
                operator=town.fact.name + "人民政府",
                town_code=code,
                accepts_fecal_sludge=True,
                accepts_manure=True,
                process="固液分离 + 厌氧发酵 + 好氧堆肥",
                forwarded_share=MANURE_CENTER_FORWARDED_SHARE,
            )
        bio_xy = self.sample_in(jiayue.inner, centre=km_offset(*jiayue.fact.seat, -2.0, -3.0), radius_km=1.0)
        self.feature(
            "biogas_centers",
            "BG-01",
            point_json(bio_xy),
            name="诸城市大型沼气处理中心",
            name_en="Zhucheng large biogas centre",
            status="operational",
            capacity=800,
            capacity_unit="t/d",
            commissioned_on="2019-10-15",
            operator="诸城市农业农村局",
            town_code=BIOGAS_TOWN,
            biogas_m3_per_day=20000,
        )

    def farms(self) -> None:
        rural = [t for t in self.towns.values() if t.fact.kind == "town"]
        species_list = [s for s, n in FARM_SPECIES_COUNTS.items() for _ in range(n)]
        assert len(species_list) == facts.LARGE_FARMS_WITH_FACILITIES
        towns_for_farm = self.rng.choice(len(rural), size=len(species_list), p=_area_shares(rural))
        facility_types = [t for t in MANURE_FACILITY_TYPES if t != "none"]
        placed: list[tuple[float, float]] = []
        for i, (species, ti) in enumerate(zip(species_list, towns_for_farm, strict=True), start=1):
            town = rural[int(ti)]
            minimum = LARGE_FARM_THRESHOLDS[species][1]
            head = int(math.ceil(minimum * (1.05 + self.rng.lognormal(0, 0.7)) / 10) * 10)
            xy = self.sample_in(town.inner, avoid=placed, spacing_km=0.5)
            placed.append(xy)
            surname = str(self.rng.choice(SURNAMES))
            self.feature(
                "livestock_farms",
                f"LF-{i:04d}",
                point_json(xy),
                name=f"{town.fact.name}{surname}氏{SPECIES_CN[species]}养殖场",
                name_en=None,
                status="operational",
                capacity=round(head * _STORAGE_M3_PER_HEAD[species], 1),
                capacity_unit="m3",
                commissioned_on=random_date(self.rng, date(2008, 1, 1), date(2019, 12, 31)),
                operator=None,
                town_code=town.fact.code,
                species=species,
                head_count=head,
                manure_facility_type=str(self.rng.choice(facility_types)),
            )

    def public_toilets(self) -> None:
        n = 0
        for kind, split in (("new", PUBLIC_TOILETS_NEW_SPLIT), ("rebuilt", PUBLIC_TOILETS_REBUILT_SPLIT)):
            for town_code, count in split.items():
                town = self.towns[town_code]
                placed: list[tuple[float, float]] = []
                for _ in range(count):
                    n += 1
                    xy = self.sample_in(
                        town.inner, centre=town.fact.seat, radius_km=3.0, avoid=placed, spacing_km=0.4
                    )
                    placed.append(xy)
                    label = "新建" if kind == "new" else "改建"
                    self.feature(
                        "public_toilets",
                        f"PT-{kind[0].upper()}{n:02d}",
                        point_json(xy),
                        name=f"{town.fact.name}第{n}号公厕（{label}）",
                        name_en=None,
                        status="operational",
                        capacity=int(self.rng.integers(6, 17)),
                        capacity_unit="stalls",
                        commissioned_on=random_date(self.rng, date(2020, 3, 1), date(2020, 12, 31)),
                        operator=CITY_OPERATOR,
                        town_code=town_code,
                        kind=kind,
                    )

    def chain_links(self, villages: list[dict[str, Any]]) -> None:
        def link(
            stream: str, src: tuple[str, str, tuple[float, float]], dst: tuple[str, str, tuple[float, float]]
        ):
            self.layers["chain_links"].append(
                {
                    "type": "Feature",
                    "id": f"{stream}:{src[0]}:{src[1]}>{dst[0]}:{dst[1]}",
                    "geometry": {
                        "type": "LineString",
                        "coordinates": [[r6(src[2][0]), r6(src[2][1])], [r6(dst[2][0]), r6(dst[2][1])]],
                    },
                    "properties": {
                        "stream": stream,
                        "source_layer": src[0],
                        "source_code": src[1],
                        "target_layer": dst[0],
                        "target_code": dst[1],
                    },
                }
            )

        xy = {
            f["id"]: tuple(f["geometry"]["coordinates"])
            for layer in self.layers.values()
            for f in layer
            if f["geometry"] and f["geometry"]["type"] == "Point"
        }
        node = {layer: lambda code, layer=layer: (layer, code, xy[code]) for layer in LAYER_FILES}
        plant = node["treatment_plants"]("TP-INC-2")
        biogas = node["biogas_centers"]("BG-01")
        centres = [f["id"] for f in self.layers["manure_centers"]]

        def nearest_centre(p: tuple[float, float]) -> tuple[str, str, tuple[float, float]]:
            return node["manure_centers"](min(centres, key=lambda c: (approx_km(p, xy[c]), c)))

        for v in villages:  # domestic waste: village → collection point → town station → plant
            link(
                "domestic_waste",
                node["villages"](v["code"]),
                node["collection_points"](v["collection_point"]),
            )
        for v in villages:
            link(
                "domestic_waste",
                node["collection_points"](v["collection_point"]),
                node["transfer_stations"](f"TS-{v['town']}"),
            )
        for station in self.layers["transfer_stations"]:
            link("domestic_waste", node["transfer_stations"](station["id"]), plant)
        for v in villages:  # toilet sludge: village (its rebuilt toilets) → nearest centre → biogas
            link("fecal_sludge", node["villages"](v["code"]), nearest_centre(v["xy"]))
        for c in centres:
            link("fecal_sludge", node["manure_centers"](c), biogas)
        for farm in self.layers["livestock_farms"]:  # manure: farm → centre (or biogas when close) → biogas
            p = xy[farm["id"]]
            target = biogas if approx_km(p, biogas[2]) <= FARM_DIRECT_TO_BIOGAS_KM else nearest_centre(p)
            link("manure", node["livestock_farms"](farm["id"]), target)
        for c in centres:
            link("manure", node["manure_centers"](c), biogas)

    def run(self) -> dict[str, list[dict[str, Any]]]:
        self.city_and_towns()
        villages = self.communities_and_villages()
        self.collection_points(villages)
        self.transfer_stations(villages)
        self.plants_and_centres()
        self.farms()
        self.public_toilets()
        self.chain_links(villages)
        # last, and with a generator of their own: the other layers do not change with the grids
        self.layers["grids"] = grids.grid_features(self.layers, tuple(URBAN_COMMUNITY_SPLIT), SEED + 1)
        check_facts(self.layers)
        return self.layers


# SYNTHETIC on-site storage volume per head (m3), for the farms' facility capacity.
_STORAGE_M3_PER_HEAD = {"pig": 0.3, "broiler": 0.002, "layer": 0.01, "beef": 1.5, "sheep": 0.2, "dairy": 3.0}


def _area_shares(towns: list[Town]) -> list[float]:
    total = sum(t.area_km2 for t in towns)
    return [t.area_km2 / total for t in towns]


def check_facts(layers: dict[str, list[dict[str, Any]]]) -> None:
    """Fail loudly if the generated data no longer reproduces a figure of the source document."""

    def props(layer: str) -> Iterator[dict[str, Any]]:
        return (f["properties"] for f in layers[layer])

    rural = [p for p in props("communities") if p["kind"] == "rural"]
    population = sum(p["population"] for p in props("villages")) + sum(
        p["population"] or 0 for p in props("communities")
    )
    stations = list(props("transfer_stations"))
    farms = list(props("livestock_farms"))
    toilets = list(props("public_toilets"))
    checks = {
        "14 town-level units": len(layers["towns"]) == 14,
        "1,249 villages": len(layers["villages"]) == facts.ADMINISTRATIVE_VILLAGES,
        "208 rural communities": len(rural) == facts.RURAL_COMMUNITIES,
        "244 communities": len(layers["communities"]) == facts.COMMUNITIES_TOTAL,
        "30 grids over 39 communities": len(layers["grids"]) == facts.URBAN_GRIDS
        and sum(len(p["community_codes"].split(",")) for p in props("grids")) == facts.BUILT_UP_COMMUNITIES,
        "97 assisting units, 60 supervisors": sum(
            len(p["assisting_units"].split(",")) for p in props("grids")
        )
        == facts.GRID_ASSISTING_UNITS
        and sum(len(p["supervisors"].split(",")) for p in props("grids")) == facts.GRID_SUPERVISORS,
        "1.1 million people": population == facts.POPULATION,
        "over 230,000 toilets": sum(p["toilets_rebuilt"] for p in props("villages"))
        > facts.TOILETS_REBUILT_MIN,
        "5 campaign stations": sum(1 for p in stations if p["campaign"] == facts.NEW_STATION_CAMPAIGN)
        == facts.NEW_TRANSFER_STATIONS,
        "500 t/d phase 2": any(p["phase"] == 2 and p["capacity"] == 500 for p in props("treatment_plants")),
        "6 manure centres": len(layers["manure_centers"]) == facts.MANURE_CENTERS,
        "1 biogas centre": len(layers["biogas_centers"]) == facts.BIOGAS_CENTERS,
        "566 large farms": len(farms) == facts.LARGE_FARMS_WITH_FACILITIES
        and all(p["head_count"] >= LARGE_FARM_THRESHOLDS[p["species"]][1] for p in farms)
        and all(p["manure_facility_type"] != "none" for p in farms),
        "10 new public toilets": sum(p["kind"] == "new" for p in toilets) == facts.PUBLIC_TOILETS_NEW,
        "40 rebuilt public toilets": sum(p["kind"] == "rebuilt" for p in toilets)
        == facts.PUBLIC_TOILETS_REBUILT,
    }
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise AssertionError(f"demo data no longer reproduces: {', '.join(failed)}")


# ------------------------------------------------------------------------------------------- files
def dump_layer(name: str, features: list[dict[str, Any]]) -> str:
    """GeoJSON (RFC 7946) with one feature per line, so that diffs stay readable."""
    head = json.dumps({"type": "FeatureCollection", "name": name}, ensure_ascii=False)[:-1]
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features]
    return head + ', "features": [\n' + ",\n".join(lines) + "\n]}\n"


def generate() -> dict[str, str]:
    """File name → file text for the whole dataset, manifest included."""
    layers = Generator().run()
    files = {f"{name}.geojson": dump_layer(name, layers[name]) for name in LAYER_FILES}
    roads = road_features(layers)  # not an inventory layer: loaded by `roads.network`
    files[f"{ROADS_FILE}.geojson"] = dump_layer(ROADS_FILE, roads)
    manifest = {
        "dataset": "Zhucheng (诸城市) rural sanitation demo",
        "generator": "service/demo/zhucheng.py",
        "generator_version": GENERATOR_VERSION,
        "seed": SEED,
        "crs": "EPSG:4326 (lon, lat)",
        "synthetic": "positions, names, per-feature numbers and shapes; see gis_data/README.md",
        "counts": {**{name: len(layers[name]) for name in LAYER_FILES}, ROADS_FILE: len(roads)},
        "sha256": {fn: hashlib.sha256(text.encode()).hexdigest() for fn, text in files.items()},
    }
    files["manifest.json"] = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
    return files


def write(out_dir: Path) -> dict[str, int]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = generate()
    for name, text in files.items():
        (out_dir / name).write_text(text, encoding="utf-8")
    return dict(json.loads(files["manifest.json"])["counts"])
