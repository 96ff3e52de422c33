"""A problem of `/problems` said in words, in Chinese (the default) or English: every kind of problem and
every integrity rule it includes, with the names of layers, streams and statuses and the units in the
same language. (The document's `message` stays the integrity check's own English, for scripts that
match on it; `text` is for people.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from service.chain import attention
from service.maps.i18n import words

Problem = Mapping[str, Any]
UNITS = {"t/d": ("吨/日", "t/day"), "m3/d": ("立方米/日", "m³/day")}
STANDARD = "GB/T 51435-2021 §4.4"


def unit(name: Any, lang: str) -> str:
    zh, en = UNITS.get(str(name), (str(name), str(name)))
    return en if lang == "en" else zh


def kind_label(kind: str, lang: str) -> str:
    zh, en = attention.KINDS.get(kind, (kind, kind))
    return en if lang == "en" else zh


def _layer(w: Mapping[str, str], name: Any, lang: str) -> str:
    text = w.get(str(name), str(name))
    return text.lower() if lang == "en" else text


def _link(p: Problem, w: Mapping[str, str], lang: str) -> str:
    n = p["numbers"]
    return (
        f"{_layer(w, n.get('source_layer'), lang)} {p['code']} → "
        f"{_layer(w, n.get('target_layer'), lang)} {n.get('target_code', '')}"
    )


def _load(p: Problem, w: Mapping[str, str], lang: str) -> str:
    n = p["numbers"]
    capacity = f"{n['capacity']:g} {unit(n['capacity_unit'], lang)}"
    if lang == "en":
        return (
            f"inflow {n['inflow_t_per_day']:.1f} t/day = {n['utilisation']:.0%} of its capacity of {capacity}"
        )
    return f"流入 {n['inflow_t_per_day']:.1f} 吨/日，为设计能力 {capacity} 的 {n['utilisation']:.0%}"


def _inactive(p: Problem, w: Mapping[str, str], lang: str) -> str:
    n = p["numbers"]
    status, stream = w.get(n["status"], n["status"]), w.get(p["stream"] or "", "")
    if lang == "en":
        return f"{n['links']} {stream} link(s) still deliver {n['t_per_day']:.3f} t/day to it while {status}"
    return f"{n['links']} 条{stream}链路仍向{status}设施输送 {n['t_per_day']:.3f} 吨/日"


def _unconnected(p: Problem, w: Mapping[str, str], lang: str) -> str:
    n, stream = p["numbers"], w.get(p["stream"] or "", "")
    if lang == "en":
        return f"{n['t_per_day']:.3f} t/day of {stream} go nowhere (no link downstream)"
    return f"{n['t_per_day']:.3f} 吨/日{stream}无去向"


def _no_downstream(p: Problem, w: Mapping[str, str], lang: str) -> str:
    n, stream = p["numbers"], w.get(p["stream"] or "", "")
    if lang == "en":
        return f"receives {n['t_per_day']:.3f} t/day of {stream} and passes it nowhere"
    return f"接收 {n['t_per_day']:.3f} 吨/日{stream}，但没有下游去向"


def _wrong_stream(p: Problem, w: Mapping[str, str], lang: str) -> str:
    stream = w.get(p["stream"] or "", "")
    if lang == "en":
        return f"the link {_link(p, w, lang)} has no place in the {stream} chain"
    return f"链路 {_link(p, w, lang)} 不属于{stream}收运链"


def _stage_reverse(p: Problem, w: Mapping[str, str], lang: str) -> str:
    if lang == "en":
        return f"the link {_link(p, w, lang)} goes upstream"
    return f"链路 {_link(p, w, lang)} 流向上游（方向颠倒）"


def _stage_skip(p: Problem, w: Mapping[str, str], lang: str) -> str:
    n = p["numbers"]
    skipped = int(n["target_stage"]) - int(n["source_stage"]) - 1
    if lang == "en":
        return f"the link {_link(p, w, lang)} skips {skipped} stage(s) of the chain"
    return f"链路 {_link(p, w, lang)} 跳过了 {skipped} 个收运环节"


def _cycle(p: Problem, w: Mapping[str, str], lang: str) -> str:
    n = p["numbers"]
    count = len(n.get("cycle_links") or [])
    if lang == "en":
        return f"link {n['link_id']} is on a cycle of {count} link(s)"
    return f"链路 {n['link_id']} 处于由 {count} 条链路组成的循环中"


def _no_capacity(p: Problem, w: Mapping[str, str], lang: str) -> str:
    n = p["numbers"]
    if lang == "en":
        return f"receives {n['inflow_t_per_day']:.3f} t/day, but no capacity is recorded"
    return f"接收 {n['inflow_t_per_day']:.3f} 吨/日，但没有登记设计能力"


def _link_too_long(p: Problem, w: Mapping[str, str], lang: str) -> str:
    n = p["numbers"]
    target = n.get("target_code", "")
    if lang == "en":
        return (
            f"village to collection point {target}: {n['length_m']:.0f} m, more than the "
            f"{n['limit_m']:.0f} m of {STANDARD}"
        )
    return (
        f"村庄到收集点 {target} 的距离为 {n['length_m']:.0f} 米，超过 {STANDARD} 规定的 {n['limit_m']:.0f} 米"
    )


def _unfed(p: Problem, w: Mapping[str, str], lang: str) -> str:
    return "operational, but nothing feeds it" if lang == "en" else "正在运行，但没有任何来源向其输送"


BY_KIND: dict[str, Callable[[Problem, Mapping[str, str], str], str]] = {
    "overloaded": _load,
    "near_capacity": _load,
    "inactive_with_flows": _inactive,
    "unconnected": _unconnected,
}
BY_RULE: dict[str, Callable[[Problem, Mapping[str, str], str], str]] = {
    "inactive_target": _inactive,
    "source_unconnected": _unconnected,
    "no_downstream": _no_downstream,
    "wrong_stream": _wrong_stream,
    "stage_reverse": _stage_reverse,
    "stage_skip": _stage_skip,
    "cycle": _cycle,
    "no_capacity": _no_capacity,
    "link_too_long": _link_too_long,
    "facility_unfed": _unfed,
    "over_capacity": _load,
    "near_capacity": _load,
}


def describe(p: Problem, lang: str) -> str:
    """The problem in `lang`; the integrity check's own message only for a rule this module does not
    know (a new rule shows in English until it is worded here)."""
    say = BY_RULE.get(p.get("rule") or "") or BY_KIND.get(p["kind"])
    if say is None:
        return str(p["message"])
    try:
        return say(p, words("en" if lang == "en" else "zh"), lang)
    except (KeyError, TypeError, ValueError):  # figures missing from an unusual finding
        return str(p["message"])


def worded(report: dict[str, Any], lang: str) -> dict[str, Any]:
    """The `/problems` document with each problem's `text` and `kind_label` in `lang`, and the
    language's labels of the kinds (`kind_labels`)."""
    return report | {
        "lang": lang,
        "kind_labels": {kind: kind_label(kind, lang) for kind in attention.KINDS},
        "problems": [
            p | {"text": describe(p, lang), "kind_label": kind_label(p["kind"], lang)}
            for p in report["problems"]
        ],
    }
