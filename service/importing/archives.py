"""Zip archives as cities send them (zipped Shapefiles, KMZ, and the XLSX workbook, itself a zip): checked
from their directory before anything is unpacked, and unpacked only into a directory of ours.

A zip bomb is refused by what its directory declares (members, sizes, compression ratio, total), and
the unpacking never writes more than was declared; a member name that climbs out of the archive
(`../../etc/passwd`, `/etc/passwd`, `C:\\…`) refuses the whole archive.
"""

from __future__ import annotations

import shutil
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from service.config import ImportFileSettings, settings
from service.errors import BadParameter

# Below this a member's compression ratio says nothing: a few kB of blanks compress a hundredfold.
RATIO_FLOOR_BYTES = 1 << 20
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Limits:
    max_members: int
    max_member_bytes: int
    max_total_bytes: int
    max_ratio: float

    @classmethod
    def from_settings(cls) -> Limits:
        found = settings(ImportFileSettings)
        return cls(
            found.archive_max_members,
            found.archive_max_member_bytes,
            found.archive_max_total_bytes,
            found.archive_max_ratio,
        )


def _refuse(name: str, detail: str) -> BadParameter:
    return BadParameter("file", f"{name}: {detail}")


def member_path(member: str) -> PurePosixPath | None:
    """The member's path inside the archive, or None when it would land outside it."""
    text = member.replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):  # absolute, or a Windows drive
        return None
    parts = PurePosixPath(text).parts
    if any(part == ".." for part in parts):
        return None
    return PurePosixPath(*[part for part in parts if part not in ("", ".")]) if parts else None


def members(path: Path, limits: Limits | None = None, *, name: str | None = None) -> list[zipfile.ZipInfo]:
    """The archive's file members after every check; BadParameter("file", …) naming the file and the
    member at fault otherwise."""
    limits = limits or Limits.from_settings()
    name = name or path.name
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise _refuse(name, f"not a readable zip archive (cut short or damaged: {error})") from error
    if len(infos) > limits.max_members:
        raise _refuse(name, f"{len(infos)} members in the archive, more than {limits.max_members}")
    total = 0
    for info in infos:
        if member_path(info.filename) is None:
            raise _refuse(name, f"member {info.filename!r} points outside the archive; refused")
        if info.is_dir():
            continue
        if info.file_size > limits.max_member_bytes:
            raise _refuse(
                name,
                f"member {info.filename!r} unpacks to {info.file_size:,} bytes, more than "
                f"{limits.max_member_bytes:,}",
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR_BYTES and ratio > limits.max_ratio:
            raise _refuse(
                name,
                f"member {info.filename!r} is compressed {ratio:,.0f}:1, more than {limits.max_ratio:,.0f}:1 "
                "(a zip bomb?)",
            )
        total += info.file_size
        if total > limits.max_total_bytes:
            raise _refuse(name, f"the archive unpacks to more than {limits.max_total_bytes:,} bytes")
    return [info for info in infos if not info.is_dir()]


def extract(
    path: Path, into: Path, wanted: set[str], limits: Limits | None = None, *, name: str | None = None
) -> list[Path]:
    """The members whose suffix is in `wanted` (".shp", …), checked, unpacked under `into`."""
    name = name or path.name
    checked = members(path, limits, name=name)
    root = into.resolve()
    written: list[Path] = []
    with zipfile.ZipFile(path) as archive:
        for info in checked:
            relative = member_path(info.filename)
            if relative is None or relative.suffix.lower() not in wanted:
                continue
            target = (root / relative).resolve()
            if not target.is_relative_to(root):  # belt and braces: member_path refused it already
                raise _refuse(name, f"member {info.filename!r} points outside the archive; refused")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                # zipfile stops at the declared size and checks the CRC: a lying header cannot grow it
                with archive.open(info) as source, target.open("wb") as sink:
                    shutil.copyfileobj(source, sink, _CHUNK)
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as error:
                raise _refuse(name, f"member {info.filename!r} cannot be unpacked: {error}") from error
            written.append(target)
    return written
