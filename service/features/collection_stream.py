"""The one writer of streamed GeoJSON FeatureCollections: feature texts in, byte chunks out.

Every GeoJSON stream of the service (items pages, chain flows, coverage features, exports) writes its
collection here: the members before the features, the features separated by ",\\n", then the members
after them (computed when the last feature has been read, e.g. `numberReturned` and the next page's
link). `feature_collection` takes one feature at a time and gathers them into chunks of about
`CHUNK_BYTES`; `feature_collection_of_lines` takes blocks of many features already (COPY's output) and
sends each block as one chunk, so a whole-layer export costs one `bytes.replace` per block.

Each stream keeps the white space it has always had (clients may compare files byte for byte): the
`Layout` says where the line breaks go.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CHUNK_BYTES = 1 << 16
SEPARATOR = b",\n"


@dataclass(frozen=True)
class Layout:
    """White space around the features array (between features it is always `SEPARATOR`)."""

    separators: tuple[str, str] = (", ", ": ")  # of the members before and after the features
    opened: bytes = b"\n"  # after "["
    closed: bytes = b"\n"  # before "]", after the last feature
    empty: bytes = b"\n"  # before "]" when there is no feature
    end: bytes = b"\n"  # after the final "}"


PAGE = Layout(end=b"")  # items pages
FILE = Layout(empty=b"")  # GeoJSON export files
COMPACT = Layout(separators=(",", ":"), opened=b"", closed=b"", empty=b"")  # chain flows, coverage


def _members(doc: Mapping[str, Any], layout: Layout) -> bytes:
    """`"a": 1, "b": 2` — an object's members without its braces."""
    return json.dumps(dict(doc), ensure_ascii=False, separators=layout.separators)[1:-1].encode()


def _opening(head: Mapping[str, Any] | None, layout: Layout) -> bytes:
    members = _members({"type": "FeatureCollection", **(head or {})}, layout)
    return b"{" + members + b',"features":[' + layout.opened


def _closing(returned: int, tail: Callable[[int], Mapping[str, Any]] | None, layout: Layout) -> bytes:
    members = tail(returned) if tail is not None else {}
    after = b"," + _members(members, layout) if members else b""
    return (layout.closed if returned else layout.empty) + b"]" + after + b"}" + layout.end


def feature_collection(
    features: Iterable[str | bytes],
    head: Mapping[str, Any] | None = None,
    tail: Callable[[int], Mapping[str, Any]] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    layout: Layout = Layout(),
) -> Generator[bytes, None, None]:
    """The collection in chunks. `features` yields one Feature's JSON text each (without separators);
    `tail(number_returned)` gives the members written after the features array."""
    buffer: list[bytes] = [_opening(head, layout)]
    size = returned = 0
    for feature in features:
        text = feature.encode() if isinstance(feature, str) else feature
        if returned:
            buffer.append(SEPARATOR)
        buffer.append(text)
        returned += 1
        size += len(text)
        if size >= chunk_bytes:
            yield b"".join(buffer)
            buffer, size = [], 0
    buffer.append(_closing(returned, tail, layout))
    yield b"".join(buffer)


def feature_collection_of_lines(
    blocks: Iterable[bytes], head: Mapping[str, Any] | None = None, layout: Layout = FILE
) -> Generator[bytes, None, None]:
    """The collection from blocks of whole b"feature\\n" lines, one chunk per block.

    JSON text holds no raw line break, so every b"\\n" ends a feature and becomes the separator; a block
    waits for the next one to be sent, so that only the last block's final separator is cut.
    """
    yield _opening(head, layout)
    pending = b""
    for block in blocks:
        if pending:
            yield pending
        pending = block.replace(b"\n", SEPARATOR)
    if pending:
        yield pending[: -len(SEPARATOR)] + _closing(1, None, layout)
    else:
        yield _closing(0, None, layout)
