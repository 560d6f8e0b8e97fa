"""Configuration from environment variables and `.env`, validated once at start-up.

Every field maps to the upper-case environment variable of the same name (`database_url` ->
`DATABASE_URL`); `.env.example` documents each one. Production refuses settings that are only
safe on a developer's machine.
"""

from __future__ import annotations

import secrets
from functools import cached_property
from typing import Annotated, Literal

from limits import parse as parse_rate_limit
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, {% if cookiecutter.use_vault %}PydanticBaseSettingsSource, {% endif %}SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
{%- if cookiecutter.use_vault %}

from .secrets.vault import VaultError, VaultSettingsSource
{%- endif %}

Environment = Literal["development", "test", "production"]

MIN_SECRET_KEY_LENGTH = 32
# Values people paste from tutorials; refused in production whatever their length.
KNOWN_WEAK_SECRETS = frozenset(
    {"change-me", "changeme", "secret", "secret-key", "your-secret-key", "development", "test", "password"}
)
MIN_SECRET_KEY_DISTINCT_CHARACTERS = 10
# The async driver the service ships for each database. Hosting platforms hand out URLs without
# one (postgres://, postgresql://), which would load a driver that is not installed.
ASYNC_DRIVERS = {"postgresql": "asyncpg", "sqlite": "aiosqlite"}
BACKEND_ALIASES = {"postgres": "postgresql"}


class Settings(BaseSettings):
    """All settings of the service; see `.env.example` for what each one does."""

    # hide_input_in_errors: a refused value (a URL with its password, a key) never reaches an error or a log.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    environment: Environment = "development"

    # Server (read by the `serve` command)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)
    forwarded_allow_ips: str = "127.0.0.1"
    shutdown_timeout_seconds: int = Field(default=20, ge=1)

    # Database
    database_url: str = "sqlite+aiosqlite:///./app.db"
    allow_sqlite_in_production: bool = False
    database_pool_size: int = Field(default=20, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    database_pool_pre_ping: bool = False
    database_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    database_command_timeout_seconds: float = Field(default=15.0, gt=0)
    database_startup_attempts: int = Field(default=5, ge=1)
    database_startup_backoff_seconds: float = Field(default=0.2, ge=0)
    database_echo: bool = False

    # Tokens
    secret_key: SecretStr | None = None
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_issuer: str = __name__.rpartition(".")[0]  # the package name
    access_token_ttl_seconds: int = Field(default=900, ge=30)
    refresh_token_ttl_seconds: int = Field(default=14 * 24 * 3600, ge=60)
    # Audit events older than this are purged ({% if cookiecutter.use_celery %}daily by the Celery beat job{% else %}by `purge-audit-events`, which operators schedule{% endif %}).
    audit_retention_days: int = Field(default=365, ge=1)

    # Password hashing (argon2id). The defaults are the argon2 library's (RFC 9106); only tests lower them.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    password_hashing_threads: int = Field(default=4, ge=1)

    # Login protection
    redis_url: str | None = None
    redis_timeout_seconds: float = Field(default=0.5, gt=0)
    login_rate_limit: str = "10/minute"
    login_lockout_threshold: int = Field(default=5, ge=1)
    login_lockout_seconds: int = Field(default=900, ge=1)

    # HTTP
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    readiness_timeout_seconds: float = Field(default=2.0, gt=0)

    # Logging
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] | None = None
{%- if cookiecutter.use_celery %}

    # Background jobs (Celery). The defaults run a real worker on SQLite files: no server needed.
    celery_broker_url: str = "sqla+sqlite:///./celery-broker.db"
    celery_result_backend: str = "db+sqlite:///./celery-results.db"
    celery_task_time_limit_seconds: int = Field(default=300, ge=1)
    celery_publish_timeout_seconds: float = Field(default=2.0, gt=0)
    celery_worker_metrics_port: int = Field(default=9540, ge=0, le=65535)
{%- endif %}
{%- if cookiecutter.use_vault %}

    # Vault: settings are read from it when VAULT_ADDR is set (the other VAULT_* variables: secrets/vault.py)
    vault_addr: str | None = None
{%- endif %}
{%- if cookiecutter.use_sentry %}

    # Error tracking: Sentry is off while SENTRY_DSN is empty
    sentry_dsn: SecretStr | None = None
    sentry_environment: str | None = None  # default: ENVIRONMENT
    sentry_release: str | None = None  # default: the package version
    sentry_traces_sample_rate: float = Field(default=0.0, ge=0, le=1)
    sentry_profiles_sample_rate: float = Field(default=0.0, ge=0, le=1)
{%- endif %}

{%- if cookiecutter.use_vault %}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit environment variables win over Vault; Vault wins over .env.
        return (init_settings, env_settings, VaultSettingsSource(settings_cls), dotenv_settings, file_secret_settings)
{%- endif %}

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        """Accept `CORS_ORIGINS=https://a.example,https://b.example` as well as a JSON list."""
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("login_rate_limit")
    @classmethod
    def _parse_rate_limit(cls, value: str) -> str:
        parse_rate_limit(value)  # raises ValueError with the library's explanation
        return value

    @field_validator("database_url")
    @classmethod
    def _use_an_async_driver(cls, value: str) -> str:
        """`postgres://` and `postgresql://` get asyncpg, `sqlite://` aiosqlite; other drivers are refused."""
        try:
            scheme = make_url(value).drivername
        except ArgumentError as error:
            raise ValueError(str(error)) from None
        backend, _, driver = scheme.partition("+")
        backend = BACKEND_ALIASES.get(backend, backend)
        if backend not in ASYNC_DRIVERS:
            raise ValueError(f"unsupported database {backend!r}: use postgresql+asyncpg:// or sqlite+aiosqlite://")
        if driver not in ("", ASYNC_DRIVERS[backend]):
            raise ValueError(f"driver {driver!r} is not installed: use {backend}+{ASYNC_DRIVERS[backend]}://")
        # Only the scheme changes: the rest of the URL (password escapes, query) stays as written.
        return f"{backend}+{ASYNC_DRIVERS[backend]}" + value[len(scheme) :]

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment != "production":
            return self
        problems = [*_secret_key_problems(self.secret_key)]
        if self.is_sqlite and not self.allow_sqlite_in_production:
            problems.append("DATABASE_URL points at SQLite: use PostgreSQL or set ALLOW_SQLITE_IN_PRODUCTION=true")
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def effective_log_format(self) -> Literal["json", "console"]:
        if self.log_format is not None:
            return self.log_format
        return "console" if self.environment == "development" else "json"

    @cached_property
    def signing_key(self) -> str:
        """SECRET_KEY, or outside production a random per-process key (tokens die with the process)."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return secrets.token_urlsafe(48)


def _secret_key_problems(secret_key: SecretStr | None) -> list[str]:
    if secret_key is None or not secret_key.get_secret_value():
        return ["SECRET_KEY is missing"]
    value = secret_key.get_secret_value()
    if value.lower() in KNOWN_WEAK_SECRETS:
        return ["SECRET_KEY is a well-known placeholder"]
    if len(value) < MIN_SECRET_KEY_LENGTH or len(set(value)) < MIN_SECRET_KEY_DISTINCT_CHARACTERS:
        return [f"SECRET_KEY is weak: use at least {MIN_SECRET_KEY_LENGTH} random characters"]
    return []


class SettingsError(Exception):
    """Settings that cannot start the service; the message lists every problem, one per line."""


def get_settings() -> Settings:
    """Read settings from the environment and `.env`, turning validation errors into one clear message."""
    try:
        return Settings()
    except ValidationError as error:
        lines = [f"  {'.'.join(map(str, e['loc'])).upper() or 'settings'}: {e['msg']}" for e in error.errors()]
        raise SettingsError("invalid settings:\n" + "\n".join(lines)) from None
{%- if cookiecutter.use_vault %}
    except VaultError as error:
        raise SettingsError(f"invalid settings: {error}") from None
{%- endif %}
