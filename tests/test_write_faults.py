"""No acknowledged write is lost when the database crashes or freezes under a stream of writes.

The real service runs in a subprocess over a cluster of this module's own. Client threads send
feature creates, merge patches, small imports and inspections over HTTP while the cluster is killed
(`pg_ctl stop -m immediate`, a power cut for the server) and started again, or frozen (SIGSTOP) for
longer than the service's statement and connection timeouts and resumed. Every request and its answer
is recorded; once the service answers again by itself, the database must hold:

- every write answered 2xx exactly as answered (values, version, the import's rows, the inspection
  with its photo);
- every write answered with an error either entirely or not at all (a feature row with its history and
  audit entries, an import's rows, an inspection with its photo and its audit entry);
and every answer meanwhile is a 2xx, a 503 (or 504), or for a patch a 412, never later than BOUND_S.
An inspection sent during the fault and re-sent after it with the same Idempotency-Key is stored once.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from service.db import make_engine
from tests.accounts import role_headers
from tests.conftest import OwnCluster
from tests.robustness import eventually
from tests.service_process import running_service
from tests.test_inspections import PNG

pytestmark = pytest.mark.slow

STATEMENT_TIMEOUT_S = 4
CONNECT_TIMEOUT_S = 2
FAULT_S = 7  # longer than both: a frozen server outlives every timeout the service sets
BOUND_S = 15.0  # no answer later than this (the guard answers in ~1.5 s; the machine is busy)
ENV = {
    "SANICHAIN_LIVENESS_AFTER_S": "0.5",
    "SANICHAIN_LIVENESS_TIMEOUT_S": "1",
    "SANICHAIN_LIVENESS_TTL_S": "1",
    "SANICHAIN_DB_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT_S),
    "SANICHAIN_STATEMENT_TIMEOUT_INTERACTIVE_S": str(STATEMENT_TIMEOUT_S),
    "SANICHAIN_IMPORT_WAIT_S": "5",
}
ERRORS = {503, 504}  # what an outage may answer
KINDS = ("create", "patch", "import", "inspection")
IMPORT_HEADER = "编码,名称,畜种,存栏(头),单位,经度,纬度,状态\n"


@dataclass
class Call:
    """One request as the client saw it."""

    kind: str  # create, patch, import, inspection
    request_id: str
    started: float
    elapsed: float = 0.0
    status: int | None = None  # None: no answer (transport error)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    sent: dict[str, Any] = field(default_factory=dict)  # what the write was meant to store

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class World:
    base: str
    engine: Engine
    editor: dict[str, str]
    inspector: dict[str, str]
    station_to_patch: int
    station_to_inspect: int


class Traffic:
    """Writer threads sending until stopped; every request recorded."""

    def __init__(self, world: World, tag: str) -> None:
        self.world = world
        self.tag = tag
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.in_flight: dict[str, int] = {}
        self.threads = [
            threading.Thread(target=self._loop, args=(send,), daemon=True)
            for send in (self._create, self._patch, self._import, self._inspect)
        ]

    def __enter__(self) -> Traffic:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=BOUND_S + 10)
        assert not any(t.is_alive() for t in self.threads), "a writer is stuck"

    def _loop(self, send: Callable[[httpx.Client, int], None]) -> None:
        with httpx.Client(base_url=self.world.base, timeout=BOUND_S + 5) as client:
            n = 0
            while not self.stopping.is_set():
                n += 1
                send(client, n)
                time.sleep(0.1)

    def call(self, client: httpx.Client, kind: str, method: str, path: str, sent: dict[str, Any],
             **kwargs: Any) -> Call:  # fmt: skip
        rid = f"{self.tag}-{kind}-{uuid.uuid4().hex[:12]}"
        headers = {**kwargs.pop("headers", {}), "X-Request-ID": rid}
        record = Call(kind, rid, time.monotonic(), sent=sent)
        with self.lock:
            self.in_flight[kind] = self.in_flight.get(kind, 0) + 1
        try:
            answer = client.request(method, path, headers=headers, **kwargs)
            record.status, record.headers = answer.status_code, dict(answer.headers)
            json_body = answer.content and "json" in answer.headers.get("content-type", "")
            record.body = answer.json() if json_body else None
        except httpx.HTTPError as exc:
            record.error = f"{type(exc).__name__}: {exc}"
        record.elapsed = time.monotonic() - record.started
        with self.lock:
            self.in_flight[kind] -= 1
            self.calls.append(record)
        return record

    def wait_written_since(self, since: float, within_s: float) -> None:
        """Until every kind of write has been answered 2xx after `since`, at most `within_s`."""

        def written() -> set[str]:
            with self.lock:
                return {c.kind for c in self.calls if c.ok and c.started >= since}

        eventually(written, lambda kinds: kinds >= set(KINDS), within_s)

    def wait_in_flight(self, kind: str, within_s: float) -> None:
        """Until a request of `kind` is on its way (the fault should catch one), at most `within_s`."""
        eventually(lambda: self.in_flight.get(kind, 0), lambda n: n > 0, within_s)

    # -- the writers ----------------------------------------------------------------------------
    def _create(self, client: httpx.Client, n: int) -> None:
        code = f"TS-{self.tag}-{n}"
        feature = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [119.40 + n * 0.0001, 36.0]},
            "properties": {"code": code, "name": f"故障中转站{n}", "capacity": n, "capacity_unit": "t/d"},
        }
        self.call(client, "create", "POST", "/collections/transfer_stations/items",
                  {"code": code, "capacity": n}, json=feature,
                  headers={**self.world.editor, "Content-Type": "application/geo+json"})  # fmt: skip

    def _patch(self, client: httpx.Client, n: int) -> None:
        path = f"/collections/transfer_stations/items/{self.world.station_to_patch}"
        try:
            read = client.get(path, headers=self.world.editor)
        except httpx.HTTPError:
            return
        if read.status_code != 200:
            return
        version = read.headers["etag"]
        capacity = 1000 + n
        self.call(client, "patch", "PATCH", path, {"capacity": capacity, "if_match": version},
                  json={"properties": {"capacity": capacity}},
                  headers={**self.world.editor, "If-Match": version,
                           "Content-Type": "application/merge-patch+json"})  # fmt: skip

    def _import(self, client: httpx.Client, n: int) -> None:
        codes = [f"LF-{self.tag}-{n}-{i}" for i in (1, 2)]
        rows = "".join(
            f"{code},故障养殖场{n}-{i},生猪,{600 + i},m3,{119.4 + i / 1000:.3f},{36 + n / 10000:.4f},运行\n"
            for i, code in enumerate(codes)
        )
        files = {"file": ("farms.csv", (IMPORT_HEADER + rows).encode(), "text/csv")}
        form = {"layer": "livestock_farms", "encoding": "utf-8", "dry_run": "false"}
        self.call(client, "import", "POST", "/imports", {"codes": codes}, files=files, data=form,
                  headers=self.world.editor)  # fmt: skip

    def _inspect(self, client: httpx.Client, n: int) -> None:
        send_inspection(self, client, f"{self.tag}-visit-{n}-{uuid.uuid4().hex[:8]}")


def send_inspection(traffic: Traffic, client: httpx.Client, key: str, at: datetime | None = None) -> Call:
    at = at or datetime.now(UTC) - timedelta(minutes=5)
    fields = {
        "layer": "transfer_stations",
        "feature_id": str(traffic.world.station_to_inspect),
        "inspected_at": at.isoformat(timespec="seconds"),
        "outcome": "defects",
        "notes": key,
    }
    return traffic.call(client, "inspection", "POST", "/inspections", {"key": key, **fields}, data=fields,
                        files=[("photo", ("site.png", PNG, "image/png"))],
                        headers={**traffic.world.inspector, "Idempotency-Key": key})  # fmt: skip


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(own_cluster: OwnCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    engine = make_engine(own_cluster.url)
    # The tests' clusters commit asynchronously (speed); a crash would then lose the last commits of
    # the WAL writer's interval, acknowledged or not. A real server commits synchronously: so here.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ALTER SYSTEM SET synchronous_commit = on"))
        conn.execute(text("SELECT pg_reload_conf()"))
    with engine.connect() as conn:
        stations = conn.execute(
            text("SELECT id FROM transfer_stations WHERE status = 'operational' ORDER BY id LIMIT 2")
        ).scalars().all()  # fmt: skip
    env = {**ENV, "SANICHAIN_IMPORT_DIR": str(tmp_path_factory.mktemp("imports"))}
    with running_service(own_cluster.url, env) as base:
        yield World(
            base, engine, role_headers(engine, "editor"), role_headers(engine, "inspector"), *stations
        )
    engine.dispose()


# -- the checks -------------------------------------------------------------------------------------


def answers_were_bounded(calls: list[Call]) -> None:
    """Every request got an answer in time, and every error is an outage's (or a patch's stale If-Match)."""
    late = [(c.kind, c.elapsed, c.status) for c in calls if c.elapsed > BOUND_S]
    assert not late, late
    unanswered = [(c.kind, c.error) for c in calls if c.status is None]
    assert not unanswered, unanswered
    allowed = {"patch": ERRORS | {412}}
    wrong = [
        (c.kind, c.status, c.body) for c in calls if not c.ok and c.status not in allowed.get(c.kind, ERRORS)
    ]
    assert not wrong, wrong
    for c in calls:
        if c.status == 503:
            assert c.body["status"] == 503 and int(c.headers["retry-after"]) > 0, c.body


def creates_hold(engine: Engine, calls: list[Call]) -> None:
    with engine.connect() as conn:
        for c in calls:
            row = conn.execute(
                text("SELECT id, version, capacity FROM transfer_stations WHERE code = :code"),
                {"code": c.sent["code"]},
            ).first()
            histories = conn.execute(
                text(
                    "SELECT feature_id, version FROM feature_history "
                    "WHERE request_id = :r AND operation = 'create'"
                ),
                {"r": c.request_id},
            ).all()
            audits = conn.execute(
                text("SELECT target_id FROM audit_log WHERE request_id = :r AND action = 'feature.create'"),
                {"r": c.request_id},
            ).scalars().all()  # fmt: skip
            if c.ok:
                assert c.status == 201 and row is not None, (c.sent, c.status)
                assert (row.id, row.version, float(row.capacity)) == (c.body["id"], 1, c.sent["capacity"])
            if row is None:  # never written: nothing of it anywhere
                assert (histories, audits) == ([], []), (c.sent, c.status, histories, audits)
            else:  # written whole: the row, its history entry and its audit entry
                assert [tuple(h) for h in histories] == [(row.id, 1)], (c.sent, c.status)
                assert audits == [str(row.id)], (c.sent, c.status)


def patches_hold(engine: Engine, calls: list[Call], feature_id: int) -> None:
    with engine.connect() as conn:
        for c in calls:
            histories = conn.execute(
                text(
                    "SELECT version, (after->'properties'->>'capacity')::numeric AS capacity "
                    "FROM feature_history WHERE request_id = :r"
                ),
                {"r": c.request_id},
            ).all()
            audits = conn.execute(
                text("SELECT count(*) FROM audit_log WHERE request_id = :r AND action = 'feature.update'"),
                {"r": c.request_id},
            ).scalar_one()
            assert len(histories) == audits <= 1, (c.sent, c.status, histories, audits)  # both or neither
            if c.ok:
                assert c.status == 200, c.status
                version = int(c.headers["etag"].strip('"'))
                assert [(h.version, float(h.capacity)) for h in histories] == [(version, c.sent["capacity"])]
                assert version == int(c.sent["if_match"].strip('"')) + 1
        # the row is its latest history entry, and the versions have no gap
        row = conn.execute(
            text("SELECT version, capacity FROM transfer_stations WHERE id = :id"), {"id": feature_id}
        ).one()
        versions = conn.execute(
            text(
                "SELECT version, (after->'properties'->>'capacity')::numeric FROM feature_history "
                "WHERE layer = 'transfer_stations' AND feature_id = :id ORDER BY version"
            ),
            {"id": feature_id},
        ).all()
    numbers = [v for v, _ in versions]
    assert numbers == list(range(numbers[0], row.version + 1)), numbers  # no gap, none twice
    assert (versions[-1][0], float(versions[-1][1])) == (row.version, float(row.capacity))


def job_endings(engine: Engine, calls: list[Call]) -> dict[str, str]:
    """request id → the final status of the import job it started (if it got so far), once no job of
    these calls is queued or running any more (or 30 s have passed)."""

    def statuses() -> dict[str, str]:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT request_id, status FROM imports WHERE request_id = ANY(:r)"),
                {"r": [c.request_id for c in calls]},
            ).all()
        return {r.request_id: r.status for r in rows}

    return eventually(statuses, lambda s: not set(s.values()) & {"queued", "running"}, 30)


def imports_hold(engine: Engine, calls: list[Call]) -> None:
    """Every job ends; each import's rows (and their history) all or none; a job done has them all,
    one that failed none."""
    endings = job_endings(engine, calls)
    unfinished = {rid: status for rid, status in endings.items() if status not in ("done", "failed")}
    assert not unfinished, unfinished  # a job nobody can learn the end of
    with engine.connect() as conn:
        for c in calls:
            rows = conn.execute(
                text("SELECT code, head_count FROM livestock_farms WHERE code = ANY(:codes) ORDER BY code"),
                {"codes": c.sent["codes"]},
            ).all()
            histories = conn.execute(
                text(
                    "SELECT count(*) FROM feature_history h JOIN livestock_farms f "
                    "ON h.layer = 'livestock_farms' AND h.feature_id = f.id WHERE f.code = ANY(:codes)"
                ),
                {"codes": c.sent["codes"]},
            ).scalar_one()
            ending = endings.get(c.request_id)
            assert len(rows) in (0, 2), (c.sent, c.status, ending, rows)  # one transaction: all or none
            assert histories == len(rows), (c.sent, histories, rows)
            if c.ok:
                assert c.status == 202 and ending is not None, (c.status, c.body)
            if (c.ok and c.body["status"] == "done") or ending == "done":
                assert [(r.code, r.head_count) for r in rows] == list(
                    zip(c.sent["codes"], (600, 601), strict=True)
                )
            if ending == "failed":
                assert rows == [], (c.sent, rows)


def inspections_hold(engine: Engine, calls: list[Call]) -> None:
    with engine.connect() as conn:
        for c in calls:
            stored = conn.execute(
                text(
                    "SELECT i.id, i.outcome, i.notes, count(p.number) AS photos, "
                    "(SELECT count(*) FROM audit_log a WHERE a.action = 'inspection.record' "
                    " AND (a.after->>'inspection')::bigint = i.id) AS audits "
                    "FROM inspections i LEFT JOIN inspection_photos p ON p.inspection_id = i.id "
                    "WHERE i.idempotency_key = :k GROUP BY i.id"
                ),
                {"k": c.sent["key"]},
            ).all()
            assert len(stored) <= 1, stored
            if c.ok:
                assert c.status in (200, 201) and len(stored) == 1, (c.status, stored)
                assert stored[0].id == c.body["id"]
            for s in stored:  # a record is whole: its photo and its audit entry
                assert (s.outcome, s.notes, s.photos, s.audits) == ("defects", c.sent["key"], 1, 1), s


def during(calls: list[Call], start: float, end: float) -> list[Call]:
    """The calls sent and answered between `start` and `end`."""
    return [c for c in calls if start <= c.started and c.started + c.elapsed < end]


def healthy_again(base: str) -> float:
    """Seconds until /health answers 200 again (the service is not restarted)."""
    started = time.monotonic()

    def health() -> int:
        try:
            return httpx.get(base + "/health", timeout=5).status_code
        except httpx.HTTPError:
            return 0

    assert eventually(health, lambda s: s == 200, 60) == 200
    return time.monotonic() - started


def write_through(world: World, tag: str, fault: Callable[[], AbstractContextManager[None]]) -> None:
    """Writes before, during and after `fault`; an offline inspection re-sent after; every check."""
    offline_key = f"{tag}-offline-{uuid.uuid4().hex[:8]}"
    with Traffic(world, tag) as traffic, httpx.Client(base_url=world.base, timeout=BOUND_S + 5) as phone:
        time.sleep(3)  # writes go through
        traffic.wait_in_flight("import", 5)  # the slowest write: the likeliest to be cut in the middle
        fault_start = time.monotonic()
        with fault():
            time.sleep(1)
            inspected_at = datetime.now(UTC) - timedelta(minutes=1)
            offline = send_inspection(traffic, phone, offline_key, inspected_at)
            time.sleep(max(0.0, FAULT_S - (time.monotonic() - fault_start)))
            fault_end = time.monotonic()  # before the cluster is started or resumed
        healthy_again(world.base)
        recovered = time.monotonic()
        # it recovers by itself: every kind of write goes through again
        traffic.wait_written_since(recovered, 30)
        resent = send_inspection(traffic, phone, offline_key, inspected_at)
    calls = traffic.calls

    answers_were_bounded(calls)
    assert not offline.ok, offline.status  # the database was gone: the phone keeps it in its outbox
    in_fault = during(calls, fault_start + 1, fault_end)
    assert any(c.status == 503 for c in in_fault), [(c.kind, c.status) for c in in_fault]
    unexpected = [(c.kind, c.status, c.body) for c in in_fault if c.status not in ERRORS | {412}]
    assert not unexpected, unexpected
    assert {c.kind for c in calls if c.ok and c.started >= recovered} >= set(KINDS)

    creates_hold(world.engine, [c for c in calls if c.kind == "create"])
    patches_hold(world.engine, [c for c in calls if c.kind == "patch"], world.station_to_patch)
    imports_hold(world.engine, [c for c in calls if c.kind == "import"])
    inspections_hold(world.engine, [c for c in calls if c.kind == "inspection"])

    # the inspection kept offline and re-sent: stored once, answered with that one record
    assert resent.status in (200, 201), (resent.status, resent.body)
    with world.engine.connect() as conn:
        ids = conn.execute(
            text("SELECT id FROM inspections WHERE idempotency_key = :k"), {"k": offline_key}
        ).scalars().all()  # fmt: skip
    assert ids == [resent.body["id"]]


def test_a_crash_of_the_database_loses_no_acknowledged_write_and_halves_none(world, own_cluster):
    write_through(world, "crash", lambda: own_cluster.stopped("immediate"))


def test_a_frozen_database_loses_no_acknowledged_write_and_halves_none(world, own_cluster):
    write_through(world, "freeze", own_cluster.frozen)


def test_an_import_cut_by_a_crash_ends_as_failed_once_the_database_is_back(world, own_cluster):
    """The job's failure cannot be written while the database is down; it is written when it is back,
    instead of the job reading `running` until the housekeeping's three minutes have passed."""
    codes = [f"LF-cut-{i}" for i in (1, 2)]
    rows = "".join(f"{code},中断养殖场{i},生猪,700,m3,119.41,36.0{i},运行\n" for i, code in enumerate(codes))
    files = {"file": ("farms.csv", (IMPORT_HEADER + rows).encode(), "text/csv")}
    form = {"layer": "livestock_farms", "encoding": "utf-8", "dry_run": "false"}
    rid = f"cut-import-{uuid.uuid4().hex[:12]}"
    answers: list[httpx.Response | Exception] = []

    def upload() -> None:
        try:
            headers = {**world.editor, "X-Request-ID": rid}
            answers.append(
                httpx.post(world.base + "/imports", files=files, data=form, headers=headers, timeout=30)
            )
        except httpx.HTTPError as exc:
            answers.append(exc)

    holder = world.engine.connect()
    holder.execute(text("LOCK TABLE livestock_farms IN ACCESS EXCLUSIVE MODE"))  # the import waits on it
    sender = threading.Thread(target=upload)
    sender.start()

    def waiting_on_the_lock() -> int:
        with world.engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
                ).scalar_one()
            )

    # the import is inside its transaction when the server dies
    assert eventually(waiting_on_the_lock, lambda n: n > 0, 15) > 0
    with own_cluster.stopped("immediate"):
        holder.invalidate()
        holder.close()
        sender.join(timeout=BOUND_S + 10)
    healthy_again(world.base)

    with world.engine.connect() as conn:
        job_id = conn.execute(text("SELECT id FROM imports WHERE request_id = :r"), {"r": rid}).scalar_one()

    def status() -> str:
        job = httpx.get(f"{world.base}/imports/{job_id}", headers=world.editor, timeout=BOUND_S)
        return str(job.json().get("status"))

    assert eventually(status, lambda s: s == "failed", 15) == "failed"  # what the uploader reads
    with world.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM livestock_farms WHERE code = ANY(:c)"), {"c": codes}
        ).scalar_one()
    assert stored == 0
    assert len(answers) == 1 and not isinstance(answers[0], Exception), answers
    assert answers[0].status_code in (202, 503), answers[0].text
