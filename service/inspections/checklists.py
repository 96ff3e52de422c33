"""What an inspector checks at each kind of facility: item keys with their Chinese and English labels.

An item's answer is true (fine), false (a defect) or null (not checked). A visit's outcome is the
inspector's word, not derived from the items: a station may be out of service for a reason no item names.
"""

from __future__ import annotations

from service.vocabulary import INSPECTED_LAYERS

# (key, 中文, English), in the order the form asks them
CHECKLISTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "collection_points": (
        ("bins_intact", "垃圾桶完好", "bins intact"),
        ("sorted_correctly", "分类投放正确", "waste sorted correctly"),
        ("collected_on_time", "按时清运", "collected on schedule"),
        ("site_clean", "周边整洁", "site clean"),
    ),
    "transfer_stations": (
        ("compactor_works", "压缩设备运转正常", "compactor works"),
        ("leachate_contained", "渗滤液收集无外溢", "leachate contained"),
        ("site_clean", "站内外整洁", "site clean"),
        ("odour_controlled", "除臭设施运行", "odour controlled"),
    ),
    "treatment_plants": (
        ("operating", "设施正常运行", "operating"),
        ("emissions_monitored", "排放在线监测正常", "emissions monitored"),
        ("leachate_treated", "渗滤液处理正常", "leachate treated"),
        ("site_clean", "厂区整洁", "site clean"),
    ),
    "manure_centers": (
        ("operating", "设施正常运行", "operating"),
        ("storage_not_overflowing", "贮存池无满溢", "storage not overflowing"),
        ("no_discharge", "无直排", "no discharge"),
        ("ledger_kept", "台账完整", "ledger kept"),
    ),
    "biogas_centers": (
        ("digester_operating", "厌氧罐运行正常", "digester operating"),
        ("gas_safety", "沼气安全设施完好", "gas safety equipment intact"),
        ("digestate_used", "沼渣沼液资源化利用", "digestate used"),
        ("ledger_kept", "台账完整", "ledger kept"),
    ),
    "livestock_farms": (
        ("manure_facility_operating", "粪污处理设施运行", "manure facility operating"),
        ("storage_not_overflowing", "贮存设施无满溢", "storage not overflowing"),
        ("no_discharge", "无直排", "no discharge"),
        ("ledger_kept", "粪污利用台账完整", "manure ledger kept"),
    ),
    "public_toilets": (
        ("clean", "干净无异味", "clean"),
        ("water", "供水正常", "water"),
        ("lighting", "照明正常", "lighting"),
        ("accessible", "无障碍设施完好", "accessible facilities intact"),
    ),
}
assert set(CHECKLISTS) == set(INSPECTED_LAYERS)


def keys(layer: str) -> tuple[str, ...]:
    return tuple(key for key, _zh, _en in CHECKLISTS[layer])


def described(lang: str = "zh") -> dict[str, list[dict[str, str]]]:
    """Every layer's items with their label in `lang`, for the form and the API."""
    return {
        layer: [{"key": key, "label": en if lang == "en" else zh} for key, zh, en in items]
        for layer, items in CHECKLISTS.items()
    }
