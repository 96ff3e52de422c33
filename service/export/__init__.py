"""Layer export to the files GIS and office software open: GeoJSON, GeoJSON Sequence, CSV, XLSX, KML,
GeoPackage. Rows stream from a server-side cursor; nothing holds a whole layer in memory."""
