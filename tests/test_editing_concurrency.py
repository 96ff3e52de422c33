"""No lost updates: ten writers racing on one version against the running service, exactly one wins."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

from sqlalchemy import text

from service.db import make_engine
from tests.accounts import role_headers
from tests.service_process import running_service
from tests.test_editing import ITEMS, build, state

WRITERS = 10


def test_ten_writers_racing_on_one_version_one_wins_nine_get_412_and_history_has_one_new_row(
    database_factory, migrated_template
):
    url = database_factory(migrated_template)
    engine = make_engine(url)
    with engine.begin() as conn:
        build(conn)
    headers = {
        **role_headers(engine, "editor"),
        "If-Match": '"1"',
        "Content-Type": "application/merge-patch+json",
    }
    before = state(engine)
    statuses: list[int] = []
    start = threading.Barrier(WRITERS)

    def write(base: str, capacity: int) -> None:
        body = json.dumps({"properties": {"capacity": capacity}}).encode()
        request = urllib.request.Request(f"{base}{ITEMS}/2", data=body, headers=headers, method="PATCH")
        start.wait()
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                statuses.append(answer.status)
        except urllib.error.HTTPError as refused:
            statuses.append(refused.code)

    with running_service(url) as base:
        threads = [threading.Thread(target=write, args=(base, 100 + i)) for i in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    after = state(engine)
    with engine.connect() as conn:
        version, capacity = conn.execute(
            text("SELECT version, capacity FROM transfer_stations WHERE id = 2")
        ).one()
        history = conn.execute(
            text(
                "SELECT version, after FROM feature_history "
                "WHERE layer = 'transfer_stations' AND feature_id = 2"
            )
        ).all()
    engine.dispose()
    assert sorted(statuses) == [200] + [412] * (WRITERS - 1)
    assert version == 2 and 100 <= capacity < 100 + WRITERS
    assert len(history) == 1 and history[0].version == 2
    assert history[0].after["properties"]["capacity"] == float(capacity)
    assert after["history"] == before["history"] + 1
    assert after["audit"] == before["audit"] + 1
