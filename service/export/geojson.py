"""GeoJSON (RFC 7946) and GeoJSON Text Sequences (RFC 8142), features built by PostGIS and read with
COPY (see copy_lines)."""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator

from service.export.copy_lines import copy_lines
from service.export.source import LayerExport, Progress
from service.features.query import all_rows_statement, feature_json

RS = b"\x1e"


def _blocks(export: LayerExport, progress: Progress | None) -> Iterator[bytes]:
    """Blocks of whole "feature\\n" lines, counted for `progress`."""
    done = 0
    for block in copy_lines(export.engine, all_rows_statement(export.query, [feature_json(export.query)])):
        done += block.count(b"\n")
        if progress is not None:
            progress(done)
        yield block
    if progress is not None:
        progress(done)


def feature_collection(export: LayerExport, progress: Progress | None = None) -> Generator[bytes, None, None]:
    head = {"type": "FeatureCollection", "name": export.query.layer.name}
    yield json.dumps(head, ensure_ascii=False)[:-1].encode() + b',"features":[\n'
    first = True
    for block in _blocks(export, progress):
        # JSON text holds no raw line break, so every b"\\n" ends a feature
        yield (b"" if first else b",\n") + block[:-1].replace(b"\n", b",\n")
        first = False
    yield b"\n]}\n"


def sequence(export: LayerExport, progress: Progress | None = None) -> Generator[bytes, None, None]:
    """One feature per record: RS, the feature, LF (RFC 8142)."""
    for block in _blocks(export, progress):
        yield RS + block[:-1].replace(b"\n", b"\n" + RS) + b"\n"
