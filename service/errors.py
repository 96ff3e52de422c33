"""The domain's errors: what can be wrong with a request, said without HTTP.

Every package raises these (or its own subclasses of them); the API turns each class into one status
in one place (`service.api.problems`), the command line into one exit message. Messages say what is
wrong and where: a bad parameter is named, so a client can point at the field.

| class               | meaning                                                   | HTTP |
|---------------------|-----------------------------------------------------------|------|
| `BadParameter`      | a value is malformed, out of range or names nothing known | 400  |
| `Unauthenticated`   | no valid sign-in where one is needed                      | 401  |
| `Forbidden`         | signed in, but the role or town does not allow it         | 403  |
| `NotFound`          | the thing asked for does not exist                        | 404  |
| `Conflict`          | the request clashes with what the database holds          | 409  |
| `PreconditionFailed`| the version named (If-Match) is no longer the stored one  | 412  |
| `BodyTooLarge`      | the request body exceeds the configured size              | 413  |
| `UnsupportedMedia`  | the request body is not of a media type the route reads   | 415  |
| `PreconditionRequired` | a write that must name the version it read did not    | 428  |
| `DependencyMissing` | something the request needs is not loaded (road network)  | 409  |
| `TooLarge`          | the work asked for exceeds a configured limit             | 422  |
| `Unprocessable`     | well-formed, but has no answer (an infeasible model)      | 422  |
| `TooManyAttempts`   | too many failed sign-ins; `retry_after_s` says when again | 429  |
| `Unavailable`       | the database (or another resource) cannot serve now       | 503  |
"""

from __future__ import annotations

from typing import Any


class SanichainError(Exception):
    """Base of every error the domain raises about a request it cannot answer."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        # members a problem document carries besides its detail (e.g. the limit that was exceeded)
        self.extra = extra


class BadParameter(SanichainError, ValueError):
    """A parameter or field is malformed, out of range or names something unknown.

    `BadParameter("limit", "must be 1–10000")` reads "limit: must be 1–10000"; a detail that already
    starts with the parameter's name is not prefixed twice.
    """

    def __init__(self, parameter: str, detail: str, **extra: Any) -> None:
        named = detail if detail.startswith(f"{parameter}:") else f"{parameter}: {detail}"
        super().__init__(named, **extra)
        self.parameter = parameter
        self.detail = detail

    @classmethod
    def from_message(cls, message: str) -> BadParameter:
        """From a message written as "parameter: what is wrong" (the convention of this project)."""
        parameter, sep, detail = message.partition(": ")
        if not sep or not parameter.replace("_", "").replace("-", "").isalnum():
            return cls("request", message)
        return cls(parameter, detail)


class Unauthenticated(SanichainError):
    """No sign-in, or one that is not (or no longer) valid: a missing, unknown, expired or revoked
    token, a disabled user, a wrong password. The message never says which secret was wrong."""


class Forbidden(SanichainError):
    """Signed in, but the user's role (or town) does not allow this."""


class TooManyAttempts(SanichainError):
    """Too many failed sign-ins for an account or from an address; `retry_after_s` in `extra`."""


class NotFound(SanichainError, LookupError):
    """The layer, feature, town, scenario or file asked for does not exist."""


class Conflict(SanichainError):
    """The request clashes with the database's state (a code already taken, a stale version)."""


class PreconditionFailed(Conflict):
    """The version the request names (If-Match) is not the stored one: someone else changed it first."""


class PreconditionRequired(SanichainError):
    """A write that must name the version it read (If-Match) did not, or named none (`*`)."""


class BodyTooLarge(SanichainError):
    """The request body is larger than the route reads; `extra` gives the limit."""


class UnsupportedMedia(SanichainError):
    """The request body's media type is not one the route reads; `extra` lists those it does."""


class DependencyMissing(Conflict):
    """Something the request needs is not loaded (e.g. road distances without a road network)."""


class TooLarge(SanichainError):
    """The work asked for exceeds a configured limit; `extra` says which limit and the size found."""


class Unprocessable(SanichainError):
    """Well-formed and within limits, but without an answer (e.g. an infeasible siting model)."""


class Unavailable(SanichainError):
    """The database or another resource cannot serve the request now; worth retrying later."""
