"""sanichain — spatial inventory and web service for a city's rural sanitation chain."""

__version__ = "0.1.0"

from service import geoalchemy_shape

geoalchemy_shape.install()  # before anything imports GeoAlchemy 2: Shapely only when used (D115)
