"""The README's `POST /imports` example runs as written, with curl, against the real service: the dry
run's report comes back, and its confirmation stores the farm with its history."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from service.config import REPO_ROOT
from service.db import make_engine
from tests.service_process import running_service
from tests.test_imports_api import build_world

SECTION = "## Import page and `POST /imports`"


def test_the_import_api_example_of_the_readme_runs_as_written(empty_database_url, tmp_path: Path):
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(SECTION)
    blocks = re.findall(r"```bash\n(.*?)```", readme[start : readme.index("\n## ", start + 1)], re.S)
    assert len(blocks) == 1
    engine = make_engine(empty_database_url)
    build_world(engine)
    env = {"SANICHAIN_IMPORT_DIR": str(tmp_path / "uploads")}
    with running_service(empty_database_url, env=env) as base:
        shell_env = {
            **os.environ,
            "DATABASE_URL": empty_database_url,
            "BASE": base,
            "PW": "a long enough password",
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        }
        done = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + blocks[0]],
            env=shell_env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr + done.stdout
        answers, rest = [], done.stdout[done.stdout.index("{") :]  # after `users add`'s line
        while rest:  # curl writes the JSON documents one after another, without newlines
            found, end = json.JSONDecoder().raw_decode(rest)
            answers.append(found)
            rest = rest[end:].strip()
        job, confirmation = answers
        assert job["dry_run"] is True and job["report"]["summary"]["created"] == 1
        assert confirmation["confirms"] == job["id"]
        deadline = time.monotonic() + 60
        while True:  # the confirmation's job may still run after its answer
            with engine.connect() as conn:
                stored = conn.execute(
                    text("SELECT name, head_count, version FROM livestock_farms WHERE code = 'LF-WEB-1'")
                ).all()
                history = conn.execute(
                    text("SELECT count(*) FROM feature_history WHERE layer = 'livestock_farms'")
                ).scalar()
            if stored or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    engine.dispose()
    assert [tuple(r) for r in stored] == [("张家庄生猪养殖场", 800, 1)]
    assert history == 1
