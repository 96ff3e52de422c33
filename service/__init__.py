"""sanichain — spatial inventory and web service for a city's rural sanitation chain."""

__version__ = "0.1.0"
