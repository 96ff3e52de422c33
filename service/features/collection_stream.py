"""The one writer of streamed GeoJSON FeatureCollections: feature texts in, byte chunks out.

Every GeoJSON stream of the service (items pages, chain flows, coverage features, exports) writes its
collection through `feature_collection`: the members before the features, the features separated by
",\\n" and gathered into chunks of about `CHUNK_BYTES`, then the members after them (computed when the
last feature has been read, e.g. `numberReturned` and the next page's link).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any

CHUNK_BYTES = 1 << 16


def _members(doc: Mapping[str, Any]) -> str:
    """`"a":1,"b":2` — an object's members without its braces."""
    return json.dumps(dict(doc), ensure_ascii=False)[1:-1]


def feature_collection(
    features: Iterable[str | bytes],
    head: Mapping[str, Any] | None = None,
    tail: Callable[[int], Mapping[str, Any]] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> Generator[bytes, None, None]:
    """The collection in chunks. `features` yields one Feature's JSON text each (without separators);
    `tail(number_returned)` gives the members written after the features array."""
    opening = _members({"type": "FeatureCollection", **(head or {})})
    buffer: list[bytes] = [b"{" + opening.encode() + b',"features":[\n']
    size = returned = 0
    for feature in features:
        text = feature.encode() if isinstance(feature, str) else feature
        if returned:
            buffer.append(b",\n")
        buffer.append(text)
        returned += 1
        size += len(text)
        if size >= chunk_bytes:
            yield b"".join(buffer)
            buffer, size = [], 0
    closing = tail(returned) if tail is not None else {}
    buffer.append(b"\n]" + (b"," + _members(closing).encode() if closing else b"") + b"}\n")
    yield b"".join(buffer)
