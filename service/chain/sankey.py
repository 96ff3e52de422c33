"""A small Sankey renderer (matplotlib): columns of nodes, bands whose width is the flow.

Pure drawing, no database: `render(diagram, "svg"|"png") -> bytes`. SVG keeps text as text so a
browser draws Chinese labels with its own fonts; PNG uses a CJK font when one is installed and
falls back to the English labels otherwise.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

# matplotlib (about 30 MiB) is imported by the first drawing, not by the service's start
if TYPE_CHECKING:
    from matplotlib.axes import Axes

COLOURS = {
    "flow": "#4c78a8",
    "unconnected": "#e45756",
    "retained": "#54a24b",
    "node": "#333333",
}
CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "SimHei")


@dataclass
class Node:
    key: str
    label: str
    label_en: str
    column: int
    colour: str = COLOURS["node"]


@dataclass
class Band:
    source: str
    target: str
    value: float
    kind: str = "flow"  # flow | unconnected | retained


@dataclass
class Diagram:
    title: str
    title_en: str
    unit: str
    nodes: list[Node] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)


def cjk_font() -> str | None:
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def _layout(d: Diagram, height: float, gap: float) -> tuple[dict[str, tuple[float, float]], float]:
    """Node key -> (y top, size), and the one scale (height per unit of flow) used for every band."""
    through: dict[str, float] = {n.key: 0.0 for n in d.nodes}
    inflow: dict[str, float] = {n.key: 0.0 for n in d.nodes}
    outflow: dict[str, float] = {n.key: 0.0 for n in d.nodes}
    for b in d.bands:
        outflow[b.source] += b.value
        inflow[b.target] += b.value
    for key in through:
        through[key] = max(inflow[key], outflow[key])
    columns: dict[int, list[Node]] = {}
    for n in d.nodes:
        columns.setdefault(n.column, []).append(n)
    tallest = max((sum(through[n.key] for n in col) for col in columns.values()), default=0.0)
    max_nodes = max((len(col) for col in columns.values()), default=1)
    scale = (height - gap * (max_nodes - 1)) / tallest if tallest > 0 else 0.0
    positions: dict[str, tuple[float, float]] = {}
    for col in columns.values():
        y = 0.0
        for n in col:
            size = through[n.key] * scale
            positions[n.key] = (y, size)
            y += size + gap
    return positions, scale


def render(d: Diagram, fmt: str) -> bytes:
    if fmt not in ("svg", "png"):
        raise ValueError(f"unsupported diagram format {fmt!r}")
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot
    import matplotlib.pyplot as plt

    font = cjk_font()
    chinese = fmt == "svg" or font is not None
    columns = max((n.column for n in d.nodes), default=0) + 1
    rows = max((sum(1 for n in d.nodes if n.column == c) for c in range(columns)), default=1)
    height = max(6.0, 0.32 * rows + 2)
    # names are data, never TeX: with math text on, a facility named "$…$" would be typeset (or fail)
    params: dict[str, Any] = {"svg.fonttype": "none", "text.parse_math": False}
    if font:
        params["font.family"] = font
    with plt.rc_context(cast(Any, params)), warnings.catch_warnings():
        fig, ax = plt.subplots(figsize=(4 + 3.2 * columns, height))
        # SVG keeps Chinese as text for the browser to draw; matplotlib only measures it.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        _draw(ax, d, columns, chinese)
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, bbox_inches="tight", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _draw(ax: Axes, d: Diagram, columns: int, chinese: bool) -> None:
    from matplotlib.patches import PathPatch, Rectangle
    from matplotlib.path import Path as MplPath

    node_w, gap, height = 0.12, 0.015, 1.0
    pos, scale = _layout(d, height, gap)
    x_of = {n.key: c * 1.0 for c in range(columns) for n in d.nodes if n.column == c}
    by_key = {n.key: n for n in d.nodes}
    out_cursor = {k: pos[k][0] for k in pos}
    in_cursor = {k: pos[k][0] for k in pos}
    through = {k: 0.0 for k in pos}
    for b in d.bands:
        through[b.source] += b.value
    for k in through:
        through[k] = max(through[k], _inflow(d, k))
    for b in sorted(d.bands, key=lambda b: (x_of[b.source], pos[b.source][0], pos[b.target][0])):
        thickness = b.value * scale
        if thickness <= 0:
            continue
        x0, x1 = x_of[b.source] + node_w, x_of[b.target]
        y0, y1 = out_cursor[b.source], in_cursor[b.target]
        out_cursor[b.source] += thickness
        in_cursor[b.target] += thickness
        mid = (x0 + x1) / 2
        verts = [
            (x0, -y0),
            (mid, -y0),
            (mid, -y1),
            (x1, -y1),
            (x1, -(y1 + thickness)),
            (mid, -(y1 + thickness)),
            (mid, -(y0 + thickness)),
            (x0, -(y0 + thickness)),
            (x0, -y0),
        ]
        codes = [
            MplPath.MOVETO,
            MplPath.CURVE4,
            MplPath.CURVE4,
            MplPath.CURVE4,
            MplPath.LINETO,
            MplPath.CURVE4,
            MplPath.CURVE4,
            MplPath.CURVE4,
            MplPath.CLOSEPOLY,
        ]
        ax.add_patch(
            PathPatch(MplPath(verts, codes), facecolor=COLOURS.get(b.kind, COLOURS["flow"]), alpha=0.45, lw=0)
        )
    for key, (y, size) in pos.items():
        n = by_key[key]
        ax.add_patch(
            Rectangle(
                (x_of[key], -(y + max(size, 0.002))), node_w, max(size, 0.002), facecolor=n.colour, lw=0
            )
        )
        label = (n.label if chinese else n.label_en) + f"  {through[key]:,.1f}"
        ax.text(x_of[key] + node_w + 0.02, -(y + size / 2), label, va="center", ha="left", fontsize=8)
    ax.set_xlim(-0.05, columns - 1 + 1.0)
    ax.set_ylim(-(height + 0.3), 0.05)
    ax.axis("off")
    title = d.title if chinese else d.title_en
    ax.set_title(f"{title} ({d.unit})", loc="left", fontsize=11)
    handles = [
        Rectangle((0, 0), 1, 1, facecolor=COLOURS[k], alpha=0.45) for k in ("flow", "unconnected", "retained")
    ]
    labels = (
        ["流向 flow", "未接入 unconnected", "就地处理 treated on site"]
        if chinese
        else ["flow", "unconnected", "treated on site"]
    )
    ax.legend(handles, labels, loc="lower left", fontsize=8, frameon=False)


def _inflow(d: Diagram, key: str) -> float:
    return sum(b.value for b in d.bands if b.target == key)
