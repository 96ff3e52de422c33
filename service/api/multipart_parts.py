"""What the two streamed multipart forms (`POST /imports`, `POST /inspections`) share: the parser's
header callbacks, the part's name and file name, and feeding the parser chunk by chunk.

Each form's reader subclasses `PartReader` and adds what it does with a part's data."""

from __future__ import annotations

from typing import Any

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header

from service.errors import BadParameter

CALLBACKS = (
    "on_part_begin", "on_part_data", "on_part_end", "on_header_field", "on_header_value", "on_header_end",
    "on_headers_finished", "on_end",
)  # fmt: skip


class PartReader:
    """Collects each part's headers; `disposition()` reads its name and file name once they are in."""

    def __init__(self) -> None:
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.headers: dict[str, bytes] = {}
        self.finished = False

    def on_part_begin(self) -> None:
        self.headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_field.decode("latin-1").lower()] = bytes(self.header_value)
        self.header_field, self.header_value = bytearray(), bytearray()

    def on_headers_finished(self) -> None:
        raise NotImplementedError

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        raise NotImplementedError

    def on_part_end(self) -> None:
        raise NotImplementedError

    def on_end(self) -> None:
        self.finished = True

    def disposition(self) -> tuple[str, str | None]:
        """The part's field name (required) and its file name (None when it is not a file)."""
        _, options = parse_options_header(self.headers.get("content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if not name:
            raise BadParameter("body", "a form part without a name")
        file_name = options.get(b"filename")
        return name, file_name.decode("utf-8", "replace") if file_name is not None else None

    def parser(self, boundary: bytes) -> MultipartParser:
        callbacks: Any = {name: getattr(self, name) for name in CALLBACKS}
        return MultipartParser(boundary, callbacks)

    def check_finished(self) -> None:
        if not self.finished:
            raise BadParameter("body", "the multipart/form-data body ends before its closing boundary")


def feed(parser: MultipartParser, chunk: bytes) -> None:
    """One chunk into the parser; a malformed body is the client's error, named."""
    try:
        parser.write(chunk)
    except MultipartParseError as error:
        raise BadParameter("body", f"malformed multipart/form-data: {error}") from error
