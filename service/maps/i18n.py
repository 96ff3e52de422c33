"""Words on the maps, in Chinese (the default) and English (`?lang=en`)."""

from __future__ import annotations

from typing import Literal

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

_WORDS: dict[str, tuple[str, str]] = {
    # layers
    "towns": ("乡镇（街道）", "Towns"),
    "villages": ("行政村", "Villages"),
    "collection_points": ("村收集点", "Collection points"),
    "transfer_stations": ("乡镇垃圾压缩中转站", "Transfer stations"),
    "treatment_plants": ("垃圾焚烧发电厂/填埋场", "Treatment plants"),
    "manure_centers": ("粪污集中处理中心", "Manure centres"),
    "biogas_centers": ("大型沼气处理中心", "Biogas centre"),
    "livestock_farms": ("规模养殖场", "Livestock farms"),
    "public_toilets": ("城区公厕", "Public toilets"),
    "service_areas": ("服务范围", "Service areas"),
    "gap_clusters": ("服务空白区", "Gap areas"),
    "facility": ("设施", "Facility"),
    "upstream": ("上游（来源）", "Feeds it (upstream)"),
    "downstream": ("下游（去向）", "It feeds (downstream)"),
    # streams
    "flow_domestic_waste": ("生活垃圾流向", "Domestic waste flows"),
    "flow_fecal_sludge": ("厕所粪污流向", "Toilet sludge flows"),
    "flow_manure": ("畜禽粪污流向", "Manure flows"),
    "domestic_waste": ("生活垃圾", "domestic waste"),
    "fecal_sludge": ("厕所粪污", "toilet sludge"),
    "manure": ("畜禽粪污", "manure"),
    # statuses
    "planned": ("规划", "planned"),
    "under_construction": ("在建", "under construction"),
    "operational": ("运行", "operational"),
    "suspended": ("停运", "suspended"),
    "closed": ("关闭", "closed"),
    # species
    "pig": ("生猪", "pigs"),
    "dairy": ("奶牛", "dairy cattle"),
    "beef": ("肉牛", "beef cattle"),
    "sheep": ("羊", "sheep"),
    "layer": ("蛋鸡", "laying hens"),
    "broiler": ("肉鸡", "broilers"),
    # kinds
    "subdistrict": ("街道", "subdistrict"),
    "town": ("镇", "town"),
    "development_zone": ("开发区", "development zone"),
    "bin_station": ("垃圾桶站", "bin station"),
    "collection_room": ("垃圾收集房", "collection room"),
    "container_point": ("集装箱收集点", "container point"),
    "collection_station": ("收集站", "collection station"),
    "small": ("小型", "small"),
    "medium": ("中型", "medium"),
    "large": ("大型", "large"),
    "incineration": ("焚烧发电", "incineration"),
    "landfill": ("卫生填埋", "landfill"),
    "new": ("新建", "new"),
    "rebuilt": ("改建", "rebuilt"),
    # attributes
    "code": ("编码", "Code"),
    "status": ("状态", "Status"),
    "capacity": ("设计能力", "Capacity"),
    "inflow": ("流入量", "Inflow"),
    "utilisation": ("负荷率", "Utilisation"),
    "population": ("人口", "Population"),
    "households": ("户数", "Households"),
    "toilets_rebuilt": ("改厕户数", "Toilets rebuilt"),
    "waste_connected": ("垃圾收运接入", "Waste chain connected"),
    "sludge_connected": ("粪污收运接入", "Sludge chain connected"),
    "species": ("畜种", "Species"),
    "head_count": ("规模（头/只）", "Head count"),
    "manure_facility": ("粪污处理设施", "Manure facility"),
    "kind": ("类型", "Kind"),
    "villages_count": ("行政村数", "Villages"),
    "flow": ("流量", "Flow"),
    "distance": ("距离", "Distance"),
    "from": ("来源", "From"),
    "to": ("去向", "To"),
    "served": ("已覆盖", "served"),
    "unserved": ("未覆盖", "not served"),
    "nearest": ("最近设施距离", "Nearest facility"),
    "pig_equivalents": ("猪当量", "Pig equivalents"),
    "rank": ("优先级", "Rank"),
    "farms_count": ("养殖场数", "Farms"),
    "reach": ("服务半径", "Reach"),
    "villages_served": ("覆盖村数", "Villages served"),
    "population_served": ("覆盖人口", "People served"),
    "farms_served": ("覆盖养殖场数", "Farms served"),
    "stream": ("类别", "Stream"),
    "town_name": ("所属乡镇", "Town"),
    "legend_gaps": ("服务空白区：圆圈大小=未覆盖人口", "Gap areas: size = people not served"),
    "legend_reach": ("服务半径（虚线=假设新址）", "Reach (dashed = hypothetical site)"),
    "legend_service_area": (
        "实际服务范围（上游来源的外包区域）",
        "Area actually served (hull of its sources)",
    ),
    "legend_upstream": ("上游来源", "Sources feeding it"),
    "legend_downstream": ("下游去向", "Where it delivers"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "unknown": ("未知", "unknown"),
    # links and panel
    "record": ("API 记录", "API record"),
    "own_map": ("单独地图", "Its own map"),
    "town_map": ("乡镇地图", "Town map"),
    "legend": ("图例", "Legend"),
    "links": ("链接", "Links"),
    "collections": ("图层（要素集合）", "Layers (feature collections)"),
    "api_docs": ("API 文档", "API documentation"),
    "sign_in": ("登录", "Sign in"),
    "conformance": ("符合性声明", "Conformance classes"),
    "indicators": ("指标", "Indicators"),
    "city_map": ("全市地图", "City map"),
    "language": ("English", "中文"),
    # legend texts
    "legend_town_shade": ("乡镇底色：", "Town shade: "),
    "legend_village": (
        "村：圆圈大小=人口；绿色=已接入垃圾收运，红色=未接入",
        "Villages: size = population; green = connected to the waste chain, red = not connected",
    ),
    "legend_utilisation": (
        "设施：圆圈大小=设计能力；填充色=负荷率",
        "Facilities: size = capacity; fill = utilisation",
    ),
    "legend_util_low": ("< 80%", "< 80%"),
    "legend_util_high": ("80–100%", "80–100%"),
    "legend_util_over": ("> 100%（超负荷）", "> 100% (overloaded)"),
    "legend_util_none": ("无流入数据/无能力", "no inflow or capacity"),
    "legend_outline": ("虚线边框=未运行（规划/在建/停运/关闭）", "dashed outline = not operational"),
    "legend_flows": ("流向线：宽度=吨/日", "Flow lines: width = t/day"),
    "legend_farms": (
        "养殖场：绿色=有粪污处理设施，红色=无（聚合显示，数字为个数）",
        "Farms: green = on-site manure facility, red = none (clustered, numbers count farms)",
    ),
    "legend_toilets": ("公厕", "Public toilets"),
    "legend_served": ("绿色=已覆盖，红色=未覆盖", "green = served, red = not served"),
    "legend_source_links_dropped": (
        "来源流向线过多，仅显示设施之间的流向",
        "too many source links: only facility-to-facility flows are drawn",
    ),
    # indicators shading the towns
    "waste_connected_share": ("垃圾收运接入村比例", "share of villages connected to the waste chain"),
    "toilet_share": ("改厕率", "share of households with a rebuilt toilet"),
    "transfer_capacity_ratio": ("中转能力/垃圾产生量", "transfer capacity / waste generated"),
    "large_farms_facility_share": ("规模养殖场粪污设施配套率", "share of large farms with a manure facility"),
    "villages_served_share": ("覆盖村比例", "share of villages served"),
    # titles
    "title_city": ("{name}农村环境卫生设施地图", "{name}: rural sanitation facilities"),
    "title_town": ("{name}：设施与流向", "{name}: facilities and flows"),
    "title_facility": ("{name}：服务范围与上下游", "{name}: service area, what feeds it and what it feeds"),
    "title_coverage": ("{layer}覆盖范围（{distance} 米）", "Coverage of {layer} within {distance} m"),
    "title_coverage_road": (
        "{layer}覆盖范围（沿道路 {distance} 米）",
        "Coverage of {layer} within {distance} m by road",
    ),
}


def words(lang: Lang) -> dict[str, str]:
    """Every word in one language, for Python (legends, titles) and the page script (popups)."""
    i = LANGS.index(lang)
    return {key: pair[i] for key, pair in _WORDS.items()}
