"""KML 2.2 for field apps (Ovital/2bulu, Google Earth): one Placemark per feature, attributes as
ExtendedData, geometry from PostGIS's ST_AsKML (always WGS84 lon/lat)."""

from __future__ import annotations

from collections.abc import Generator
from xml.sax.saxutils import escape, quoteattr

from sqlalchemy import func

from service.cells import xml_text
from service.export.layer_reader import LayerExport, Progress, counting, value_text

CHUNK_BYTES = 1 << 16


def kml_chunks(export: LayerExport, progress: Progress | None = None) -> Generator[bytes, None, None]:
    layer = export.query.layer
    fields = export.fields
    names = ["id", *(f.name for f in fields)]
    schema = "".join(f'<SimpleField name={quoteattr(n)} type="string"/>' for n in names)
    buffer = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        f"<name>{escape(layer.title)}</name><Schema name={quoteattr(layer.name)} id={quoteattr(layer.name)}>"
        f"{schema}</Schema><Folder><name>{escape(layer.name)}</name>\n"
    ]
    size = 0
    label = names.index("name") if "name" in names else names.index("code") if "code" in names else None
    rows = export.rows([*export.attribute_columns(), func.ST_AsKML(layer.geom, 9)])
    for row in counting(rows, progress):
        values, geometry = row[:-1], row[-1]  # the id first, as a property of its own
        title = escape(xml_text(value_text(values[label]))) if label is not None else str(row[0])
        data = "".join(
            f"<SimpleData name={quoteattr(n)}>{escape(xml_text(value_text(v)))}</SimpleData>"
            for n, v in zip(names, values, strict=True)
            if v is not None
        )
        placemark = (
            f'<Placemark id="{layer.name}.{row[0]}"><name>{title}</name>'
            f'<ExtendedData><SchemaData schemaUrl="#{layer.name}">{data}</SchemaData></ExtendedData>'
            f"{geometry}</Placemark>\n"
        )
        buffer.append(placemark)
        size += len(placemark)
        if size >= CHUNK_BYTES:
            yield "".join(buffer).encode()
            buffer, size = [], 0
    buffer.append("</Folder></Document></kml>\n")
    yield "".join(buffer).encode()
