"""Typed values from request strings, per property kind (a bad value is the caller's 400)."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal, InvalidOperation
from typing import Any

from service.features.catalogue import Kind

_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
INT_RANGE = (-(2**63), 2**63 - 1)


def parse_datetime(text: str) -> dt.datetime:
    """An RFC 3339 date-time (`Z` or offset; a missing offset means UTC)."""
    value = dt.datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def parse_value(kind: Kind, text: str) -> Any:
    """The value of a property of that kind written as text; ValueError when it is not one."""
    if kind == "string":
        return text
    if kind == "integer":
        n = int(text.strip())
        if not INT_RANGE[0] <= n <= INT_RANGE[1]:
            raise ValueError("integer out of range")
        return n
    if kind == "number":
        return finite_decimal(text.strip())
    if kind == "boolean":
        try:
            return _BOOLEANS[text.strip().lower()]
        except KeyError:
            raise ValueError("expected true or false") from None
    if kind == "date":
        return dt.date.fromisoformat(text.strip())
    return parse_datetime(text)


def finite_decimal(value: str | float | int | Decimal) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not number.is_finite() or abs(number) > Decimal("1e300"):
        raise ValueError(f"not a finite number: {value!r}")
    return number


def finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    return value
