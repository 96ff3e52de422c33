"""Generated requests from /openapi.json (schemathesis) against the demo city, then the database checked.

Each request must get no 5xx, a status the document lists for that operation, and a body that matches
the document's schema for it. Bounded: a fixed number of examples per operation, derandomized (the
same requests every run), no shrinking, a statement timeout on the database and small siting limits,
and a wall-clock budget per operation that fails the test when exceeded.

1. Every operation of /openapi.json with an admin token, map pages included (their HTML is checked
   for status and media type). Not in the document, so not generated: /openapi.json and /docs
   (FastAPI's own) and /api (the same document in OpenAPI 3.0, validated in test_openapi30.py).
2. Every write operation (POST, PUT, PATCH, DELETE) again with a token of each other role and with no
   token, fewer examples each. A caller whose role may not write with the operation must change
   nothing: every table's checksum is the same after the operation's run, and the audit log gained
   only refusals, failures and proposals (`consistency.changes`).
3. The database afterwards: each named check of `tests/consistency.py` (versions and history, audit
   entries, link lines, photos, imports), and no integrity finding of the chain that was not there
   before the first request, unless it names a feature a request wrote (or an end of a written link).

Everything runs on a copy of the demo made for this module and dropped after it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import wait
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from service.accounts import permissions
from service.accounts.permissions import Action
from service.api.app import create_app
from service.api.openapi_responses import ROLES_EXTENSION
from service.config import SitingSettings
from service.db import make_engine
from service.vocabulary import ROLES
from tests import consistency
from tests.accounts import role_headers
from tests.conftest import PgServer, demo_copy

# FUZZ_EXAMPLES=200 for a deeper run by hand (the budgets grow with it); FUZZ_TIMES=1 prints each
# operation's time (with -s)
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "25"))
# each write again per other role and without a token: fewer, the refusals are alike
EXAMPLES_PER_CALLER = max(1, EXAMPLES_PER_OPERATION // 5)
# the heaviest (scenarios: ~1 s an example alone) needs headroom on a shared, busy machine; a run of
# few generated examples is budgeted as the admin's: it runs the same explicit examples of the document
# (14 for scenarios, each a whole scenario for a planner), and the first, cold request weighs more there
SECONDS_PER_EXAMPLE = 1.6
BUDGETED_EXAMPLES_AT_LEAST = max(10, EXAMPLES_PER_OPERATION)
# Any one statement longer than this is cancelled (the service answers 503): the generated requests
# include the heaviest a client may ask for, and the suite must stay short.
STATEMENT_TIMEOUT = "10s"
# A request waits this long for its answer: a few statements, each under the timeout above.
REQUEST_TIMEOUT_S = 30
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE"]
# every role but the admin's, and None: no token at all
CALLERS = (*(role for role in ROLES if role != "admin"), None)
# Operations whose listed roles may call them, but whose writing needs another action (a planner
# proposes chain assignments; applying them needs assign_chain).
WRITING_ACTION: dict[str, Action] = {"POST /chain/assignments": Action.assign_chain}

# The document needs no database: it is read once, from an application over an engine never used.
# FUZZ_DOCUMENT=/api runs the same checks over the OpenAPI 3.0 document (each layer's items path).
schema = schemathesis.openapi.from_asgi(
    os.environ.get("FUZZ_DOCUMENT", "/openapi.json"),
    create_app(make_engine("postgresql+psycopg2://unused@127.0.0.1:9/unused")),
)
DOCUMENT: dict[str, Any] = schema.raw_schema

# What the probe still finds, by test label ("METHOD /path", or "METHOD /path as ROLE" for the other
# callers): each is fixed elsewhere in the same issue; remove the entry with the fix (strict: an
# operation that passes while listed fails the suite).
KNOWN_FINDINGS: dict[str, str] = {}


def fuzzing(examples: int) -> Any:
    """The hypothesis settings of both fuzz tests, with their number of examples per operation."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as generated
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture(scope="module")
def fuzz_app(pg_server: PgServer, migrated_template: str) -> Iterator[FastAPI]:
    """The service over a copy of the demo, with small limits, writes enabled; dropped afterwards."""
    with demo_copy(pg_server, migrated_template, "fuzz") as url:
        name = make_url(url).database
        with closing(pg_server.admin()) as conn, conn.cursor() as cur:  # for the service's sessions only
            cur.execute(f"ALTER DATABASE {name} SET statement_timeout = '{STATEMENT_TIMEOUT}'")
        engine = make_engine(url)
        app = create_app(engine)
        app.state.siting_settings = SitingSettings(
            max_variables_covering=2_000, max_variables_median=2_000, max_pairs=50_000, time_limit_s=2
        )
        yield app
        engine.dispose()


def engine_of(app: FastAPI) -> Engine:
    engine: Engine = app.state.engine
    return engine


def imports_settled(app: FastAPI) -> None:
    """Until the import jobs the requests started have ended (they run in threads of the service)."""
    runner = getattr(app.state, "import_runner", None)
    if runner is not None:
        wait(list(runner.running.values()), timeout=60)


@dataclass(frozen=True)
class Before:
    """The database before the first generated request."""

    findings: set[consistency.FindingKey]
    mark: consistency.Mark


@pytest.fixture(scope="module")
def before_fuzzing(fuzz_app: FastAPI) -> Before:
    """Every role's user and token made, then the integrity findings the demo starts with."""
    for role in ROLES:
        role_headers(engine_of(fuzz_app), role)
    engine = engine_of(fuzz_app)
    return Before(
        consistency.run(engine, consistency.integrity_findings), consistency.run(engine, consistency.mark)
    )


# failures seen per test label in this run (for the strictness check of KNOWN_FINDINGS)
FAILURES: dict[str, int] = {}


@dataclass
class Clock:
    label: str
    start: float


@pytest.fixture
def operation_clock(request: pytest.FixtureRequest) -> Iterator[Clock]:
    """Start of this operation's run; a listed finding is marked as an expected failure."""
    label = request.node.operation_label
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and "caller" in callspec.params:
        label += f" as {callspec.params['caller'] or 'anonymous'}"
    if label in KNOWN_FINDINGS:
        # not strict=True: schemathesis' report hook breaks on a strict XPASS; the last test checks it
        request.applymarker(pytest.mark.xfail(reason=KNOWN_FINDINGS[label]))
    FAILURES[label] = 0
    clock = Clock(label, time.monotonic())
    yield clock
    if os.environ.get("FUZZ_TIMES"):
        print(f"\nfuzz time {label}: {time.monotonic() - clock.start:.1f} s")


def call_and_check(case: Any, app: FastAPI, headers: dict[str, str], clock: Clock, examples: int) -> None:
    """One generated request, its answer checked against the document, within the operation's budget."""
    budget = SECONDS_PER_EXAMPLE * max(examples, BUDGETED_EXAMPLES_AT_LEAST)
    assert time.monotonic() - clock.start < budget, (
        f"{clock.label}: over its fuzzing budget of {budget:.0f} s"
    )
    try:
        case.call_and_validate(app=app, headers=headers, checks=CHECKS, timeout=REQUEST_TIMEOUT_S)
    except Exception:
        FAILURES[clock.label] += 1
        raise


@schema.parametrize()
@fuzzing(EXAMPLES_PER_OPERATION)
def test_every_operation_answers_only_documented_statuses_and_bodies(
    case, fuzz_app, before_fuzzing, operation_clock
):
    # an admin may call every operation; its token is made again when a fuzzed sign-out revoked it
    admin = role_headers(engine_of(fuzz_app), "admin")
    call_and_check(case, fuzz_app, admin, operation_clock, EXAMPLES_PER_OPERATION)


def may_write(label: str, caller: str | None) -> bool:
    """Whether the caller's role may change anything with this operation (`x-sanichain-roles`; the
    sign-in itself is open to anyone)."""
    method, _, path = label.partition(" ")
    listed = DOCUMENT["paths"][path][method.lower()].get(ROLES_EXTENSION)
    if listed is None:
        return True
    writing = WRITING_ACTION.get(label)
    return caller is not None and caller in (permissions.allowed_roles(writing) if writing else listed)


@pytest.fixture
def changes_only_what_it_may(
    request: pytest.FixtureRequest, fuzz_app: FastAPI, caller: str | None
) -> Iterator[None]:
    """A caller who may not write with this operation leaves every table as it was (once all of the
    operation's examples have run)."""
    label = request.node.operation_label
    if may_write(label, caller):
        yield
        return
    engine = engine_of(fuzz_app)
    if caller:
        role_headers(engine, caller)  # a token revoked by a fuzzed sign-out is made again before
    imports_settled(fuzz_app)  # an earlier import job finishing is not this caller's change
    before = consistency.run(engine, consistency.state)
    yield
    changed = consistency.run(engine, lambda conn: consistency.changes(conn, before))
    assert changed == [], f"{label} as {caller or 'anonymous'} may not write, but changed: {changed}"


@schema.include(method=WRITE_METHODS).parametrize()
@pytest.mark.parametrize("caller", CALLERS, ids=lambda caller: caller or "anonymous")
@fuzzing(EXAMPLES_PER_CALLER)
def test_every_write_with_each_role_or_none_answers_as_documented_and_changes_only_what_it_may(
    case, caller, fuzz_app, before_fuzzing, operation_clock, changes_only_what_it_may
):
    headers = role_headers(engine_of(fuzz_app), caller) if caller else {}
    call_and_check(case, fuzz_app, headers, operation_clock, EXAMPLES_PER_CALLER)


@pytest.mark.parametrize("name", consistency.CHECKS)
def test_the_database_is_consistent_after_the_fuzzing(name, fuzz_app, before_fuzzing):
    imports_settled(fuzz_app)
    assert consistency.run(engine_of(fuzz_app), consistency.CHECKS[name]) == []


def test_every_integrity_finding_the_fuzzing_added_names_a_feature_it_wrote(fuzz_app, before_fuzzing):
    """A write may add findings (a reroute leaves the facility it moved links away from unfed), but only
    about what it wrote; anything else is damage no request asked for."""
    imports_settled(fuzz_app)
    engine = engine_of(fuzz_app)
    new = consistency.run(engine, consistency.integrity_findings) - before_fuzzing.findings
    written = consistency.run(engine, lambda conn: consistency.written_since(conn, before_fuzzing.mark))
    assert consistency.unexplained(new, written) == []


def test_each_listed_finding_still_fails_until_its_fix_lands():
    """The strict half of KNOWN_FINDINGS: an operation that ran and passed must leave the list."""
    fixed = [label for label in KNOWN_FINDINGS if FAILURES.get(label) == 0]
    assert not fixed, f"these pass now, remove them from KNOWN_FINDINGS: {fixed}"
