"""The household → village → town → city chain: flows, integrity, assignment, indicators, diagrams.

Domain functions over a SQLAlchemy connection; the heavy lifting is SQL in PostGIS.
"""
