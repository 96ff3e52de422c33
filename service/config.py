"""Settings, one class per concern, read from the environment (and `.env` when present)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class DatabaseSettings(BaseSettings):
    """Where the inventory lives. Unset `DATABASE_URL` means: use the private local cluster."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    connect_timeout_s: int = Field(default=5, validation_alias="SANICHAIN_DB_CONNECT_TIMEOUT")


class ServerSettings(BaseSettings):
    """The HTTP service."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    host: str = Field(default="127.0.0.1", validation_alias="HOST")
    port: int = Field(default=8000, ge=1, le=65535, validation_alias="PORT")


class LocalClusterSettings(BaseSettings):
    """The private PostGIS cluster `sanichain run` starts when no DATABASE_URL is given."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    data_dir: Path = Field(default=REPO_ROOT / ".data" / "pg", validation_alias="SANICHAIN_PG_DATA")
    port: int = Field(default=55432, ge=1024, le=65535, validation_alias="SANICHAIN_PG_PORT")
    bindir: Path | None = Field(default=None, validation_alias="SANICHAIN_PG_BINDIR")
    database: str = "sanichain"


class DemoSettings(BaseSettings):
    """Where the Zhucheng demo dataset is read from."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    data_dir: Path = Field(default=REPO_ROOT / "gis_data" / "zhucheng", validation_alias="SANICHAIN_DEMO_DIR")


class MapSettings(BaseSettings):
    """Web maps: the basemap under the layers (the only requests a map page makes to other hosts)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # osm | tianditu | custom (tile_url) | none (blank background, every layer still drawn)
    basemap: Literal["osm", "tianditu", "custom", "none"] = Field(
        default="osm", validation_alias="SANICHAIN_BASEMAP"
    )
    tianditu_key: str | None = Field(default=None, validation_alias="SANICHAIN_TIANDITU_KEY")
    # e.g. https://tiles.example.org/{z}/{x}/{y}.png for a self-hosted tile server
    tile_url: str | None = Field(default=None, validation_alias="SANICHAIN_TILE_URL")
    tile_attribution: str = Field(default="", validation_alias="SANICHAIN_TILE_ATTRIBUTION")

    @model_validator(mode="after")
    def _complete(self) -> MapSettings:
        # Refuse at start-up rather than serve maps whose every tile fails.
        if self.basemap == "tianditu" and not self.tianditu_key:
            raise ValueError("SANICHAIN_BASEMAP=tianditu needs SANICHAIN_TIANDITU_KEY (a Tianditu tk key)")
        if self.basemap == "custom" and not (self.tile_url and "{z}" in self.tile_url):
            raise ValueError("SANICHAIN_BASEMAP=custom needs SANICHAIN_TILE_URL with {z}, {x} and {y}")
        return self


@lru_cache
def database_settings() -> DatabaseSettings:
    return DatabaseSettings()


def sqlalchemy_url(url: str) -> str:
    """Accept the usual libpq-style URL and pin the psycopg2 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url
