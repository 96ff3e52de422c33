"""The multipart form of `POST /inspections`, read in memory as it arrives: text fields once each,
up to `photos.MAX_PHOTOS` parts named `photo`, the whole body held to a size limit before it is parsed
further (the declared Content-Length first, then the bytes actually received)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from fastapi import Request
from python_multipart.multipart import parse_options_header

from service.api.multipart_parts import PartReader, feed
from service.errors import BadParameter, BodyTooLarge
from service.inspections import photos, records

PHOTO_FIELD = "photo"
MAX_TEXT_BYTES = 16_000  # notes (4,000 characters of Chinese are 12,000 bytes) and the checklist
MAX_BODY_BYTES = photos.MAX_PHOTOS * photos.MAX_PHOTO_BYTES + 1_000_000


@dataclass
class InspectionForm:
    fields: dict[str, str] = field(default_factory=dict)
    photos: list[tuple[str, bytes]] = field(default_factory=list)  # (file name, bytes) in order


class _Reader(PartReader):
    def __init__(self) -> None:
        super().__init__()
        self.form = InspectionForm()
        self.name = ""
        self.file_name = ""
        self.data = bytearray()

    def on_part_begin(self) -> None:
        super().on_part_begin()
        self.data = bytearray()

    def on_headers_finished(self) -> None:
        self.name, file_name = self.disposition()
        self.file_name = file_name or ""
        if self.name == PHOTO_FIELD:
            if len(self.form.photos) >= photos.MAX_PHOTOS:
                raise BadParameter("photo", f"more than {photos.MAX_PHOTOS} photos")
        elif self.name not in records.FIELDS:
            raise BadParameter(self.name, f"unknown field; the fields are {', '.join(records.FIELDS)}, photo")
        elif self.name in self.form.fields:
            raise BadParameter(self.name, "given twice")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.data += data[start:end]
        if self.name != PHOTO_FIELD and len(self.data) > MAX_TEXT_BYTES:
            raise BadParameter(self.name, f"longer than {MAX_TEXT_BYTES} bytes")
        if self.name == PHOTO_FIELD and len(self.data) > photos.MAX_PHOTO_BYTES:
            raise BodyTooLarge(
                f"photo: {self.file_name or 'a photo'} exceeds {photos.MAX_PHOTO_BYTES} bytes",
                limit_bytes=photos.MAX_PHOTO_BYTES,
            )

    def on_part_end(self) -> None:
        if self.name == PHOTO_FIELD:
            self.form.photos.append((self.file_name, bytes(self.data)))
            return
        try:
            self.form.fields[self.name] = self.data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BadParameter(self.name, "not UTF-8 text") from error


def _boundary(content_type: str | None) -> bytes | None:
    """The multipart boundary; None for a URL-encoded form (fields only, no photos)."""
    media, options = parse_options_header(content_type or "")
    if media == b"application/x-www-form-urlencoded":
        return None
    boundary = options.get(b"boundary")
    if media != b"multipart/form-data" or not boundary:
        raise BadParameter(
            "Content-Type",
            "send the inspection as multipart/form-data (or a URL-encoded form without photos)",
        )
    return boundary


def _url_encoded(body: bytes) -> InspectionForm:
    form = InspectionForm()
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as error:
        raise BadParameter("body", "not UTF-8 text") from error
    for name, value in pairs:
        if name not in records.FIELDS:
            raise BadParameter(name, f"unknown field; the fields are {', '.join(records.FIELDS)}")
        if name in form.fields:
            raise BadParameter(name, "given twice")
        form.fields[name] = value
    return form


async def read(request: Request) -> InspectionForm:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge(
            f"Content-Length {declared} exceeds {MAX_BODY_BYTES} bytes", limit_bytes=MAX_BODY_BYTES
        )
    boundary = _boundary(request.headers.get("content-type"))
    if boundary is None:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_TEXT_BYTES * len(records.FIELDS):
                raise BodyTooLarge(
                    "a URL-encoded inspection is fields only; send photos as multipart/form-data"
                )
        return _url_encoded(bytes(body))
    reader = _Reader()
    parser = reader.parser(boundary)
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > MAX_BODY_BYTES:
            raise BodyTooLarge(f"the body exceeds {MAX_BODY_BYTES} bytes", limit_bytes=MAX_BODY_BYTES)
        feed(parser, chunk)
    reader.check_finished()
    return reader.form
