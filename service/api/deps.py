"""Small request helpers every router shares."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import Engine

from service.api.request_classes import classify
from service.db import Engines
from service.errors import BadParameter


def engine_of(request: Request) -> Engine:
    """The engine of the request's class (its own pool and statement timeout; set by `create_app`)."""
    engines: Engines = request.app.state.engines
    return engines.of(classify(request.url.path))


def query_params(request: Request) -> dict[str, list[str]]:
    """Every query parameter with all its values, in order (repeatable parameters keep them all)."""
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    return params


# Routes that read open-ended parameters (a layer's property names as filters) and check them
# against the layer themselves; and `/`, whose browser view also takes the city map's parameters.
OPEN_QUERY_ROUTES = frozenset(
    {"/", "/collections/{layer}/items", "/collections/{layer}/items/{feature_id}", "/export/{filename}"}
)


def declared_query_parameters(request: Request, also_known: Iterable[str] = ()) -> set[str]:
    """The query parameters the matched route declares, its dependencies' included."""
    names = set(also_known)

    def collect(dependant: Dependant) -> None:
        names.update(p.alias for p in dependant.query_params)
        for sub in dependant.dependencies:
            collect(sub)

    route = request.scope.get("route")
    if isinstance(route, APIRoute):
        collect(route.dependant)
    return names


def _repeatable(annotation: object) -> bool:
    """A list-like annotation (`list[str] | None` included): the parameter takes several values."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_repeatable(arg) for arg in typing.get_args(annotation))
    return origin in (list, tuple, set, frozenset) or annotation in (list, tuple, set, frozenset)


def repeatable_query_parameters(request: Request) -> set[str]:
    """The matched route's query parameters (its dependencies' included) declared as lists: the only
    ones that may be given more than once."""
    names: set[str] = set()

    def collect(dependant: Dependant) -> None:
        names.update(p.alias for p in dependant.query_params if _repeatable(p.field_info.annotation))
        for sub in dependant.dependencies:
            collect(sub)

    route = request.scope.get("route")
    if isinstance(route, APIRoute):
        collect(route.dependant)
    return names


def reject_repeated_query_parameters(request: Request) -> None:
    """A parameter given more than once that the route does not declare as a list is a 400 naming it:
    the framework would silently keep the last value (`layer=a&layer=b`, `limit=1&limit=2`). This holds
    on the open routes too, whose undeclared parameters (a layer's properties as filters, the map's
    `lang`) each take one value (several values of a filter are one comma-separated value)."""
    repeatable = repeatable_query_parameters(request)
    given = query_params(request)
    repeated = sorted(n for n, values in given.items() if len(values) > 1 and n not in repeatable)
    if repeated:
        name = repeated[0]
        raise BadParameter(
            name, f"given {len(given[name])} times ({', '.join(given[name])}); it takes one value"
        )


def reject_unknown_query_parameters(request: Request) -> None:
    """A parameter the route does not know is a 400, not silently ignored (a typo such as `distanse_m`
    would otherwise answer for the default); so is a one-value parameter given twice, of which the
    framework would silently keep the last (`reject_repeated_query_parameters`)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    if route.path not in OPEN_QUERY_ROUTES:
        unknown = sorted(set(request.query_params) - declared_query_parameters(request))
        if unknown:
            raise BadParameter(unknown[0], "unknown query parameter")
    reject_repeated_query_parameters(request)
