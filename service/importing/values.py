"""A cell's value as the field's type: numbers with units, dates, yes/no, Chinese words of a vocabulary.

Each function returns the value or raises ValueError with what is wrong, in words a clerk can act on.
The editing validation checks the result again (ranges, codes, lifecycle): this only reads.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from service.features.catalogue import Field
from service.importing import units

# Chinese words for the values of the layers' vocabularies (the stored values match too).
WORDS: dict[str, dict[str, str]] = {
    "status": {
        "规划": "planned",
        "拟建": "planned",
        "计划": "planned",
        "在建": "under_construction",
        "建设中": "under_construction",
        "运行": "operational",
        "运营": "operational",
        "在用": "operational",
        "正常": "operational",
        "已建成": "operational",
        "投运": "operational",
        "停用": "suspended",
        "暂停": "suspended",
        "停运": "suspended",
        "关闭": "closed",
        "废弃": "closed",
        "拆除": "closed",
        "关停": "closed",
    },
    "species": {
        "猪": "pig",
        "生猪": "pig",
        "奶牛": "dairy",
        "肉牛": "beef",
        "牛": "beef",
        "羊": "sheep",
        "肉羊": "sheep",
        "蛋鸡": "layer",
        "肉鸡": "broiler",
    },
}
_YES = {"是", "有", "y", "yes", "true", "1", "√"}
_NO = {"否", "无", "n", "no", "false", "0", "×"}
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")


def text(raw: Any) -> str:
    # Chinese text is kept exactly; only the spaces around a cell's text go (Excel pads them).
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))  # a code Excel stored as a number
    return str(raw).strip()


def convert(field: Field, raw: Any, unit: str | None = None) -> tuple[Any, str | None]:
    """(value, stored unit or None) of a non-empty cell for `field`; ValueError when it cannot be."""
    if field.kind == "string":
        value = text(raw)
        if field.vocabulary is not None and value not in field.vocabulary:
            word = WORDS.get(field.name, {}).get(value)
            if word is None or word not in field.vocabulary:
                raise ValueError(f"{value!r} is not one of {', '.join(field.vocabulary)}")
            value = word
        return value, None
    if field.kind in ("integer", "number"):
        try:
            quantity = units.quantity(raw, unit)
        except units.UnitError as error:
            raise ValueError(str(error)) from error
        if field.kind == "integer":
            if quantity.value != quantity.value.to_integral_value():
                raise ValueError(f"{raw!r} is not a whole number")
            return int(quantity.value), quantity.unit
        return Decimal(quantity.value), quantity.unit
    if field.kind == "boolean":
        folded = text(raw).lower()
        if isinstance(raw, bool):
            return raw, None
        if folded in _YES:
            return True, None
        if folded in _NO:
            return False, None
        raise ValueError(f"{raw!r} is not yes or no (是/否)")
    if field.kind == "date":
        if isinstance(raw, dt.datetime):
            return raw.date(), None
        if isinstance(raw, dt.date):
            return raw, None
        match = _DATE.match(text(raw))
        if match is None:
            raise ValueError(f"{raw!r} is not a date (2024-05-01)")
        try:
            return dt.date(*(int(part) for part in match.groups())), None
        except ValueError as error:
            raise ValueError(f"{raw!r} is not a date: {error}") from error
    raise ValueError(f"{field.name} cannot be imported")
