"""Uploaded files of imports: written to the import directory as they arrive, never held in memory.

A file being received is `incoming-<random>.part` (a reader that dies mid-upload leaves only such
names, which `sweep` deletes); once complete it is renamed `upload-<random><ext>`, keeping the
extension the user gave (the readers tell CSV from XLSX, KML, GeoPackage by it as well as by content).
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from service.errors import BodyTooLarge

INCOMING_PREFIX = "incoming-"
UPLOAD_PREFIX = "upload-"
# a part file older than this belongs to a request that died with its process
ORPHAN_AGE_S = 24 * 3600
_EXTENSION = re.compile(r"\.[a-z0-9]{1,8}")


def extension(file_name: str | None) -> str:
    """The extension of the user's file name, lower case, when it is a plain one (else none)."""
    suffix = Path(file_name or "").suffix.lower()
    return suffix if _EXTENSION.fullmatch(suffix) else ""


class Receiving:
    """One file being received: `write` appends a chunk, refusing the one that passes `limit` bytes
    (counted over the whole request, as the caller says); `keep` names the complete file, `discard`
    deletes it. Always end with one of the two."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.path = directory / f"{INCOMING_PREFIX}{secrets.token_hex(12)}.part"
        self.file = self.path.open("xb")
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.size += len(chunk)

    def keep(self, file_name: str | None) -> Path:
        self.file.close()
        final = self.directory / f"{UPLOAD_PREFIX}{secrets.token_hex(12)}{extension(file_name)}"
        self.path.rename(final)
        return final

    def discard(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


def too_large(size: int | str, limit: int) -> BodyTooLarge:
    return BodyTooLarge(
        f"the upload is larger than {limit} bytes (SANICHAIN_IMPORT_MAX_BYTES): at {size}",
        limit_bytes=limit,
    )


def delete(path: str | Path | None) -> None:
    if path:
        Path(path).unlink(missing_ok=True)


def is_upload(directory: Path, path: str | None) -> bool:
    """Whether `path` is a kept upload of `directory` that still exists."""
    if not path:
        return False
    found = Path(path)
    return found.parent == directory and found.name.startswith(UPLOAD_PREFIX) and found.is_file()


def sweep_orphans(directory: Path, now: float | None = None) -> int:
    """Delete part files left by requests that died; the number deleted."""
    if not directory.is_dir():
        return 0
    now = time.time() if now is None else now
    gone = 0
    for entry in os.scandir(directory):
        if entry.name.startswith(INCOMING_PREFIX) and now - entry.stat().st_mtime > ORPHAN_AGE_S:
            Path(entry.path).unlink(missing_ok=True)
            gone += 1
    return gone


@contextmanager
def deleted_on_error(path: str | Path | None) -> Iterator[None]:
    """The upload is deleted when the block fails (a refused import keeps nothing)."""
    try:
        yield
    except BaseException:
        delete(path)
        raise
