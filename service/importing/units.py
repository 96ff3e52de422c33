"""Numbers written with their unit in the cell, as clerks type them: "120吨/日", "5 t/d", "1.2万头".

Capacities come out in the units the inventory stores (`t/d`, `m3/d`), counts as plain numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# Spellings of each unit, compared after `_fold` (lower case, no spaces, full-width folded). The factor
# turns one of them into the stored unit.
_UNITS: dict[str, tuple[str, Decimal]] = {}
for spelling in ("t/d", "t/day", "tpd", "吨/日", "吨/天", "吨每日", "吨每天", "吨/d", "t/日", "t/天"):
    _UNITS[spelling] = ("t/d", Decimal(1))
for spelling in ("kg/d", "kg/day", "公斤/日", "公斤/天", "千克/日", "千克/天", "kg/日", "kg/天"):
    _UNITS[spelling] = ("t/d", Decimal("0.001"))
# "m³" is folded to "m3" before the lookup.
for spelling in ("m3/d", "m3/day", "立方米/日", "立方米/天", "方/日", "方/天", "m3/日", "m3/天"):
    _UNITS[spelling] = ("m3/d", Decimal(1))
# Words after a count that only say what is counted.
_COUNTED = ("头", "只", "羽", "口", "匹", "人", "户", "座", "个", "head", "heads")

_NUMBER = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)(.*)$")


class UnitError(ValueError):
    """The text is not a number in a unit this reader knows."""


@dataclass(frozen=True)
class Quantity:
    value: Decimal
    unit: str | None  # the stored unit (`t/d`, `m3/d`), None for a count or a bare number


def _fold(text: str) -> str:
    folded = text.strip().lower().translate(_FULL_WIDTH)
    return re.sub(r"\s+", "", folded)


_FULL_WIDTH = str.maketrans({"／": "/", "（": "(", "）": ")", "，": ",", "．": ".", "³": "3", "Ｔ": "t"})


def unit_of(text: str) -> tuple[str, Decimal] | None:
    """The stored unit and the factor for a unit's spelling ("吨/日", "kg/day"), or None if unknown."""
    folded = _fold(text)
    return _UNITS.get(folded)


def quantity(text: object, default_unit: str | None = None) -> Quantity:
    """A number read from a cell, its unit converted; `default_unit` is the header's (e.g. "吨/日").

    Raises UnitError for text that is no number, or a unit that is not known.
    """
    if isinstance(text, bool):
        raise UnitError(f"{text!r} is not a number")
    if isinstance(text, int | float | Decimal):
        value, rest = Decimal(str(text)), ""
    else:
        folded = _fold(str(text)).replace(",", "")
        match = _NUMBER.match(folded)
        if match is None:
            raise UnitError(f"{text!r} is not a number")
        try:
            value = Decimal(match.group(1))
        except InvalidOperation as error:
            raise UnitError(f"{text!r} is not a number") from error
        rest = match.group(2)
    if not rest and default_unit is not None:
        rest = _fold(default_unit)
    scaled = scale(rest)
    if scaled is None:
        raise UnitError(f"{text!r}: unit {_unit_words(rest)!r} is not known (t/d, kg/d, m³/d)")
    factor, stored = scaled
    return Quantity(value * factor if factor != 1 else value, stored)


def _unit_words(rest: str) -> str:
    return rest[1:] if rest.startswith("万") else rest


def scale(rest: str) -> tuple[Decimal, str | None] | None:
    """(factor, stored unit or None) of the folded words after a number ("万头", "kg/d", ""), or
    None when they are no unit this reader knows. The bulk import applies a header's in SQL."""
    factor = Decimal(1)
    if rest.startswith("万"):  # ten thousand: "1.2万头", "3万吨/日"
        factor = Decimal(10_000)
        rest = rest[1:]
    if rest in _COUNTED:
        rest = ""
    if not rest:
        return factor, None
    unit = unit_of(rest)
    if unit is None:
        return None
    stored, unit_factor = unit
    return factor * unit_factor, stored


def header_scale(header_unit: str | None) -> tuple[Decimal, str | None] | None:
    """`scale` of a header's unit ("吨/日", "万头"), as `quantity` applies it to a bare number."""
    return scale(_fold(header_unit) if header_unit is not None else "")
