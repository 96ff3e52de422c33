"""What an import did, or would do: counts, every rejected row with its column and reason, warnings,
and the chain's findings after it.

Memory stays flat whatever the file's size: the report keeps the first `cap` rejections and warnings
and counts the rest; every rejected row goes to a CSV written to a temporary file as the import runs
(`write_rejected_csv` copies it out), so a clerk gets all of them to fix.
"""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from service.cells import inert

# Rejections (and warnings) the report lists; beyond it they are counted (and written to the CSV).
LISTED = 1000
PROBLEM_HEADER = "问题 problem"


@dataclass(frozen=True)
class Problem:
    row: int  # the row's number as the clerk sees it in the file (the header's row is above)
    column: str | None  # the file's header text where the problem has one; None for the whole row
    problem: str
    field: str | None = None  # the validation's field ("properties.capacity", "geometry") where known


@dataclass
class Summary:
    layer: str
    file_name: str
    format: str  # "csv", "xlsx", …
    encoding: str | None
    sheet: str | None
    crs: str | None
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0  # rows
    warned: int = 0  # rows with a warning
    written: bool = False
    dry_run: bool = False
    import_id: str = ""


@dataclass
class Listing:
    """Problems up to a cap, with the count of all of them."""

    cap: int = LISTED
    items: list[Problem] = field(default_factory=list)
    count: int = 0

    def add(self, item: Problem) -> None:
        self.count += 1
        if len(self.items) < self.cap:
            self.items.append(item)

    @property
    def truncated(self) -> bool:
        return self.count > len(self.items)


@dataclass
class Report:
    summary: Summary
    rejected: Listing = field(default_factory=Listing)
    warnings: Listing = field(default_factory=Listing)
    file_warnings: list[str] = field(default_factory=list)  # about the whole file (a GCJ-02 offset)
    chain: dict[str, Any] | None = None  # findings created and cleared by the import, or why not checked
    rejected_csv: Path | None = None  # the temporary file of rejected rows (None: no rejected row)

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": asdict(self.summary),
            "rejected": [asdict(p) for p in self.rejected.items],
            "rejected_count": self.rejected.count,
            "rejected_truncated": self.rejected.truncated,
            "warnings": [asdict(p) for p in self.warnings.items],
            "warnings_count": self.warnings.count,
            "warnings_truncated": self.warnings.truncated,
            "file_warnings": self.file_warnings,
            "chain": self.chain,
        }

    def write_rejected_csv(self, file: Path | IO[bytes]) -> int:
        """The rejected rows as the file has them, with a `问题 problem` column: UTF-8 with a BOM (Excel
        reads the Chinese), cells that would run as formulas made inert. Returns the bytes written."""
        source = self.rejected_csv
        if isinstance(file, Path):
            with file.open("wb") as out:
                return self.write_rejected_csv(out)
        if source is None:
            data = _csv_bytes([[PROBLEM_HEADER]])
            file.write(data)
            return len(data)
        with source.open("rb") as inp:
            shutil.copyfileobj(inp, file)
        return source.stat().st_size

    def discard(self) -> None:
        """Remove the temporary file (the report's lists stay)."""
        if self.rejected_csv is not None:
            self.rejected_csv.unlink(missing_ok=True)
            self.rejected_csv = None


def _csv_bytes(rows: Iterable[list[Any]]) -> bytes:
    with tempfile.SpooledTemporaryFile(mode="w+", encoding="utf-8-sig", newline="") as text:
        csv.writer(text).writerows([[_cell(c) for c in r] for r in rows])
        text.seek(0)
        return text.read().encode("utf-8-sig")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return inert(value if isinstance(value, str | int | float) else str(value))


def write_rejected(
    header: list[Any], rows: Iterator[tuple[int, list[Any]]], problems: Iterator[tuple[int, str]]
) -> Path:
    """A temporary CSV of the rejected rows: `rows` (number, cells) of the whole file in order, merged
    with `problems` (number, problem text) ordered by number; both are streamed."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115  (kept after closing: the report's file)
        "w", encoding="utf-8-sig", newline="", prefix="sanichain-rejected-", suffix=".csv", delete=False
    )
    with handle as out:
        writer = csv.writer(out)
        writer.writerow([_cell(c) for c in header] + [PROBLEM_HEADER])
        pending = next(problems, None)
        for number, cells in rows:
            if pending is None:
                break
            while pending is not None and pending[0] < number:  # a row the reader skipped
                pending = next(problems, None)
            if pending is None or number < pending[0]:
                continue
            said = []
            while pending is not None and pending[0] == number:
                said.append(pending[1])
                pending = next(problems, None)
            if said:
                writer.writerow([_cell(c) for c in cells] + [_cell("; ".join(said))])
    return Path(handle.name)


def dump(report: Report, path: Path) -> None:
    path.write_text(json.dumps(report.to_json(), ensure_ascii=False, indent=2, default=str), encoding="utf-8")
