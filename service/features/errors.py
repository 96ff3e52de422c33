"""What can be wrong with a request for features: the domain's errors under the names this package uses."""

from __future__ import annotations

from service.errors import BadParameter, NotFound


class ParameterError(BadParameter):
    """A query parameter is malformed, out of range or names something unknown (HTTP 400)."""


class UnknownLayer(NotFound):
    """No public layer of that name (HTTP 404)."""


class FeatureNotFound(NotFound):
    """The layer has no feature with that id (HTTP 404)."""
