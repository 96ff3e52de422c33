"""Photos sent with an inspection: their type told by their first bytes (never by the name or the header
the phone sent), their size and number limited."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from service.errors import BadParameter, TooLarge, UnsupportedMedia
from service.vocabulary import PHOTO_TYPES

MAX_PHOTO_BYTES = 5 * 1024 * 1024  # the form sends photos downscaled; a camera original is 2–6 MB
MAX_PHOTOS = 4
TYPES = PHOTO_TYPES


@dataclass(frozen=True)
class Photo:
    content_type: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def sniffed_type(content: bytes) -> str | None:
    """The image type the bytes are, or None."""
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(content) >= 12 and content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def checked(files: list[tuple[str, bytes]]) -> list[Photo]:
    """(file name, bytes) pairs as received → photos, or the first problem named by its file."""
    if len(files) > MAX_PHOTOS:
        raise TooLarge(f"photos: {len(files)} sent; at most {MAX_PHOTOS} per inspection", limit=MAX_PHOTOS)
    photos = []
    for number, (name, content) in enumerate(files, start=1):
        label = f"photos[{number}] ({name or 'unnamed'})"
        if not content:
            raise BadParameter("photos", f"{label} is empty")
        if len(content) > MAX_PHOTO_BYTES:
            raise TooLarge(
                f"photos: {label} is {len(content)} bytes; at most {MAX_PHOTO_BYTES} per photo",
                limit_bytes=MAX_PHOTO_BYTES,
            )
        kind = sniffed_type(content)
        if kind is None:
            raise UnsupportedMedia(
                f"photos: {label} is not a JPEG, PNG or WebP image",
                accepted=["image/jpeg", "image/png", "image/webp"],
            )
        photos.append(Photo(kind, content))
    return photos
