"""Every setting of the service, one class per concern, read from the environment (and `.env`).

Our own variables start with `SANICHAIN_`; `DATABASE_URL`, `HOST` and `PORT` keep their conventional
names. Each class is read once: by `settings()` (cached for the process) or by `create_app`, which holds
the ones a request needs on `app.state`. The README's configuration table lists every variable (a test
keeps it in step with these classes).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Literal, TypeVar, cast
from urllib.parse import urlsplit

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

    # empty means unset: the compose file passes SANICHAIN_WORKERS through even when nobody set it
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    host: str = Field(default="127.0.0.1", validation_alias="HOST")
    port: int = Field(default=8000, ge=1, le=65535, validation_alias="PORT")
    # worker processes; unset: half the cores, 1 to 4 (service/workers.py says why)
    workers: int | None = Field(default=None, ge=1, le=64, validation_alias="SANICHAIN_WORKERS")

    # peers whose X-Forwarded-For/-Proto uvicorn believes (the reverse proxy): the client's address,
    # which the sign-in's per-address limit counts, comes from them
    forwarded_allow_ips: str = Field(
        default="127.0.0.1,::1", validation_alias="SANICHAIN_FORWARDED_ALLOW_IPS"
    )

    def worker_count(self) -> int:
        from service.workers import default_workers

        return self.workers if self.workers is not None else default_workers()


class LocalClusterSettings(BaseSettings):
    """The private PostGIS cluster `sanichain run` starts when no DATABASE_URL is given."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    data_dir: Path = Field(default=REPO_ROOT / ".data" / "pg", validation_alias="SANICHAIN_PG_DATA")
    port: int = Field(default=55432, ge=1024, le=65535, validation_alias="SANICHAIN_PG_PORT")
    bindir: Path | None = Field(default=None, validation_alias="SANICHAIN_PG_BINDIR")
    # Not a setting: as a field it was read from a bare `DATABASE` variable that nobody meant to set.
    database: ClassVar[str] = "sanichain"


class DemoSettings(BaseSettings):
    """Where the Zhucheng demo dataset is read from."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    data_dir: Path = Field(default=REPO_ROOT / "gis_data" / "zhucheng", validation_alias="SANICHAIN_DEMO_DIR")


class AuthSettings(BaseSettings):
    """Sign-in: who may read, how long a sign-in lasts, how many failed sign-ins are tolerated."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # open: maps, layers and exports need no sign-in; signed-in: every read needs one. Personal data
    # (users, audit) is never open, whatever this says.
    read_policy: Literal["open", "signed-in"] = Field(
        default="open", validation_alias="SANICHAIN_READ_POLICY"
    )
    # OAuth2 password flow (POST /auth/token): lifetime of the bearer token it issues
    access_token_minutes: int = Field(
        default=480, ge=1, le=7 * 24 * 60, validation_alias="SANICHAIN_ACCESS_TOKEN_MINUTES"
    )
    # browser sign-in (/login): lifetime of the session cookie, so phones sign in once
    session_days: int = Field(default=30, ge=1, le=365, validation_alias="SANICHAIN_SESSION_DAYS")
    # auto: Secure cookies when the request (or SANICHAIN_PUBLIC_URL) is https or the host is loopback
    cookie_secure: Literal["auto", "always", "never"] = Field(
        default="auto", validation_alias="SANICHAIN_COOKIE_SECURE"
    )
    # failed sign-ins tolerated per account and per address within the window, before 429
    login_failures_per_account: int = Field(
        default=5, ge=1, le=1000, validation_alias="SANICHAIN_LOGIN_FAILURES_PER_ACCOUNT"
    )
    login_failures_per_address: int = Field(
        default=20, ge=1, le=10_000, validation_alias="SANICHAIN_LOGIN_FAILURES_PER_ADDRESS"
    )
    login_failure_window_minutes: int = Field(
        default=15, ge=1, le=24 * 60, validation_alias="SANICHAIN_LOGIN_FAILURE_WINDOW_MINUTES"
    )


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


class ChainSettings(BaseSettings):
    """The city's own values of the chain's planning parameters; unset ones keep the cited defaults.

    Defaults, bounds and sources are facts of the chain and live in `service.chain.parameters`, whose
    `ChainParameters` takes these overrides (and checks them against its bounds).
    """

    model_config = SettingsConfigDict(env_prefix="SANICHAIN_", env_file=".env", extra="ignore")

    waste_kg_per_person_day: float | None = None
    excreta_kg_per_person_day: float | None = None
    max_village_collection_m: float | None = None
    utilisation_warning: float | None = None

    def overrides(self) -> dict[str, float]:
        return self.model_dump(exclude_none=True)


class SitingSettings(BaseSettings):
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


class AnalysisLimitSettings(BaseSettings):
    """Bounds on analysis work, checked before the work starts: road-mode coverage (also under scenarios
    and the coverage map), concurrent siting solves, and the page size of the saved scenarios."""

    model_config = SettingsConfigDict(env_prefix="SANICHAIN_", env_file=".env", extra="ignore")

    # demo, 2 cores: 2.3 M visits (1,240 collection points, 100 km) made the reach table in 3.2 s and a
    # coverage answer in 9 s; 1 M keeps a road question within a few seconds
    road_max_node_visits: int = Field(default=1_000_000, ge=1)
    # CBC takes a core each: about one solve per two cores leaves the rest to everything else
    siting_max_concurrent_solves: int = Field(default=1, ge=1)
    scenarios_page_limit: int = Field(default=50, ge=1)
    scenarios_max_page_limit: int = Field(default=1000, ge=1)

    @model_validator(mode="after")
    def _page_within_maximum(self) -> AnalysisLimitSettings:
        if self.scenarios_page_limit > self.scenarios_max_page_limit:
            raise ValueError("SANICHAIN_SCENARIOS_PAGE_LIMIT exceeds SANICHAIN_SCENARIOS_MAX_PAGE_LIMIT")
        return self


class EditSettings(BaseSettings):
    """Feature edits through the API (create, replace, update, delete, restore)."""

    model_config = SettingsConfigDict(env_prefix="SANICHAIN_", env_file=".env", extra="ignore")

    # a feature is a few kB; a megabyte leaves room for a detailed town outline
    edit_max_body_bytes: int = Field(default=1_048_576, ge=1_024, le=100_000_000)


class InspectionSettings(BaseSettings):
    """How often each kind of facility is to be inspected, in days (the overdue list and the maps)."""

    model_config = SettingsConfigDict(env_prefix="SANICHAIN_INSPECT_EVERY_", env_file=".env", extra="ignore")

    # the campaign's rhythm: stations and public toilets weekly, centres fortnightly, the rest monthly,
    # farms quarterly (DESIGN.md §1: weekly / monthly / quarterly reviews)
    collection_points: int = Field(default=30, ge=1, le=366)
    transfer_stations: int = Field(default=7, ge=1, le=366)
    treatment_plants: int = Field(default=30, ge=1, le=366)
    manure_centers: int = Field(default=14, ge=1, le=366)
    biogas_centers: int = Field(default=14, ge=1, le=366)
    livestock_farms: int = Field(default=90, ge=1, le=366)
    public_toilets: int = Field(default=7, ge=1, le=366)

    def days(self, layer: str) -> int:
        return int(getattr(self, layer))


class ImportFileSettings(BaseSettings):
    """Archives opened by the import (zipped Shapefiles, KMZ, XLSX workbooks) and boundary files: what
    is checked before a byte is extracted, so a zip bomb is refused, not unpacked."""

    model_config = SettingsConfigDict(env_prefix="SANICHAIN_IMPORT_", env_file=".env", extra="ignore")

    archive_max_members: int = Field(default=1_000, ge=1)
    # a city's farms as a Shapefile are a few hundred MB; the limits leave room for them, not for a bomb
    archive_max_member_bytes: int = Field(default=1 << 30, ge=1)
    archive_max_total_bytes: int = Field(default=2 << 30, ge=1)
    # deflate cannot beat about 1,032:1; padded DBF text reaches 100:1, a bomb goes beyond 500:1
    archive_max_ratio: float = Field(default=200.0, gt=1)
    # towns of a boundary file may overlap by this much (m²) where their borders were drawn apart
    boundary_overlap_m2: float = Field(default=10_000.0, ge=0)


class ImportJobSettings(BaseSettings):
    """Imports through the API (`POST /imports`): where uploads are kept, how large they may be, how many
    run at once, and how long uploads and finished jobs are kept."""

    model_config = SettingsConfigDict(env_prefix="SANICHAIN_IMPORT_", env_file=".env", extra="ignore")

    # uploads are streamed to files here (never held in memory), next to the private cluster's data
    dir: Path = Field(default=REPO_ROOT / ".data" / "imports")
    # the whole request body; a larger Content-Length is refused before reading, a longer stream when
    # it grows past it (the partial file deleted)
    max_bytes: int = Field(default=200_000_000, ge=1_024, le=20_000_000_000)
    # imports run at once in one process; more wait as `queued`
    workers: int = Field(default=1, ge=1, le=16)
    # a dry run's upload is kept this long for its confirmation, then deleted
    keep_hours: float = Field(default=24.0, gt=0, le=24 * 90)
    # finished jobs (reports, rejected rows) are kept this long; the audit log keeps the record
    keep_days: int = Field(default=30, ge=1, le=3650)
    # how long POST /imports waits for a small file's job to finish before answering (0: never waits)
    wait_s: float = Field(default=2.0, ge=0, le=30)


class ImportSettings(BaseSettings):
    """Importing a city's files (`sanichain import`, the import page)."""

    model_config = SettingsConfigDict(env_prefix="SANICHAIN_IMPORT_", env_file=".env", extra="ignore")

    # rows sent to the staging table per COPY: large enough for speed, small enough for flat memory
    batch_rows: int = Field(default=20_000, ge=100, le=1_000_000)
    # rejections and warnings the report lists (the rest are counted; every rejected row is in the CSV)
    listed_problems: int = Field(default=1000, ge=1, le=100_000)
    # the chain is re-checked after imports writing at most this many features (it holds the whole
    # city's findings in memory; a larger import says so and `sanichain chain check` does it)
    chain_check_max_rows: int = Field(default=10_000, ge=0)
    # a CSV's plain rows are converted in SQL after one COPY (the rest row by row); false reads every
    # row in Python (slower, same result: the tests compare the two)
    bulk_csv: bool = True


# Every settings class, for the documentation check (tests/test_config_table.py).
S = TypeVar("S", bound=BaseSettings)


@lru_cache
def _read(kind: type[BaseSettings]) -> BaseSettings:
    return kind()


def settings(kind: type[S]) -> S:
    """The settings of one concern, read from the environment once per process."""
    return cast(S, _read(kind))


def forget_settings() -> None:
    """Read the environment again on next use (tests that change it)."""
    _read.cache_clear()


def database_settings() -> DatabaseSettings:
    return settings(DatabaseSettings)


def sqlalchemy_url(url: str) -> str:
    """Accept the usual libpq-style URL and pin the psycopg2 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


class FilterSettings(BaseSettings):
    """Limits of a CQL2 filter (items and exports). The parser and the translation recurse once per
    nested term, so a few thousand terms would exhaust Python's stack; the defaults leave a wide margin
    for filters people write or tools generate."""

    model_config = SettingsConfigDict(env_prefix="SANICHAIN_CQL_", env_file=".env", extra="ignore")

    max_length: int = Field(default=20_000, ge=1, le=1_000_000)  # characters of the filter text
    max_predicates: int = Field(default=256, ge=1, le=2_000)  # conditions joined by AND/OR/NOT
    max_depth: int = Field(default=20, ge=1, le=100)  # levels of nesting (a chain of one operator: one)


class PublicAddressSettings(BaseSettings):
    """Where clients reach the service, for the absolute links it writes (OGC links, map pages).

    With `SANICHAIN_PUBLIC_URL` (e.g. https://gis.example.org/sanichain behind a proxy) every link
    starts with it, whatever Host a request names. Without it links follow the request's Host, so only
    the hosts listed in `SANICHAIN_TRUSTED_HOSTS` (plus the bound HOST) are answered: anything else is
    a 400, and never ends up in a page cached for others.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    public_url: str | None = Field(default=None, validation_alias="SANICHAIN_PUBLIC_URL")
    # comma-separated host names (ports are ignored); the bound HOST is always added
    trusted_hosts: str = Field(default="localhost,127.0.0.1,::1", validation_alias="SANICHAIN_TRUSTED_HOSTS")

    @model_validator(mode="after")
    def _absolute(self) -> PublicAddressSettings:
        url = (self.public_url or "").strip().rstrip("/")
        parts = urlsplit(url)
        if url and not (
            parts.scheme in ("http", "https") and parts.netloc and not parts.query + parts.fragment
        ):
            raise ValueError(
                "SANICHAIN_PUBLIC_URL must be an absolute http(s) URL, e.g. https://gis.example.org/sanichain"
            )
        self.public_url = url or None
        return self

    def hosts(self, bound_host: str) -> frozenset[str]:
        names = {h.strip().lower().strip("[]") for h in self.trusted_hosts.split(",")}
        return frozenset(n for n in (*names, bound_host.lower().strip("[]")) if n)


class RuntimeSettings(BaseSettings):
    """How the HTTP service shares the database: a pool and a statement timeout per request class
    (interactive reads, exports, analyses), caps on concurrent heavy requests, how long a client may
    stop reading, and how fast an unreachable or frozen database is noticed."""

    model_config = SettingsConfigDict(env_prefix="SANICHAIN_", env_file=".env", extra="ignore")

    # connections per request class; interactive reads never wait behind exports or analyses
    pool_interactive: int = Field(default=10, ge=1)
    pool_export: int = Field(default=4, ge=1)
    pool_analysis: int = Field(default=4, ge=1)
    # a request waits this long for a pooled connection, then gets a 503 with Retry-After
    pool_timeout_s: float = Field(default=2.0, gt=0)
    statement_timeout_interactive_s: float = Field(default=15.0, gt=0)
    statement_timeout_export_s: float = Field(default=120.0, gt=0)
    statement_timeout_analysis_s: float = Field(default=60.0, gt=0)
    # a transaction left open without a statement this long is ended by PostgreSQL (a backstop:
    # streams close theirs when the client leaves); above the send timeout, so slow readers are not cut
    idle_in_transaction_timeout_s: float = Field(default=300.0, gt=0)
    # concurrent requests of the heavy classes (streamed or built); more answer 503 with Retry-After
    max_exports: int = Field(default=4, ge=1)
    max_analyses: int = Field(default=4, ge=1)
    # a client that accepts no bytes for this long is dropped and its database connection released
    send_timeout_s: float = Field(default=30.0, gt=0)
    # a request with no response (or a stream with no new bytes) for this long checks the database
    liveness_after_s: float = Field(default=1.0, gt=0)
    # the check: a fresh connection and SELECT 1 within this time, its answer shared for liveness_ttl_s
    liveness_timeout_s: float = Field(default=1.5, gt=0)
    liveness_ttl_s: float = Field(default=1.5, gt=0)
    retry_after_s: int = Field(default=5, ge=1)
    # uvicorn: how long a stop waits for open responses before closing them
    graceful_shutdown_s: int = Field(default=10, ge=1)


# Every settings class, for the test of the README's configuration table.
SETTINGS_CLASSES: tuple[type[BaseSettings], ...] = (
    DatabaseSettings,
    ServerSettings,
    LocalClusterSettings,
    DemoSettings,
    AuthSettings,
    MapSettings,
    ChainSettings,
    SitingSettings,
    EditSettings,
    ImportJobSettings,
    ImportSettings,
    AnalysisLimitSettings,
    FilterSettings,
    PublicAddressSettings,
    RuntimeSettings,
    ImportFileSettings,
    InspectionSettings,
)
