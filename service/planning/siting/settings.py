"""The limits of a siting request: `SitingSettings` lives in `service.config` with every other setting."""

from __future__ import annotations

from service.config import SitingSettings

__all__ = ["SitingSettings"]
