"""Running the README's examples as written: the `bash` blocks of one section, in one shell, against a
real service (`make run`'s process) over a copy of the demo."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from service.config import REPO_ROOT
from service.db import make_engine
from service.demo import loader
from tests.conftest import DEMO_DIR
from tests.service_process import running_service

# The password the examples give their users (`$PW`).
PW = "a long enough password"


def readme() -> str:
    return (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def section_blocks(text: str, section: str) -> list[str]:
    """The `bash` blocks between the heading `section` and the next heading of its level."""
    start = text.index(section)
    end = text.find("\n## ", start + len(section))
    return re.findall(r"```bash\n(.*?)```", text[start : end if end != -1 else None], re.S)


def run_section(
    database_url: str, section: str, cwd: Path, *, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Load the demo into the empty database at `database_url`, start the service on it, and run the
    section's blocks with `set -euo pipefail` ($BASE is the service, $PW the examples' password)."""
    blocks = section_blocks(readme(), section)
    assert blocks, f"no bash blocks under {section!r}"
    engine = make_engine(database_url)
    loader.load(engine, DEMO_DIR)
    engine.dispose()
    with running_service(database_url) as base:
        shell_env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "BASE": base,
            "PW": PW,
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            **(env or {}),
        }
        script = "set -euo pipefail\n" + "\n".join(blocks)
        return subprocess.run(
            ["bash", "-c", script], env=shell_env, cwd=cwd, capture_output=True, text=True, timeout=timeout
        )
