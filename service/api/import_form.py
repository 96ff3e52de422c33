"""The multipart form of `POST /imports`, read as it arrives: the file part streamed to the import
directory, the other fields kept as text, the whole body held to the configured size.

Starlette's own form parser spools every file to a temporary file of unbounded size before the route
sees it; this reader counts each chunk and stops at the limit, deleting what it wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool

from service.api.multipart_parts import PartReader, feed
from service.errors import BadParameter
from service.importing import uploads

FILE_FIELD = "file"
FIELDS = ("file", "layer", "crs", "encoding", "sheet", "mapping", "upsert_by", "valid_rows_only", "dry_run")
MAX_TEXT_BYTES = {"mapping": 1_000_000}  # a mapping file names a few dozen columns
DEFAULT_TEXT_BYTES = 1_000
MAX_PARTS = 32


@dataclass
class Form:
    """What the form held: its text fields, and the uploaded file (None when the form had none)."""

    fields: dict[str, str] = field(default_factory=dict)
    upload: Path | None = None
    file_name: str | None = None
    size: int = 0


@dataclass
class _Part:
    name: str = ""
    file_name: str | None = None
    text: bytearray = field(default_factory=bytearray)


class _Reader(PartReader):
    """The parser's callbacks: they collect; `after_chunk` does the writing and the checks."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        self.form = Form()
        self.receiving: uploads.Receiving | None = None
        self.unknown: list[str] = []
        self.parts = 0
        self.part = _Part()
        self.pending: list[bytes] = []  # file bytes of this chunk, written after it

    # -- callbacks ---------------------------------------------------------------------------------
    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise BadParameter("body", f"more than {MAX_PARTS} form parts")
        super().on_part_begin()
        self.part = _Part()

    def on_headers_finished(self) -> None:
        name, file_name = self.disposition()
        if name in self.form.fields or (name == FILE_FIELD and self.form.file_name is not None):
            raise BadParameter(name, "given twice")
        self.part = _Part(name, file_name)
        if name not in FIELDS:
            self.unknown.append(name)
        elif name == FILE_FIELD:
            self.form.file_name = self.part.file_name or "upload"
            self.receiving = uploads.Receiving(self.directory)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        name = self.part.name
        if name == FILE_FIELD:
            self.pending.append(data[start:end])
        elif name in FIELDS:
            self.part.text += data[start:end]
            if len(self.part.text) > MAX_TEXT_BYTES.get(name, DEFAULT_TEXT_BYTES):
                raise BadParameter(name, f"longer than {MAX_TEXT_BYTES.get(name, DEFAULT_TEXT_BYTES)} bytes")

    def on_part_end(self) -> None:
        name = self.part.name
        if name in FIELDS and name != FILE_FIELD:
            try:
                self.form.fields[name] = self.part.text.decode("utf-8")
            except UnicodeDecodeError as error:
                raise BadParameter(name, "not UTF-8 text") from error

    # -- after each chunk --------------------------------------------------------------------------
    async def after_chunk(self) -> None:
        if self.pending and self.receiving is not None:
            data, self.pending = b"".join(self.pending), []
            await run_in_threadpool(self.receiving.write, data)

    def discard(self) -> None:
        if self.receiving is not None:
            self.receiving.discard()


def _boundary(content_type: str | None) -> bytes:
    media, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if media != b"multipart/form-data" or not boundary:
        raise BadParameter(
            "Content-Type", "send the file as multipart/form-data (curl -F file=@farms.csv -F layer=…)"
        )
    return boundary


def declared_size(request: Request, limit: int) -> None:
    """A Content-Length over the limit is refused before a byte is read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise uploads.too_large(f"Content-Length {declared}", limit)


async def read(request: Request, directory: Path, limit: int) -> Form:
    """The form of `request`, its file in `directory`; BodyTooLarge once the body passes `limit` bytes,
    BadParameter for a malformed form or unknown fields (named), each leaving no file behind."""
    declared_size(request, limit)
    reader = _Reader(directory)
    parser = reader.parser(_boundary(request.headers.get("content-type")))
    received = 0
    kept = False
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise uploads.too_large(f"{received} bytes received", limit)
            feed(parser, chunk)
            await reader.after_chunk()
        reader.check_finished()
        if reader.unknown:
            raise BadParameter(
                reader.unknown[0],
                f"unknown form fields: {', '.join(reader.unknown)} (known: {', '.join(FIELDS)})",
            )
        form = reader.form
        if reader.receiving is not None:
            form.size = reader.receiving.size
            form.upload = reader.receiving.keep(form.file_name)
        kept = True
        return form
    finally:
        if not kept:  # refused, malformed, or the client went away: nothing of it stays
            reader.discard()
