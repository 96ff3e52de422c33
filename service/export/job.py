"""An export job: a request (layer, format, parameters) checked, then streamed or written to a file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine
from sqlalchemy.sql.elements import ColumnElement

from service.errors import Unavailable
from service.export import tabular
from service.export.formats import ALL_LAYER_PARAMETERS, ALL_LAYERS, FORMATS, Chunks, ExportFormat
from service.export.layer_reader import LayerExport, Progress
from service.features import catalogue
from service.features.errors import ParameterError
from service.features.params import feature_query

TEMPORARY_PREFIX = "sanichain-export-"
# How often a file being built asks whether its client is still there (rows read).
CHECK_EVERY = 500


class ExportAbandoned(Unavailable):
    """The client left while its file was being built: the work stopped and the file is removed."""


def _never() -> bool:
    return False


@dataclass(frozen=True)
class _Watched(LayerExport):
    """A layer whose rows stop (ExportAbandoned) as soon as `gone()` says the client has left."""

    gone: Callable[[], bool] = _never

    def rows(self, columns: Sequence[ColumnElement[Any]]) -> Iterator[Any]:
        source = cast(Generator[Any, None, None], super().rows(columns))  # a generator function
        with contextlib.closing(source) as rows:  # the cursor goes back at once
            for n, row in enumerate(rows):
                if n % CHECK_EVERY == 0 and self.gone():
                    raise ExportAbandoned("the client left before its file was ready")
                yield row


@dataclass(frozen=True)
class Export:
    format: ExportFormat
    layers: list[LayerExport]
    geometry: str  # csv/xlsx: "xy" (lon/lat columns) or "wkt"

    @property
    def filename(self) -> str:
        name = self.layers[0].query.layer.name if len(self.layers) == 1 else ALL_LAYERS
        return f"{name}.{self.format.name}"

    def chunks(self, progress: Progress | None = None) -> Chunks:
        """The file's bytes, for the streamed formats."""
        if self.format.stream is None:
            raise TypeError(f"{self.format.name} is written to a file, not streamed")
        return self.format.stream(self.layers[0], self.geometry, progress)

    def write(self, path: Path, progress: Progress | None = None) -> None:
        if self.format.write is not None:
            self.format.write(self.layers, self.geometry, path, progress)
            return
        with path.open("wb") as out:
            for chunk in self.chunks(progress):
                out.write(chunk)

    def write_temporary(self, gone: Callable[[], bool] = _never) -> Path:
        """The file written to a temporary path, which the caller removes when it has been sent.
        When `gone()` turns true (the client left) the writing stops and the file is removed."""
        handle, name = tempfile.mkstemp(suffix="." + self.format.name, prefix=TEMPORARY_PREFIX)
        os.close(handle)
        path = Path(name)
        watched = replace(self, layers=[_Watched(one.engine, one.query, gone) for one in self.layers])
        try:
            watched.write(path)
            if gone():
                raise ExportAbandoned("the client left before its file was ready")
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    def count(self) -> int:
        return sum(layer.count() for layer in self.layers)


def prepare(engine: Engine, layer_name: str, fmt: str, params: Mapping[str, Sequence[str]]) -> Export:
    """Check the request; ParameterError / UnknownLayer for anything wrong."""
    found = FORMATS.get(fmt)
    if found is None:
        raise ParameterError("format", f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    for name in ("limit", "cursor"):
        if name in params:
            raise ParameterError(name, "exports contain every matching feature; no paging")
    if found.wgs84_only and "crs" in params:
        raise ParameterError("crs", f"{fmt} is always WGS84 longitude/latitude")
    geometry = (params.get("geometry") or [""])[0]
    if geometry not in ("", "xy", "wkt"):
        raise ParameterError("geometry", "xy (lon/lat columns, point layers) or wkt")
    rest = {k: v for k, v in params.items() if k != "geometry"}
    if layer_name == ALL_LAYERS:
        if not found.every_layer:
            raise ParameterError("format", "all layers in one file: only as GeoPackage (all.gpkg)")
        for name in rest:
            if name not in ALL_LAYER_PARAMETERS:
                raise ParameterError(name, f"all.gpkg takes only {', '.join(ALL_LAYER_PARAMETERS)}")
        layers = [LayerExport(engine, feature_query(layer, rest)) for layer in catalogue.layers()]
        return Export(found, layers, "wkt")
    layer = catalogue.layer(layer_name)
    if geometry == "xy" and layer.geometry_type != "Point":
        raise ParameterError("geometry", f"{layer_name} has {layer.geometry_type} geometries: use wkt")
    one = LayerExport(engine, feature_query(layer, rest))
    return Export(found, [one], geometry or tabular.default_geometry_mode(one))
