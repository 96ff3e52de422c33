"""What can be wrong with a request for features, named so the API can answer 400 or 404."""

from __future__ import annotations


class ParameterError(ValueError):
    """A query parameter is malformed, out of range or names something unknown (HTTP 400)."""

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(f"{parameter}: {detail}")
        self.parameter = parameter
        self.detail = detail


class UnknownLayer(LookupError):
    """No public layer of that name (HTTP 404)."""


class FeatureNotFound(LookupError):
    """The layer has no feature with that id (HTTP 404)."""
