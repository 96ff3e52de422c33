"""GDAL's command-line tools as an independent reader of what the service writes."""

from __future__ import annotations

import re
import subprocess


def ogr(*args: str, timeout: float = 300) -> str:
    """Run ogrinfo/ogr2ogr; their standard output, or the test fails with their error."""
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def field_types(info: str) -> dict[str, str]:
    """Field name -> GDAL type from `ogrinfo -so` output (date-times may carry a "(UTC)" suffix)."""
    return dict(re.findall(r"^(\S+(?: \(UTC\))?): (\w+(?:\(\w+\))?) \(", info, flags=re.M))
