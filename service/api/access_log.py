"""The access log never shows a secret: values of query parameters that could carry one are replaced.

Such requests are refused (400, `security.authorize`), but uvicorn logs the request line first. Headers
(Authorization, Cookie) are never logged by uvicorn's access log.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode

from service.api.security import SECRET_PARAMETERS

REDACTED = "[redacted]"


def redacted_path(full_path: str) -> str:
    path, sep, query = full_path.partition("?")
    if not sep:
        return full_path
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(name.lower() in SECRET_PARAMETERS for name, _ in pairs):
        return full_path
    kept = [(name, REDACTED if name.lower() in SECRET_PARAMETERS else value) for name, value in pairs]
    return f"{path}?{urlencode(kept, safe='[]')}"


class RedactSecrets(logging.Filter):
    """For uvicorn.access, whose record args are (client, method, full path, HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redacted_path(args[2]), *args[3:])
        return True


def install() -> None:
    logging.getLogger("uvicorn.access").addFilter(RedactSecrets())
