"""Opaque keyset cursors for `next` and `prev` links.

A `next` cursor is the sort key of the last feature of a page (the sortby values and the id), with the
sort order it belongs to; the next page starts strictly after that key, so pages neither skip nor
repeat a feature while others are inserted or deleted (a feature whose sort key itself changes may
move). A `prev` cursor is the key of the first feature, marked backward: that page ends strictly
before it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from service.features.catalogue import Kind
from service.features.values import INT_RANGE, finite_decimal, parse_datetime, plain_text


class BadCursor(ValueError):
    pass


def _encode_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _decode_value(kind: Kind, value: Any) -> Any:
    if value is None:
        return None
    checks: dict[Kind, Any] = {
        "string": lambda v: plain_text(v) if isinstance(v, str) else _fail(),
        "integer": lambda v: v if _is_int(v) and INT_RANGE[0] <= v <= INT_RANGE[1] else _fail(),
        "number": lambda v: finite_decimal(v) if isinstance(v, str) else _fail(),
        "boolean": lambda v: v if isinstance(v, bool) else _fail(),
        "date": lambda v: dt.date.fromisoformat(v) if isinstance(v, str) else _fail(),
        "datetime": lambda v: parse_datetime(v) if isinstance(v, str) else _fail(),
    }
    try:
        return checks[kind](value)
    except BadCursor:
        raise
    except (ValueError, TypeError, ArithmeticError) as exc:  # e.g. a NUL, a date out of range
        raise BadCursor(f"a {kind} key that cannot be used: {str(exc)[:200]}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fail() -> Any:
    raise BadCursor("a value of the wrong type or out of range")


def encode(order: str, position: Sequence[Any], backward: bool = False) -> str:
    content: dict[str, Any] = {"o": order, "k": [_encode_value(v) for v in position]}
    if backward:
        content["b"] = True
    payload = json.dumps(content, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode(token: str, order: str, kinds: Sequence[Kind]) -> tuple[tuple[Any, ...], bool]:
    """The position a cursor encodes and whether the page lies before it; BadCursor when it is damaged
    or from another sort order."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        keys = payload["k"]
        if payload["o"] != order:
            raise BadCursor("the cursor belongs to another sortby; start again without cursor")
        if not isinstance(keys, list) or len(keys) != len(kinds):
            raise BadCursor("wrong number of keys")
        backward = payload.get("b", False)
        if not isinstance(backward, bool):
            raise BadCursor("bad direction")
        return tuple(_decode_value(kind, v) for kind, v in zip(kinds, keys, strict=True)), backward
    except BadCursor:
        raise
    # RecursionError: JSON nested deeper than the parser's stack
    except (ValueError, TypeError, KeyError, binascii.Error, ArithmeticError, RecursionError) as exc:
        raise BadCursor(f"not a cursor of this service ({type(exc).__name__})") from None
