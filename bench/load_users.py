"""The clients of `bench/load.py` (a locustfile; run by locust, never imported by the benchmark itself).

Each user is a person at the service: mostly reading (layers, features, tiles under a map), now and
then opening the city or a town map or the chain's figures, and sometimes writing: an editor's change
to a collection point (read it, then a merge patch naming the version read) or an inspector's record of
a visit with a photo. `LOAD_TARGETS` names the JSON file `load.py` wrote: the tokens (made through the
service's own account commands), feature ids, town codes, tiles and checklists of the running service.

Every user edits and inspects features of its own, so that two users never race for one version: an
edit answered 412 would be the benchmark's fault, not the service's. Any answer other than the
expected status counts as an error.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, task

TARGETS: dict[str, Any] = json.loads(Path(os.environ["LOAD_TARGETS"]).read_text(encoding="utf-8"))
_seats = itertools.count()  # one seat (own features to edit and inspect) per user, in spawn order
BOUNDARY = "sanichain-load-boundary"


def multipart(fields: dict[str, str], photo: bytes) -> bytes:
    """A multipart/form-data body: the form's fields and one PNG photo, as the inspection form sends."""
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="photo"; filename="site.png"\r\n'
        "Content-Type: image/png\r\n\r\n".encode()
        + photo
        + b"\r\n"
    )
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


class CityUser(FastHttpUser):
    # think time: uniform around LOAD_WAIT_S (0: the next request as soon as the last is answered)
    wait_time = between(0.5 * float(os.environ["LOAD_WAIT_S"]), 1.5 * float(os.environ["LOAD_WAIT_S"]))

    def on_start(self) -> None:
        seat = next(_seats)
        edits, visits = TARGETS["edit_ids"], TARGETS["inspect"]
        self.edit_id = edits[seat % len(edits)]
        self.visit = visits[seat % len(visits)]
        self.rng = random.Random(seat)

    @task(20)
    def items(self) -> None:
        layer = self.rng.choice(TARGETS["item_layers"])
        town = self.rng.choice(TARGETS["towns"])
        self.client.get(f"/collections/{layer}/items?limit=100&town={town}", name="items (100, one town)")

    @task(15)
    def feature(self) -> None:
        layer, ids = self.rng.choice(list(TARGETS["features"].items()))
        self.client.get(f"/collections/{layer}/items/{self.rng.choice(ids)}", name="feature")

    @task(30)
    def tile(self) -> None:
        layer = self.rng.choice(TARGETS["tile_layers"])
        z = self.rng.choice(list(TARGETS["tiles"]))  # each zoom alike, however few tiles it has
        x, y = self.rng.choice(TARGETS["tiles"][z])
        self.client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt", name=f"tile z{z}")

    @task(3)
    def city_map(self) -> None:
        self.client.get("/maps/city", name="map: city")

    @task(5)
    def town_map(self) -> None:
        self.client.get(f"/maps/towns/{self.rng.choice(TARGETS['towns'])}", name="map: town")

    @task(3)
    def flows(self) -> None:
        town = self.rng.choice(TARGETS["towns"])  # one town's flows, as its inspectors read them
        self.client.get(f"/chain/flows?town={town}", name="chain flows (one town)")

    @task(3)
    def indicators(self) -> None:
        self.client.get("/indicators", name="indicators")

    @task(4)
    def edit(self) -> None:
        auth = {"Authorization": f"Bearer {TARGETS['editor_token']}"}
        url = f"/collections/collection_points/items/{self.edit_id}"
        read = self.client.get(url, headers=auth, name="edit: read")
        etag = read.headers.get("ETag") if read.status_code == 200 else None
        if etag is None:
            return  # already counted as an error
        body = {"properties": {"operator": f"load {self.rng.randrange(10**6)}"}}
        headers = {**auth, "If-Match": etag, "Content-Type": "application/merge-patch+json"}
        self.client.request("PATCH", url, data=json.dumps(body), headers=headers, name="edit: patch")

    @task(4)
    def inspect(self) -> None:
        visit = self.visit
        fields = {
            "layer": visit["layer"],
            "feature_id": str(visit["id"]),
            "inspected_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "outcome": self.rng.choice(["ok", "ok", "defects"]),
            "checklist": json.dumps(dict.fromkeys(TARGETS["checklists"][visit["layer"]], True)),
            "notes": "load benchmark",
            "lon": str(visit["lon"]),
            "lat": str(visit["lat"]),
            "accuracy_m": "8",
        }
        headers = {
            "Authorization": f"Bearer {TARGETS['inspector_token']}",
            "Idempotency-Key": f"load-{uuid.uuid4().hex}",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        }
        body = multipart(fields, bytes.fromhex(TARGETS["photo_hex"]))
        with self.client.post(
            "/inspections", data=body, headers=headers, name="inspection", catch_response=True
        ) as response:
            if response.status_code != 201:  # 200 would be a replayed key: not a new record
                response.failure(f"{response.status_code}: {response.text[:200]}")


if os.environ.get("LOAD_WRITES") == "0":  # --reads-only: the same mix without its edits and inspections
    CityUser.tasks = [t for t in CityUser.tasks if getattr(t, "__name__", "") not in ("edit", "inspect")]
