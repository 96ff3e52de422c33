"""The limits of a siting request: `SitingSettings` lives in `service.config` with every other setting.

Until that module has it, the same class is defined here (same fields, defaults and SANICHAIN_SITING_
prefix), so the package works on either side of that move.
"""

from __future__ import annotations

try:
    from service.config import SitingSettings  # type: ignore[attr-defined,unused-ignore]
except ImportError:
    from pydantic import Field
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class SitingSettings(BaseSettings):  # type: ignore[no-redef]
        """Limits of a siting request: about the largest problems CBC solved to optimality within 60 s on the
        demo city (docs/benchmarks.md, "Siting (issue 5)"); anything larger is refused with a 422."""

        model_config = SettingsConfigDict(env_prefix="SANICHAIN_SITING_", env_file=".env", extra="ignore")

        # demo, 2 cores: covering 19,075 variables optimal in 14 s of CBC; p-median 12,947 in 10 s, 20,195 not
        # proven optimal in 60 s (gap 0.14 %)
        max_variables_covering: int = Field(default=20_000, ge=1)
        max_variables_median: int = Field(default=13_000, ge=1)
        # reading the pairs and building the model cost as much as CBC itself on covering problems
        max_pairs: int = Field(default=750_000, ge=1)
        time_limit_s: float = Field(default=20.0, gt=0, le=600)


__all__ = ["SitingSettings"]
