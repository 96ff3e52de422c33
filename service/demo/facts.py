"""Public facts about Zhucheng (诸城市) the demo dataset reproduces, each with its source.

Everything here is factual unless marked SYNTHETIC. The generator (zhucheng.py) adds synthetic
detail (exact positions, names, per-village numbers) around these facts, never contradicting them.
"""

from __future__ import annotations

from dataclasses import dataclass

CITY_CODE = "370782"  # National Bureau of Statistics division code of 诸城市 (Weifang, Shandong)
CITY_NAME = "诸城市"
CITY_NAME_EN = "Zhucheng"


@dataclass(frozen=True)
class TownFact:
    code: str
    name: str
    name_en: str
    kind: str  # subdistrict / town / development_zone
    seat: tuple[float, float]  # (lon, lat), approximate (±5 km): a demo, never the field
    urban: bool  # part of the urban area (subdistricts and the development zone)


# Official statistical codes: National Bureau of Statistics division codes, 2023.
# Seats: DESIGN.md §1 (approximate). The development zone's seat is SYNTHETIC (none published).
TOWNS: tuple[TownFact, ...] = (
    TownFact("370782001", "密州街道", "Mizhou Subdistrict", "subdistrict", (119.41, 36.00), True),
    TownFact("370782002", "龙都街道", "Longdu Subdistrict", "subdistrict", (119.46, 35.99), True),
    TownFact("370782003", "舜王街道", "Shunwang Subdistrict", "subdistrict", (119.38, 36.04), True),
    TownFact("370782101", "枳沟镇", "Zhigou Town", "town", (119.20, 35.89), False),
    TownFact("370782102", "贾悦镇", "Jiayue Town", "town", (119.22, 35.99), False),
    TownFact("370782105", "石桥子镇", "Shiqiaozi Town", "town", (119.27, 36.07), False),
    TownFact("370782108", "相州镇", "Xiangzhou Town", "town", (119.37, 36.13), False),
    TownFact("370782110", "昌城镇", "Changcheng Town", "town", (119.49, 36.09), False),
    TownFact("370782111", "百尺河镇", "Baichihe Town", "town", (119.61, 36.10), False),
    TownFact("370782112", "辛兴镇", "Xinxing Town", "town", (119.57, 35.97), False),
    TownFact("370782114", "林家村镇", "Linjiacun Town", "town", (119.55, 35.86), False),
    TownFact("370782117", "皇华镇", "Huanghua Town", "town", (119.42, 35.82), False),
    TownFact("370782118", "桃林镇", "Taolin Town", "town", (119.27, 35.77), False),
    TownFact(
        "370782400",
        "诸城经济开发区",
        "Zhucheng Economic Development Zone",
        "development_zone",
        (119.35, 35.96),
        True,
    ),
)

# City outline: SYNTHETIC shape. A hand-drawn 21-vertex polygon inside the published extent
# (35°42′N–36°21′N, 119°00′E–119°44′E) around all town seats, scaled about its centroid so that its
# geodesic area equals the published area, about 2,183 km². Good enough for a demo map, not for the field.
CITY_OUTLINE: tuple[tuple[float, float], ...] = (
    (119.0607, 35.9313),
    (119.1091, 36.0281),
    (119.1865, 36.0958),
    (119.2542, 36.1539),
    (119.3317, 36.2119),
    (119.3994, 36.2409),
    (119.4671, 36.1926),
    (119.5445, 36.1635),
    (119.6316, 36.1539),
    (119.6897, 36.0958),
    (119.6800, 36.0184),
    (119.6510, 35.9410),
    (119.6123, 35.8636),
    (119.5542, 35.7958),
    (119.4671, 35.7668),
    (119.3994, 35.7378),
    (119.3220, 35.7184),
    (119.2446, 35.7281),
    (119.1768, 35.7765),
    (119.1285, 35.8345),
    (119.0801, 35.8829),
)
CITY_AREA_KM2 = 2183  # published area

# Figures of the source document (Zhucheng, ~2020) and other published facts.
POPULATION = 1_100_000  # about 1.1 million residents (2019)
ADMINISTRATIVE_VILLAGES = 1_249  # merged in 2010 into ...
RURAL_COMMUNITIES = 208  # ... 208 rural communities on a 2 km service radius
COMMUNITIES_TOTAL = 244  # 244 communities in all (so 36 urban communities)
COMMUNITY_SERVICE_RADIUS_M = 2_000
# The urban area's responsibility grids (网格包靠责任制): 30 grids over the 39 communities of the
# built-up area of the 4 subdistricts/parks (the 36 urban communities and 3 rural ones, DESIGN.md §1),
# with 30 city-level leaders, 30 grid-head units, 97 assisting units and 60 supervisors in all.
URBAN_GRIDS = 30
BUILT_UP_COMMUNITIES = 39
GRID_ASSISTING_UNITS = 97
GRID_SUPERVISORS = 60
TOILETS_REBUILT_MIN = 230_000  # "over 230,000 rural household toilets newly built or rebuilt"
NEW_TRANSFER_STATIONS = 5  # "5 new town-level garbage compression transfer stations"
NEW_STATION_CAMPAIGN = "2018-2020"
INCINERATION_PHASE2_T_PER_DAY = 500  # phase-2 incineration power plant, 日处理能力500吨
MANURE_CENTERS = 6  # centralised fecal/manure collection and treatment centres
BIOGAS_CENTERS = 1  # large biogas treatment centre
LARGE_FARMS_WITH_FACILITIES = 566  # large-scale farms fitted with manure treatment facilities
PUBLIC_TOILETS_NEW = 10
PUBLIC_TOILETS_REBUILT = 40

# Planning default (DESIGN.md: 闫骏 et al. 2014; 李丹 et al. 2018): rural domestic waste per person.
WASTE_KG_PER_PERSON_DAY = 0.4

# SYNTHETIC split of the population: rural villages vs. urban communities (sums to POPULATION).
RURAL_POPULATION = 720_000
URBAN_POPULATION = POPULATION - RURAL_POPULATION
