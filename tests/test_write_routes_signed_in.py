"""Every state-changing route of the OpenAPI document needs a signed-in user with an allowed role.

The routes are read from the document itself, so a route added later is checked without anyone
remembering to list it: anonymous → 401, each role it does not allow → 403, each role it allows gets
past the sign-in (to the body's validation, 400).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.security import ROLES_EXTENSION, SIGN_IN_ROUTES
from service.vocabulary import ROLES
from tests.accounts import role_headers
from tests.problems import assert_problem

WRITE_METHODS = ("post", "put", "patch", "delete")
# What a path parameter is filled with: a layer that exists, else an id.
PATH_VALUES = {"layer": "collection_points"}


def write_operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) of every state-changing operation but the sign-in routes."""
    return [
        (method, path, operation)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method in WRITE_METHODS and path not in SIGN_IN_ROUTES
    ]


def undeclared(doc: dict[str, Any]) -> list[str]:
    """Write operations that name no roles (a route added without `requires`)."""
    return [
        f"{method.upper()} {path}"
        for method, path, operation in write_operations(doc)
        if not operation.get(ROLES_EXTENSION) or not set(operation[ROLES_EXTENSION]) <= set(ROLES)
    ]


def concrete(path: str) -> str:
    parts = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            part = PATH_VALUES.get(part[1:-1], "1")
        parts.append(part)
    return "/".join(parts)


@pytest.fixture(scope="module")
def document(app_engine) -> dict[str, Any]:
    with TestClient(create_app(app_engine)) as c:
        return dict(c.get("/openapi.json").json())


def test_the_document_lists_the_known_write_routes_each_with_its_roles(document):
    found = {f"{m.upper()} {p}": op[ROLES_EXTENSION] for m, p, op in write_operations(document)}
    assert found["POST /planning/scenarios"] == ["planner", "admin"]
    assert found["POST /planning/siting"] == ["planner", "admin"]
    assert found["POST /chain/assignments"] == ["planner", "editor", "admin"]
    assert set(found["POST /auth/logout"]) == set(ROLES)
    assert undeclared(document) == []


def test_a_write_route_added_without_roles_is_noticed():
    app = FastAPI()

    @app.post("/forgotten")
    def forgotten() -> None: ...

    assert undeclared(app.openapi()) == ["POST /forgotten"]


def test_every_write_route_refuses_anonymous_callers_with_401(client, document):
    operations = write_operations(document)
    assert len(operations) >= 4
    for method, path, _ in operations:
        response = client.request(method.upper(), concrete(path), json={})
        body = assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer", path
        assert "sign in" in body["detail"], path


def test_every_write_route_refuses_each_role_it_does_not_allow_with_403(client, app_engine, document):
    checked = 0
    for method, path, operation in write_operations(document):
        allowed = set(operation[ROLES_EXTENSION])
        for role in ROLES:
            response = client.request(
                method.upper(), concrete(path), json={}, headers=role_headers(app_engine, role)
            )
            if role in allowed:
                # past the sign-in and the role check: the empty body is what is refused (or, for
                # sign-out, which takes no body, the sign-out is done)
                assert response.status_code in (200, 400), (method, path, role, response.text)
            else:
                body = assert_problem(response, 403)
                assert role in body["detail"], (path, role)
                checked += 1
    assert checked >= 8  # scenarios and siting refuse 3 roles each, assignments 2


def test_a_role_limited_to_a_town_may_not_take_city_wide_actions(client, app_engine):
    clerk = role_headers(app_engine, "editor", town="370782101")
    refused = client.post("/chain/assignments", json={"stream": "manure", "apply": True}, headers=clerk)
    body = assert_problem(refused, 403)
    assert "370782101" in body["detail"] and "whole city" in body["detail"]
    # a town-limited planner still plays scenarios: they change nothing
    planner = role_headers(app_engine, "planner", town="370782101")
    played = client.post(
        "/planning/scenarios", json={"layer": "transfer_stations", "distance_m": 5000}, headers=planner
    )
    assert played.status_code == 200, played.text
