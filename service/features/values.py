"""Typed values from request strings, per property kind (a bad value is the caller's 400)."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal, InvalidOperation
from typing import Any

from service.features.catalogue import Kind

_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
INT_RANGE = (-(2**63), 2**63 - 1)


# Instants must lie a day inside Python's calendar (years 1–9999), so that any offset, and the end of
# a whole day, can be worked out in UTC without overflowing.
EARLIEST = dt.datetime(1, 1, 2, tzinfo=dt.UTC)
LATEST = dt.datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=dt.UTC)
RANGE_TEXT = "0001-01-02 to 9999-12-30 (UTC)"


class OutOfRange(ValueError):
    """A well-formed value outside what the service can work with."""


def in_range(value: dt.datetime) -> dt.datetime:
    """The instant itself when it lies within EARLIEST..LATEST; ValueError otherwise."""
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    try:
        inside = EARLIEST <= aware.astimezone(dt.UTC) <= LATEST
    except OverflowError:
        inside = False
    if not inside:
        raise OutOfRange(f"{value.isoformat()} lies outside the supported range {RANGE_TEXT}")
    return aware


def parse_datetime(text: str) -> dt.datetime:
    """An RFC 3339 date-time (`Z` or offset; a missing offset means UTC) within the supported range."""
    return in_range(dt.datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00")))


def plain_text(text: str) -> str:
    """The text itself; ValueError when it holds a NUL, which PostgreSQL text cannot store."""
    if "\x00" in text:
        raise ValueError("contains a NUL character")
    return text


def parse_value(kind: Kind, text: str) -> Any:
    """The value of a property of that kind written as text; ValueError when it is not one."""
    if kind == "string":
        return plain_text(text)
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
