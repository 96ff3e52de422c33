"""Layers out: the catalogue of public layers, feature queries, paging cursors, CQL2, CRS and tiles.

Plain functions over an SQLAlchemy engine; no HTTP here (see service/api/ogc.py, export.py, tiles.py).
"""
