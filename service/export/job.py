"""An export job: a request (layer, format, parameters) checked, then streamed or written to a file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from service.export import tabular
from service.export.formats import ALL_LAYER_PARAMETERS, ALL_LAYERS, FORMATS, Chunks, ExportFormat
from service.export.layer_reader import LayerExport, Progress
from service.features import catalogue
from service.features.errors import ParameterError
from service.features.params import feature_query


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

    def write_temporary(self) -> Path:
        """The file written to a temporary path, which the caller removes when it has been sent."""
        handle, name = tempfile.mkstemp(suffix="." + self.format.name, prefix="sanichain-export-")
        os.close(handle)
        path = Path(name)
        try:
            self.write(path)
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
