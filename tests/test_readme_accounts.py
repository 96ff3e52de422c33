"""The README's account examples run as written: every `bash` block of its accounts section, in one
shell, against a real service over a copy of the demo."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from service.db import make_engine
from tests.readme_examples import readme, run_section, section_blocks

SECTION = "## Accounts, sign-in and audit"


def test_the_accounts_examples_of_the_readme_run_as_written(empty_database_url, tmp_path: Path):
    assert len(section_blocks(readme(), SECTION)) >= 2
    done = run_section(empty_database_url, SECTION, tmp_path)
    engine = make_engine(empty_database_url)
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
