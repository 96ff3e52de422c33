"""The HTML of the search, problems, integrity and exports pages (the JSON documents, drawn as tables
under the shared navigation). Every value goes through `html.escape`."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from service.api.attention_text import describe
from service.chain import attention
from service.chain.integrity_workbook import RULE_NAMES, SEVERITY_NAMES
from service.maps.i18n import words
from service.navigation import Lang, page_html

MAX_ROWS_PER_KIND = 200  # a page stays readable; the JSON has every problem


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _a(href: str, text: Any) -> str:
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def _t(lang: Lang, zh: str, en: str) -> str:
    return en if lang == "en" else zh


def search_page(body: Mapping[str, Any], base: str, lang: Lang) -> str:
    hits: Sequence[Mapping[str, Any]] = body["hits"]
    title = _t(lang, f"搜索：{body['query']}", f"Search: {body['query']}")
    if not hits:
        return page_html(title, f"<p>{_t(lang, '没有找到。', 'Nothing found.')}</p>", base, lang)
    rows = "".join(
        f"<tr><td>{_a(h['href'], h['name'])}</td><td>{esc(h['layer_name'])}</td>"
        f"<td>{esc((h['town'] or {}).get('name'))}</td><td><code>{esc(h['code'])}</code></td></tr>"
        for h in hits
    )
    head = _t(
        lang,
        "<th>名称</th><th>图层</th><th>乡镇</th><th>编码</th>",
        "<th>name</th><th>layer</th><th>town</th><th>code</th>",
    )
    count = _t(lang, f"{len(hits)} 个结果", f"{len(hits)} found")
    return page_html(
        title, f"<p>{count}</p><div class=scroll><table><tr>{head}</tr>{rows}</table></div>", base, lang
    )


def _problem_rows(problems: Sequence[Mapping[str, Any]], lang: Lang, layer_words: Mapping[str, str]) -> str:
    return "".join(
        f'<tr class="{esc(p["severity"])}">'
        f"<td>{_a(p['map'], p['name'])}</td>"
        f"<td>{esc(layer_words.get(p['layer'], p['layer']))}</td><td>{esc(p['town_name'])}</td>"
        f"<td>{esc(p['text'])}</td></tr>"
        for p in problems
    )


def problems_page(report: Mapping[str, Any], base: str, lang: Lang) -> str:
    layer_words = words(lang)
    total = report["summary"]["total"]
    summary = "".join(
        f'<li><a href="#{kind}">{esc(label_en if lang == "en" else label_zh)}</a>: '
        f"<strong>{report['summary']['by_kind'][kind]}</strong></li>"
        for kind, (label_zh, label_en) in attention.KINDS.items()
    )
    head = _t(
        lang,
        "<th>名称（地图）</th><th>图层</th><th>乡镇</th><th>情况</th>",
        "<th>name (map)</th><th>layer</th><th>town</th><th>what</th>",
    )
    sections = []
    for kind, (label_zh, label_en) in attention.KINDS.items():
        of_kind = [p for p in report["problems"] if p["kind"] == kind]
        if not of_kind:
            continue
        more = len(of_kind) - MAX_ROWS_PER_KIND
        note = (
            f'<p class="muted">{_t(lang, f"另有 {more} 项，见 JSON", f"{more} more in the JSON")} '
            f"({_a(base + '/problems?f=json', '/problems?f=json')})</p>"
            if more > 0
            else ""
        )
        sections.append(
            f'<h2 id="{kind}">{esc(label_en if lang == "en" else label_zh)} ({len(of_kind)})</h2>'
            f'<div class=scroll><table data-kind="{kind}"><tr>{head}</tr>'
            f"{_problem_rows(of_kind[:MAX_ROWS_PER_KIND], lang, layer_words)}</table></div>{note}"
        )
    intro = (
        _t(lang, f"共 {total} 项需要处理。", f"{total} problem(s) need attention.")
        if total
        else _t(lang, "目前没有需要处理的问题。", "Nothing needs attention now.")
    )
    body = f'<p id="problem-total">{intro}</p><ul>{summary}</ul>' + "".join(sections)
    return page_html(_t(lang, "待处理问题", "Problems"), body, base, lang)


def _pair(names: Mapping[str, tuple[str, str]], key: Any, lang: Lang) -> str:
    zh, en = names.get(str(key), (str(key), str(key)))
    return en if lang == "en" else zh


def integrity_page(
    report: Mapping[str, Any],
    base: str,
    lang: Lang = "zh",
    names_en: Mapping[tuple[str, int], str] | None = None,
) -> str:
    """The integrity report for people: rules and findings in the reader's language (each finding
    worded as on /problems; the JSON keeps the check's own English message)."""
    summary = report["summary"]
    layer_words = words(lang)
    names_en = names_en or {}
    rules = "".join(
        f"<tr><td>{esc(_pair(RULE_NAMES, rule, lang))}</td><td><code>{esc(rule)}</code></td>"
        f"<td class=num>{summary['by_rule'].get(rule, 0)}</td>"
        + (f"<td>{esc(text)}</td>" if lang == "en" else "")
        + "</tr>"
        for rule, text in report["rules"].items()
    )
    findings = "".join(
        f'<tr class="{esc(f["severity"])}"><td>{esc(_pair(SEVERITY_NAMES, f["severity"], lang))}</td>'
        f"<td>{esc(_pair(RULE_NAMES, f['rule'], lang))}</td>"
        f"<td>{_a(_map_of(base, f), _finding_name(f, names_en, lang))}</td>"
        f"<td>{esc(layer_words.get(f['layer'], f['layer']))}</td><td>{esc(f['town_code'])}</td>"
        f"<td>{esc(layer_words.get(f['stream'] or '', f['stream'] or ''))}</td>"
        f"<td>{esc(describe({**f, 'kind': 'integrity'}, lang))}</td></tr>"
        for f in report["findings"]
    )
    rule_head = _t(
        lang,
        "<th>规则</th><th>代码</th><th>发现</th>",
        "<th>rule</th><th>code</th><th>findings</th><th>what it checks</th>",
    )
    finding_head = _t(
        lang,
        "<th>级别</th><th>规则</th><th>设施（地图）</th><th>图层</th><th>乡镇</th><th>类别</th><th>说明</th>",
        "<th>severity</th><th>rule</th><th>feature (map)</th><th>layer</th><th>town</th><th>stream</th>"
        "<th>finding</th>",
    )
    json_href = base + "/chain/integrity?f=json" + ("&lang=en" if lang == "en" else "")
    body = (
        f'<p id="integrity-summary">{_t(lang, "错误", "errors")}: <strong>{summary["errors"]}</strong> · '
        f"{_t(lang, '警告', 'warnings')}: <strong>{summary['warnings']}</strong> · "
        f"{_a(json_href, 'JSON')}</p><h2>{_t(lang, '规则', 'Rules')}</h2>"
        f"<div class=scroll><table><tr>{rule_head}</tr>{rules}</table></div>"
        f"<h2>{_t(lang, '发现', 'Findings')} ({len(report['findings'])})</h2>"
        + (
            f"<div class=scroll><table><tr>{finding_head}</tr>{findings}</table></div>"
            if findings
            else f"<p>{_t(lang, '没有发现问题。', 'No findings.')}</p>"
        )
    )
    return page_html(_t(lang, "完整性检查", "Integrity report"), body, base, lang)


def _map_of(base: str, f: Mapping[str, Any]) -> str:
    return f"{base}/maps/facilities/{f['layer']}/{f['id']}"


def _finding_name(f: Mapping[str, Any], names_en: Mapping[tuple[str, int], str], lang: Lang) -> str:
    if lang == "en":
        return names_en.get((f["layer"], int(f["id"])), f["name"])
    return str(f["name"])


def exports_page(layers: Sequence[str], formats: Sequence[tuple[str, str]], base: str, lang: Lang) -> str:
    layer_words = words(lang)
    head = "".join(f"<th>{esc(title)}</th>" for _, title in formats)
    rows = "".join(
        f"<tr><td>{esc(layer_words.get(layer, layer))} <code>{esc(layer)}</code></td>"
        + "".join(f"<td>{_a(f'{base}/export/{layer}.{ext}', ext)}</td>" for ext, _ in formats)
        + "</tr>"
        for layer in layers
    )
    all_gpkg = _a(base + "/export/all.gpkg", "all.gpkg")
    intro = _t(
        lang,
        f"每个图层的完整文件（全部图层一个文件：{all_gpkg}）。筛选参数见 API 文档。",
        f"Each layer as a whole file (every layer in one file: {all_gpkg}). Filters: see the API docs.",
    )
    body = f"<p>{intro}</p><div class=scroll><table><tr><th></th>{head}</tr>{rows}</table></div>"
    return page_html(_t(lang, "数据导出", "Exports"), body, base, lang)
