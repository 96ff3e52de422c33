"""The README's account examples run as written: every `bash` block of its accounts section, in one
shell, against a real service over a copy of the demo."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from service.config import REPO_ROOT
from service.db import make_engine
from service.demo import loader
from tests.conftest import DEMO_DIR
from tests.service_process import running_service

SECTION = "## Accounts, sign-in and audit"
PW = "a long enough password"


def section_blocks(readme: str, section: str = SECTION) -> list[str]:
    start = readme.index(section)
    end = readme.index("\n## ", start + len(section))
    return re.findall(r"```bash\n(.*?)```", readme[start:end], re.S)


def test_the_accounts_examples_of_the_readme_run_as_written(empty_database_url, tmp_path: Path):
    blocks = section_blocks((REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 2
    engine = make_engine(empty_database_url)
    loader.load(engine, DEMO_DIR)
    with running_service(empty_database_url) as base:
        env = {
            **os.environ,
            "DATABASE_URL": empty_database_url,
            "BASE": base,
            "PW": PW,
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        }
        script = "set -euo pipefail\n" + "\n".join(blocks)
        done = subprocess.run(
            ["bash", "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 0, done.stderr
    assert '"name":"planner1","role":"planner"' in done.stdout.replace(" ", "")
    with engine.connect() as conn:
        users = conn.execute(text("SELECT name, role, disabled FROM users ORDER BY name")).all()
        kinds = conn.execute(text("SELECT kind, revoked_at IS NOT NULL FROM api_tokens ORDER BY id")).all()
        played = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'scenario.play' AND user_name = 'planner1'")
        ).scalar()
    engine.dispose()
    assert [tuple(u) for u in users] == [("clerk", "inspector", True), ("planner1", "planner", False)]
    # the API token and the access token of the examples, both revoked by them
    assert [tuple(k) for k in kinds] == [("api", True), ("access", True)]
    assert played == 1
