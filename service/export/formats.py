"""The export formats, and an export request (layer, format, parameters) → what to write."""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from service.export import geojson, gpkg, kml, tabular
from service.export.layer_reader import LayerExport, Progress
from service.features import catalogue
from service.features.errors import ParameterError, UnknownLayer
from service.features.params import feature_query

MEDIA_TYPES = {
    "geojson": "application/geo+json",
    "geojsonseq": "application/geo+json-seq",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "kml": "application/vnd.google-earth.kml+xml",
    "gpkg": "application/geopackage+sqlite3",
}
STREAMED = ("geojson", "geojsonseq", "csv", "kml")  # written as they are read; the others need a file
ALL_LAYERS = "all"  # /export/all.gpkg: every layer in one GeoPackage
WGS84_ONLY = ("geojson", "geojsonseq", "kml")  # RFC 7946 and KML 2.2 fix the CRS
ALL_LAYER_PARAMETERS = ("bbox", "bbox-crs", "crs", "datetime")


@dataclass(frozen=True)
class Export:
    format: str
    layers: list[LayerExport]
    geometry: str  # csv/xlsx: "xy" (lon/lat columns) or "wkt"

    @property
    def filename(self) -> str:
        name = self.layers[0].query.layer.name if len(self.layers) == 1 else ALL_LAYERS
        return f"{name}.{self.format}"

    def chunks(self, progress: Progress | None = None) -> Generator[bytes, None, None]:
        """The file's bytes, for the streamed formats."""
        one = self.layers[0]
        if self.format == "geojson":
            return geojson.feature_collection(one, progress)
        if self.format == "geojsonseq":
            return geojson.sequence(one, progress)
        if self.format == "csv":
            return tabular.csv_chunks(one, self.geometry, progress)
        if self.format == "kml":
            return kml.kml_chunks(one, progress)
        raise ValueError(f"{self.format} is written to a file, not streamed")

    def write(self, path: Path, progress: Progress | None = None) -> None:
        if self.format == "gpkg":
            gpkg.write_gpkg(self.layers, path, progress)
        elif self.format == "xlsx":
            tabular.write_xlsx(self.layers[0], self.geometry, path, progress)
        else:
            with path.open("wb") as out:
                for chunk in self.chunks(progress):
                    out.write(chunk)

    def count(self) -> int:
        return sum(layer.count() for layer in self.layers)


def prepare(engine: Engine, layer_name: str, fmt: str, params: Mapping[str, Sequence[str]]) -> Export:
    """Check the request; ParameterError / UnknownLayer for anything wrong."""
    if fmt not in MEDIA_TYPES:
        raise ParameterError("format", f"unknown format {fmt!r}; one of {', '.join(MEDIA_TYPES)}")
    for name in ("limit", "cursor"):
        if name in params:
            raise ParameterError(name, "exports contain every matching feature; no paging")
    if fmt in WGS84_ONLY and "crs" in params:
        raise ParameterError("crs", f"{fmt} is always WGS84 longitude/latitude")
    geometry = (params.get("geometry") or [""])[0]
    if geometry not in ("", "xy", "wkt"):
        raise ParameterError("geometry", "xy (lon/lat columns, point layers) or wkt")
    rest = {k: v for k, v in params.items() if k != "geometry"}
    if layer_name == ALL_LAYERS:
        if fmt != "gpkg":
            raise ParameterError("format", "all layers in one file: only as GeoPackage (all.gpkg)")
        for name in rest:
            if name not in ALL_LAYER_PARAMETERS:
                raise ParameterError(name, f"all.gpkg takes only {', '.join(ALL_LAYER_PARAMETERS)}")
        layers = [LayerExport(engine, feature_query(layer, rest)) for layer in catalogue.layers()]
        return Export(fmt, layers, "wkt")
    try:
        layer = catalogue.layer(layer_name)
    except KeyError:
        raise UnknownLayer(f"no layer {layer_name!r}") from None
    if geometry == "xy" and layer.geometry_type != "Point":
        raise ParameterError("geometry", f"{layer_name} has {layer.geometry_type} geometries: use wkt")
    one = LayerExport(engine, feature_query(layer, rest))
    return Export(fmt, [one], geometry or tabular.default_geometry_mode(one))
