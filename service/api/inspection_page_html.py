"""The markup of the inspection form: one facility's checklist, outcome, notes, photos and position,
and the phone's outbox of records not yet sent.

Phone first, bilingual (Chinese, English under it), the service's own style and script
(`service/maps/static/sanichain-inspect.*`). The page is made for one signed-in inspector and never
cached: the session's CSRF token is in it.
"""

from __future__ import annotations

import html
from typing import Any

from service.accounts.tokens import Principal
from service.inspections import checklists
from service.maps import assets
from service.maps.i18n import words

OUTCOMES = (
    ("ok", "正常", "OK"),
    ("defects", "有问题", "Defects"),
    ("out_of_service", "停运", "Out of service"),
)
ANSWERS = (("yes", "是", "yes"), ("no", "否", "no"), ("unchecked", "未查", "not checked"))


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _outcomes() -> str:
    return (
        '<fieldset class="outcome"><legend>结果 <span lang="en">Outcome</span></legend>'
        + "".join(
            f'<label class="choice"><input type="radio" name="outcome" value="{v}" required>'
            f'<span>{esc(zh)} <span lang="en">{esc(en)}</span></span></label>'
            for v, zh, en in OUTCOMES
        )
        + "</fieldset>"
    )


def _checklist(layer: str) -> str:
    items = []
    for key, zh, en in checklists.CHECKLISTS[layer]:
        answers = "".join(
            f'<label class="choice"><input type="radio" name="item-{key}" value="{v}"'
            f'{" checked" if v == "unchecked" else ""}><span>{esc(azh)} <span lang="en">{esc(aen)}</span>'
            "</span></label>"
            for v, azh, aen in ANSWERS
        )
        items.append(
            f'<fieldset class="item" data-key="{esc(key)}"><legend>{esc(zh)} <span lang="en">{esc(en)}</span>'
            f"</legend>{answers}</fieldset>"
        )
    return '<h2>检查项 <span lang="en">Checklist</span></h2>' + "".join(items)


def _form(layer: str) -> str:
    return (
        '<form id="sc-inspect-form" novalidate>'
        + _outcomes()
        + _checklist(layer)
        + '<label for="notes">备注 <span lang="en">Notes</span></label>'
        '<textarea id="notes" name="notes" rows="3" maxlength="4000"></textarea>'
        '<label for="photos">照片 <span lang="en">Photos</span></label>'
        '<input id="photos" name="photos" type="file" accept="image/*" capture="environment" multiple>'
        '<p class="hint">最多 4 张，发送前自动压缩 · '
        '<span lang="en">At most 4, made smaller before sending</span></p>'
        '<p id="sc-inspect-position" class="hint">正在定位… · '
        '<span lang="en">Finding your position…</span></p>'
        '<button type="submit" id="sc-inspect-save">保存并发送 <span lang="en">Save and send</span></button>'
        "</form>"
    )


def _outbox() -> str:
    return (
        '<section id="sc-inspect-outbox" aria-live="polite">'
        '<h2>待发送 <span lang="en">Waiting to send</span> <output id="sc-inspect-pending">0</output></h2>'
        '<p class="hint">没有网络时记录保存在本机，网络恢复后自动发送 · '
        '<span lang="en">Without a network the record stays on this phone and is sent when the network '
        "returns</span></p>"
        '<ul id="sc-inspect-queue"></ul></section>'
        '<section id="sc-inspect-sent-box" hidden><h2>已发送 <span lang="en">Sent</span></h2>'
        '<ul id="sc-inspect-sent"></ul></section>'
    )


def inspection_page(principal: Principal, csrf_token: str, layer: str, facility: Any) -> str:
    """The form for one facility (`facility`: a row with id, code, name, town_code, town_name)."""
    css = [assets.own_url("sanichain-import.css"), assets.own_url("sanichain-inspect.css")]
    js = assets.own_url("sanichain-inspect.js")
    kind = words("zh").get(layer, layer)
    kind_en = words("en").get(layer, layer)
    town = f" · {esc(facility.town_name)}" if facility.town_name else ""
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="same-origin"><link rel="icon" href="data:,">'
        f"<title>巡查 Inspection · {esc(facility.name)}</title>"
        + "".join(f'<link rel="stylesheet" href="{esc(c)}">' for c in css)
        + "</head><body>"
        f'<main id="sc-inspect" data-csrf="{esc(csrf_token)}" data-user="{esc(principal.name)}" '
        f'data-layer="{esc(layer)}" data-feature="{int(facility.id)}">'
        '<p class="brand"><a href="/">sanichain · 农村环境卫生</a></p>'
        '<h1>巡查记录 <span lang="en">Inspection</span></h1>'
        f'<p class="facility"><strong>{esc(facility.name)}</strong><br>{esc(kind)} · '
        f'<span lang="en">{esc(kind_en)}</span> · {esc(facility.code)}{town}</p>'
        f'<p class="who">{esc(principal.name)} ({esc(principal.role)})</p>'
        '<p><a class="link" href="/maps/facilities/'
        f'{esc(layer)}/{int(facility.id)}">设施地图 <span lang="en">Facility map</span></a></p>'
        + _form(layer)
        + '<p id="sc-inspect-message" class="notice" role="alert" hidden></p>'
        + _outbox()
        + f'</main><script src="{esc(js)}"></script></body></html>\n'
    )
