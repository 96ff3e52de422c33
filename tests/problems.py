"""What every error answer of the service is: an RFC 9457 problem+json document of its status."""

from __future__ import annotations

from typing import Any

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: Any, status: int, parameter: str | None = None, *words: str) -> dict[str, Any]:
    """The response is a problem document of that status with every required member, naming the parameter
    (its detail starting with it) when one is given, its detail saying each of `words`; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert_problem_body(body, status)
    if parameter is not None:
        assert body["parameter"] == parameter and body["detail"].startswith(f"{parameter}: "), body
    for word in words:
        assert word in body["detail"], (word, body["detail"])
    return dict(body)


def assert_problem_body(body: Any, status: int) -> None:
    """A problem document of `status` with every required member (for bodies read off a raw socket)."""
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == status, body
    assert body["type"] == "about:blank" and body["title"] and body["detail"], body
