"""Settings from the environment (prefix ``TERRASCAN_``), built by ``get_settings()`` at
application start, never at import."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from terrascan.errors import ConfigurationError

DEFAULT_STAC_API_URL = "https://earth-search.aws.element84.com/v1"
DEFAULT_ASSET_HOSTS = (
    "sentinel-cogs.s3.us-west-2.amazonaws.com",
    "sentinel-cogs.s3.amazonaws.com",
    "usgs-landsat.s3.us-west-2.amazonaws.com",
    "usgs-landsat",
    "sentinel-cogs",
)
#: Secrets that appear in examples and tutorials; refused in production.
KNOWN_DEFAULT_SECRETS = frozenset(
    {
        "",
        "secret",
        "changeme",
        "change-me",
        "changethis",
        "dev",
        "development",
        "terrascan",
        "secret-key",
        "your-secret-key",
        "supersecret",
        "test",
        "password",
    }
)
MIN_SECRET_LENGTH = 32
SECRET_FILE_NAME = "secret_key"

CommaList = Annotated[list[str], NoDecode]


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every setting TerraScan reads. Unset URLs derive from ``data_dir`` (the embedded mode)."""

    model_config = SettingsConfigDict(env_prefix="TERRASCAN_", extra="ignore")

    data_dir: Path = Field(default_factory=lambda: Path.home() / ".terrascan")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    database_url: str = ""
    storage_url: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: SecretStr = SecretStr("")
    broker_url: str = ""
    stac_api_url: str = DEFAULT_STAC_API_URL
    asset_hosts: CommaList = Field(default_factory=lambda: list(DEFAULT_ASSET_HOSTS))
    #: Uploads (issue 4): largest file accepted, and largest declared width x height x bands.
    upload_max_bytes: int = Field(default=2 * 1024**3, ge=1024)
    upload_max_pixels: int = Field(default=2_000_000_000, ge=1)
    secret_key: SecretStr = SecretStr("")
    cors_origins: CommaList = Field(default_factory=list)
    #: "embedded" or "production"; unset means production whenever a broker or a non-SQLite
    #: database is configured.
    mode: Literal["embedded", "production"] | None = None
    log_level: str = "INFO"
    worker_pool_size: int = Field(default=2, ge=1, le=64)
    #: Jobs (terrascan.jobs.config.JobConfig): attempts, liveness, fairness, back-off.
    job_max_attempts: int = Field(default=3, ge=1, le=100)
    job_heartbeat_interval_s: float = Field(default=2.0, gt=0)
    job_heartbeat_timeout_s: float = Field(default=30.0, gt=0)
    job_requeue_after_s: float = Field(default=300.0, gt=0)
    job_reconcile_interval_s: float = Field(default=10.0, gt=0)
    #: Seconds the broker waits for an unacknowledged task before redelivering it; keep it
    #: longer than the longest job (a redelivered task that finds its job running skips it).
    job_visibility_timeout_s: int = Field(default=43200, ge=1)
    #: Running jobs per organisation (0: no limit), so one organisation cannot starve others.
    job_org_concurrency: int = Field(default=4, ge=0)
    job_retry_backoff_s: float = Field(default=1.0, gt=0)
    job_retry_backoff_max_s: float = Field(default=60.0, gt=0)
    # Accounts (issue 5): token lifetimes, auth rate limits, request body cap, invitations.
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    #: Attempts per window on login/register/refresh, per client IP and per account.
    auth_rate_limit_per_ip: int = Field(default=30, ge=1)
    auth_rate_limit_per_account: int = Field(default=10, ge=1)
    auth_rate_limit_window_s: int = Field(default=60, ge=1)
    #: Empty: an in-process sliding window; ``redis://...``: shared by every API replica.
    rate_limit_url: str = ""
    #: Exports through a share link (no sign-in), per client IP and per link, in a window.
    public_export_limit_per_ip: int = Field(default=30, ge=1)
    public_export_limit_per_link: int = Field(default=100, ge=1)
    public_export_window_s: int = Field(default=600, ge=1)
    #: Tile responses: empty or ``memory`` keeps them in this process; ``redis://...`` (a Redis
    #: of its own with maxmemory and allkeys-lru, not the broker's) shares them between API
    #: replicas; ``off`` caches nothing.
    tile_cache_url: str = ""
    tile_cache_ttl_s: int = Field(default=3600, ge=1, le=7 * 24 * 3600)
    #: Tile renders (uncached tiles, previews, statistics, info) in flight per API process,
    #: rendering or waiting for a thread; requests beyond it get 503 with Retry-After at once.
    tile_render_limit: int = Field(default=32, ge=1, le=1024)
    #: Cap on JSON request bodies of the accounts and AOI routes, in bytes.
    max_json_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    invitation_days: int = Field(default=7, ge=1, le=90)
    #: Base URL of the web app, used in links sent by email.
    public_url: str = "http://127.0.0.1:8000"
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = True
    smtp_from: str = "TerraScan <noreply@localhost>"
    #: Sign-in with Google (OpenID Connect) and GitHub (OAuth 2.0), each enabled by its client id.
    oauth_google_client_id: str = ""
    oauth_google_client_secret: SecretStr = SecretStr("")
    oauth_google_metadata_url: str = "https://accounts.google.com/.well-known/openid-configuration"
    oauth_github_client_id: str = ""
    oauth_github_client_secret: SecretStr = SecretStr("")
    oauth_github_url: str = "https://github.com"
    oauth_github_api_url: str = "https://api.github.com"

    _split = field_validator("asset_hosts", "cors_origins", mode="before")(_split_commas)

    @property
    def is_production(self) -> bool:
        if self.mode is not None:
            return self.mode == "production"
        return bool(self.broker_url) or not self.resolved_database_url.startswith("sqlite")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'terrascan.db'}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or str(self.data_dir / "storage")

    def s3_options(self) -> dict[str, str]:
        """Keyword arguments for ``terrascan.io.storage.open_store`` when storage is S3."""
        return {
            "endpoint_url": self.s3_endpoint_url,
            "region": self.s3_region,
            "access_key_id": self.s3_access_key_id,
            "secret_access_key": self.s3_secret_access_key.get_secret_value(),
        }

    def resolve_secret_key(self) -> str:
        """Return the signing secret.

        Production: the configured secret, refused when it is a known default or too short.
        Embedded: the configured one, else a random secret generated once and kept in
        ``data_dir/secret_key`` (mode 0600), so tokens survive restarts.
        """
        configured = self.secret_key.get_secret_value()
        if self.is_production:
            if configured.lower() in KNOWN_DEFAULT_SECRETS or len(configured) < MIN_SECRET_LENGTH:
                raise ConfigurationError(
                    "TERRASCAN_SECRET_KEY must be set to a random value of at least "
                    f"{MIN_SECRET_LENGTH} characters in production (known defaults are refused)"
                )
            return configured
        if configured:
            return configured
        return _load_or_create_secret(self.data_dir / SECRET_FILE_NAME)


def _load_or_create_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    tmp = path.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.write_text(value)
    tmp.replace(path)
    return value


def get_settings() -> Settings:
    """Build settings from the environment. Call it at start-up, never at import."""
    return Settings()
