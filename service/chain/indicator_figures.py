"""What the indicators are called, in which unit, and what the source document published for them.

The published figures are those of the source document (Zhucheng, ~2020; `service.demo.facts`), shown
beside the live ones so a reader sees at once whether the inventory still says what was reported.
They describe the whole city: a town's page has none.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.demo import facts
from service.reports.columns import Column

PEOPLE = ("人", "people")
UNITS = ("个", "")
SEATS = ("座", "")
T_DAY = ("吨/日", "t/day")


def _count(key: str, zh: str, en: str, unit: tuple[str, str] = UNITS) -> Column:
    return Column(key, zh, en, "count", *unit)


def _tonnes(key: str, zh: str, en: str) -> Column:
    return Column(key, zh, en, "tonnes", *T_DAY)


FIGURES: dict[str, Column] = {
    c.key: c
    for c in (
        _count("population", "常住人口", "population", PEOPLE),
        _count("rural_population", "农村人口", "rural population", PEOPLE),
        _count("urban_population", "城区人口", "urban population", PEOPLE),
        _count("villages", "行政村", "administrative villages"),
        _count("rural_communities", "农村社区", "rural communities"),
        _count("urban_communities", "城市社区", "urban communities"),
        _count("households", "农户", "rural households", ("户", "")),
        _count("toilets_rebuilt", "新建改建户厕", "household toilets built or rebuilt", SEATS),
        Column("toilet_share", "户厕改造率", "toilets rebuilt per household", "share"),
        _count("villages_waste_connected", "生活垃圾收运覆盖行政村", "villages with waste collection"),
        _count("population_waste_connected", "生活垃圾收运覆盖人口", "people with waste collection", PEOPLE),
        Column(
            "waste_connected_share", "生活垃圾收运覆盖率", "share of villages with waste collection", "share"
        ),
        _count("villages_sludge_connected", "厕所粪污收运覆盖行政村", "villages with sludge collection"),
        _tonnes("waste_generated_t_per_day", "生活垃圾产生量", "domestic waste generated"),
        _tonnes("sludge_generated_t_per_day", "厕所粪污产生量", "toilet sludge generated"),
        _tonnes("manure_generated_t_per_day", "畜禽粪污产生量", "livestock manure generated"),
        Column(
            "manure_pig_equivalents",
            "畜禽存栏（猪当量）",
            "livestock",
            "number",
            "头猪当量",
            "pig equivalents",
        ),
        _count("transfer_stations", "乡镇垃圾压缩中转站", "transfer stations", SEATS),
        _count("transfer_stations_campaign", "2018–2020年新建中转站", "stations built 2018–2020", SEATS),
        _tonnes("transfer_capacity_t_per_day", "中转站处理能力", "transfer capacity"),
        Column(
            "transfer_capacity_ratio",
            "中转能力 / 垃圾产生量",
            "transfer capacity / waste",
            "ratio",
            "倍",
            "×",
        ),
        _tonnes("incineration_capacity_t_per_day", "垃圾焚烧发电处理能力", "incineration capacity"),
        _count("manure_centers", "粪污集中收集处理中心", "manure centres"),
        _count("biogas_centers", "大型沼气处理中心", "biogas centres"),
        _count("large_farms", "规模养殖场", "large-scale farms"),
        _count(
            "large_farms_with_manure_facility",
            "配套粪污处理设施的规模养殖场",
            "large farms with a manure facility",
        ),
        Column("large_farms_facility_share", "规模养殖场设施配套率", "large farms with a facility", "share"),
        _count("large_farms_connected", "粪污进入处理中心的规模养殖场", "large farms reaching a centre"),
        _count("public_toilets_new", "新建城区公厕", "public toilets built", SEATS),
        _count("public_toilets_rebuilt", "改建城区公厕", "public toilets rebuilt", SEATS),
    )
}

# The order of the city (or town) figures on the page and in the reports.
SHOWN = (
    "population",
    "villages",
    "rural_communities",
    "urban_communities",
    "households",
    "toilets_rebuilt",
    "toilet_share",
    "villages_waste_connected",
    "population_waste_connected",
    "waste_connected_share",
    "villages_sludge_connected",
    "waste_generated_t_per_day",
    "sludge_generated_t_per_day",
    "manure_generated_t_per_day",
    "manure_pig_equivalents",
    "transfer_stations",
    "transfer_stations_campaign",
    "transfer_capacity_t_per_day",
    "transfer_capacity_ratio",
    "incineration_capacity_t_per_day",
    "manure_centers",
    "biogas_centers",
    "large_farms",
    "large_farms_with_manure_facility",
    "large_farms_facility_share",
    "large_farms_connected",
    "public_toilets_new",
    "public_toilets_rebuilt",
)
# The per-town table: what differs between towns.
TOWN_FIGURES = (
    "villages",
    "population",
    "toilets_rebuilt",
    "toilet_share",
    "waste_connected_share",
    "waste_generated_t_per_day",
    "transfer_capacity_t_per_day",
    "transfer_capacity_ratio",
    "large_farms",
    "large_farms_facility_share",
)


@dataclass(frozen=True)
class Published:
    value: int
    at_least: bool = False  # "over 230,000"

    def met_by(self, live: float | None) -> bool:
        if live is None:
            return False
        return live >= self.value if self.at_least else live == self.value


PUBLISHED: dict[str, Published] = {
    "population": Published(facts.POPULATION),
    "villages": Published(facts.ADMINISTRATIVE_VILLAGES),
    "rural_communities": Published(facts.RURAL_COMMUNITIES),
    "urban_communities": Published(facts.COMMUNITIES_TOTAL - facts.RURAL_COMMUNITIES),
    "toilets_rebuilt": Published(facts.TOILETS_REBUILT_MIN, at_least=True),
    "transfer_stations_campaign": Published(facts.NEW_TRANSFER_STATIONS),
    "incineration_capacity_t_per_day": Published(facts.INCINERATION_PHASE2_T_PER_DAY),
    "manure_centers": Published(facts.MANURE_CENTERS),
    "biogas_centers": Published(facts.BIOGAS_CENTERS),
    "large_farms_with_manure_facility": Published(facts.LARGE_FARMS_WITH_FACILITIES),
    "public_toilets_new": Published(facts.PUBLIC_TOILETS_NEW),
    "public_toilets_rebuilt": Published(facts.PUBLIC_TOILETS_REBUILT),
}
PUBLISHED_SOURCE = (
    "诸城市农村人居环境整治公开资料（约2020年）",
    "Zhucheng's published rural sanitation figures (about 2020)",
)
