"""Configuration from environment variables and `.env`, validated once at start-up.

Every field maps to the upper-case environment variable of the same name (`database_url` ->
`DATABASE_URL`); `.env.example` documents each one. Production refuses settings that are only
safe on a developer's machine.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from email.headerregistry import Address
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr
from functools import cached_property
from ipaddress import ip_address
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

{% if cookiecutter.use_celery -%}
from celery.app.backends import by_url as result_backend_by_url
from celery.exceptions import ImproperlyConfigured
from kombu.transport import resolve_transport
{% endif -%}
from limits import parse as parse_rate_limit
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, {% if cookiecutter.use_vault %}PydanticBaseSettingsSource, {% endif %}SettingsConfigDict
from redis.connection import parse_url as parse_redis_url
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .about import TITLE
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
# Connections a process keeps, and opens beyond them under load, by database. SQLite commits one
# write at a time: with two connections a read runs beside a write and other requests wait their
# turn in the pool's queue, where many connections would race for its lock and retry after growing
# sleeps, starving some writers for seconds.
DEFAULT_POOL_SIZES = {"postgresql": (20, 10), "sqlite": (2, 0)}
PERCENT_ENCODE = "percent-encode the password's special characters (@ is %40, : is %3A, / is %2F)"
REDIS_URL_FORM = "redis://:password@host:6379/0"
HIDDEN = "**********"  # what pydantic shows of a SecretStr


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
    # Unset: the database's own sizes (DEFAULT_POOL_SIZES).
    database_pool_size: int | None = Field(default=None, ge=1)
    database_max_overflow: int | None = Field(default=None, ge=0)
    database_pool_pre_ping: bool = False
    database_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    database_command_timeout_seconds: float = Field(default=15.0, gt=0)
    database_migration_lock_timeout_seconds: float = Field(default=10.0, gt=0)
    database_startup_attempts: int = Field(default=5, ge=1)
    database_startup_backoff_seconds: float = Field(default=0.2, ge=0)
    database_echo: bool = False

    # Tokens
    secret_key: SecretStr | None = None
    # Keys whose tokens are accepted besides SECRET_KEY's, comma-separated, while a new key rolls out:
    # new tokens are signed with SECRET_KEY (docs/operations.md, Secret rotation).
    secret_key_fallbacks: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_issuer: str = __name__.rpartition(".")[0]  # the package name
    access_token_ttl_seconds: int = Field(default=900, ge=30)
    refresh_token_ttl_seconds: int = Field(default=14 * 24 * 3600, ge=60)
    # Audit events older than this are purged ({% if cookiecutter.use_celery %}daily by the Celery beat job{% else %}by `purge-audit-events`, which operators schedule{% endif %}).
    # At most a century: the purge's cutoff date must exist ("keep forever" is a large number, not infinity).
    audit_retention_days: int = Field(default=365, ge=1, le=36_500)

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

    # Account recovery and two-factor login
    password_reset_ttl_seconds: int = Field(default=30 * 60, ge=60)
    email_verification_ttl_seconds: int = Field(default=2 * 24 * 3600, ge=60)
    mfa_token_ttl_seconds: int = Field(default=5 * 60, ge=30)  # between the password and the code
    # E-mails sent per address and per client (limits syntax), against mail bombing.
    email_rate_limit_per_address: str = "3/hour"
    email_rate_limit_per_client: str = "20/hour"
    # Encrypts TOTP secrets at rest: a long random string, required in production. Outside
    # production a missing key is derived from the token signing key.
    totp_encryption_key: SecretStr | None = None
    # Keys that decrypt besides TOTP_ENCRYPTION_KEY, comma-separated, while a new key rolls out and
    # until `rotate-totp-secrets` has re-encrypted every secret with TOTP_ENCRYPTION_KEY.
    totp_encryption_key_fallbacks: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)

    # HTTP
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    readiness_timeout_seconds: float = Field(default=2.0, gt=0)

    # E-mail: "console" writes each message to the log (development); "smtp" sends it.
    email_backend: Literal["console", "smtp"] = "console"
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=10, gt=0)
    email_from: str = formataddr((TITLE, "noreply@localhost"))
    # Where the pages that handle the links in messages live (reset, verification).
    public_base_url: str = "http://127.0.0.1:8000{% if cookiecutter.use_playwright %}/ui{% endif %}"
{%- if cookiecutter.use_celery %}
    # Deliver through a Celery job (retried with backoff) instead of after the response in the API process.
    email_via_celery: bool = True
{%- endif %}

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
    # Item exports one user may start (limits syntax), and the items one export holds at most (the
    # first by id; the result says when it was cut): each result is kept a day in the result backend.
    export_rate_limit: str = "3/hour"
    export_max_items: int = Field(default=10_000, ge=1)
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
        """Accept `CORS_ORIGINS=https://a.example,https://b.example` as well as a list."""
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("secret_key_fallbacks", "totp_encryption_key_fallbacks", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        """Accept `OLD_KEY_1,OLD_KEY_2` (spaces after a comma allowed) as well as a list. A key is
        otherwise taken as written, like SECRET_KEY: one read from a file may end in a newline."""
        if isinstance(value, str):
            return [key.strip(" ") for key in value.split(",") if key.strip(" ")]
        return value

{%- if cookiecutter.use_sentry %}

    @field_validator("sentry_dsn", mode="before")
    @classmethod
    def _empty_dsn_is_none(cls, value: object) -> object:
        """`SENTRY_DSN=` (as .env.example has it) means no DSN, so Sentry stays off."""
        return None if value == "" else value
{%- endif %}

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "login_rate_limit",
        "email_rate_limit_per_address",
        "email_rate_limit_per_client",
{%- if cookiecutter.use_celery %}
        "export_rate_limit",
{%- endif %}
    )
    @classmethod
    def _parse_rate_limit(cls, value: str) -> str:
        parse_rate_limit(value)  # raises ValueError with the library's explanation
        return value

    @field_validator("email_from")
    @classmethod
    def _parse_sender(cls, value: str) -> str:
        """One address, optionally with a display name: `Orders <noreply@example.com>`."""
        try:
            header = SMTP_POLICY.header_factory("from", value)
        except (IndexError, ValueError):  # the parser's answer to some malformed addresses
            header = None
        addresses: tuple[Address, ...] = getattr(header, "addresses", ())
        if header is None or header.defects or len(addresses) != 1 or not addresses[0].domain:
            raise ValueError("EMAIL_FROM must be one address such as 'Name <noreply@example.com>'")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        """An http(s) address with a host; without its trailing slash, as links append their own path."""
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("PUBLIC_BASE_URL must be an address such as https://app.example.com")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _use_an_async_driver(cls, value: str) -> str:
        """`postgres://` and `postgresql://` get asyncpg, `sqlite://` aiosqlite; other drivers are refused."""
        try:
            url = make_url(value)
        except ArgumentError as error:
            raise ValueError(str(error)) from None
        except ValueError:  # int() of the port; its message would show the port
            raise ValueError(_unreadable_port(value)) from None
        scheme = url.drivername
        if url.host and "@" in url.host:  # the password's own "@" ended it early: the rest would be shown
            raise ValueError(PERCENT_ENCODE)
        backend, _, driver = scheme.partition("+")
        backend = BACKEND_ALIASES.get(backend, backend)
        if backend not in ASYNC_DRIVERS:
            raise ValueError(f"unsupported database {backend!r}: use postgresql+asyncpg:// or sqlite+aiosqlite://")
        if driver not in ("", ASYNC_DRIVERS[backend]):
            raise ValueError(f"driver {driver!r} is not installed: use {backend}+{ASYNC_DRIVERS[backend]}://")
        if backend == "sqlite" and url.database in (None, "", ":memory:"):
            raise ValueError("an in-memory SQLite database lives as long as one connection: name a file")
        if "password" in url.query:
            raise ValueError("the password goes before the host (user:password@host), not in the query")
        # Only the scheme changes, and libpq's `sslmode` becomes asyncpg's `ssl` (same values): the
        # rest of the URL (password escapes, other query keys) stays as written.
        address, _, query = value[len(scheme) :].partition("?")
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            address += "?" + urlencode([("ssl" if key == "sslmode" else key, item) for key, item in pairs])
        return f"{backend}+{ASYNC_DRIVERS[backend]}" + address

    @field_validator("redis_url")
    @classmethod
    def _usable_redis_url(cls, value: str | None) -> str | None:
        if value is not None and (problem := _redis_url_problem(value)):
            raise ValueError(problem)
        return value
{%- if cookiecutter.use_celery %}

    @field_validator("celery_broker_url")
    @classmethod
    def _usable_broker_url(cls, value: str) -> str:
        """Every URL of the list (kombu takes `;`-separated URLs to fail over to) names a transport kombu has."""
        for url in value.split(";"):
            if problem := _broker_url_problem(url):
                raise ValueError(problem)
        return value

    @field_validator("celery_result_backend")
    @classmethod
    def _usable_result_backend(cls, value: str) -> str:
        try:
            result_backend_by_url(value)
        except (ImportError, ImproperlyConfigured) as error:  # the backend's module, named after the scheme
            raise ValueError(
                f"not a result backend Celery can load ({error}): use a URL such as redis://host:6379/2"
            ) from None
        if value.startswith(("redis://", "rediss://")) and (problem := _redis_url_problem(value)):
            raise ValueError(problem)
        return value
{%- endif %}

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment != "production":
            return self
        problems = [*_secret_key_problems("SECRET_KEY", self.secret_key)]
        problems += _secret_key_problems("TOTP_ENCRYPTION_KEY", self.totp_encryption_key)
        # A weak earlier key would let anyone sign tokens (or read secrets) as well as a weak current one.
        for name, fallbacks in (
            ("SECRET_KEY_FALLBACKS", self.secret_key_fallbacks),
            ("TOTP_ENCRYPTION_KEY_FALLBACKS", self.totp_encryption_key_fallbacks),
        ):
            for number, key in enumerate(fallbacks, start=1):
                problems += _secret_key_problems(f"{name} key {number}", key)
        if self.is_sqlite and not self.allow_sqlite_in_production:
            problems.append("DATABASE_URL points at SQLite: use PostgreSQL or set ALLOW_SQLITE_IN_PRODUCTION=true")
        if self.email_backend == "console":
            problems.append("EMAIL_BACKEND=console writes links with tokens to the log: use smtp")
        if self.smtp_password is not None and self.smtp_security == "none":
            problems.append("SMTP_SECURITY=none would send SMTP_PASSWORD in clear text: use starttls or tls")
        problems += self._public_address_problems()
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self

    def _public_address_problems(self) -> list[str]:
        """The defaults name this machine, so links in mail would lead nowhere and mail come from nowhere."""
        problems = [
            f"{name.upper()} is not set: its default points at this machine"
            for name in ("public_base_url", "email_from")
            if name not in self.model_fields_set
        ]
        host = urlsplit(self.public_base_url).hostname or ""
        if not self.public_base_url.startswith("https://") and not _is_loopback(host):
            problems.append("PUBLIC_BASE_URL must start with https://: the links in mail carry tokens")
        return problems

{%- if cookiecutter.use_sentry %}

    def secret_values(self) -> set[str]:
        """Every secret the settings hold: SecretStr fields (alone or in lists) and the passwords inside URLs."""
        values: set[str] = set()
        for value in self.__dict__.values():
            if isinstance(value, SecretStr):
                values.add(value.get_secret_value())
            elif isinstance(value, list):
                values |= {item.get_secret_value() for item in value if isinstance(item, SecretStr)}
            elif isinstance(value, str) and "://" in value:
                values |= _url_passwords(value)
        return values - {""}
{%- endif %}

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """As pydantic's, with the passwords in URLs hidden like SecretStr values: a repr of the settings
        reaches logs, error reports and tracebacks."""
        for name, value in super().__repr_args__():
            if isinstance(value, str) and "://" in value:
                for password in sorted(_url_passwords(value), key=len, reverse=True):  # longest first
                    value = value.replace(password, HIDDEN)
            yield name, value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def database_pool(self) -> tuple[int, int]:
        """The pool's size and overflow: DATABASE_POOL_SIZE and DATABASE_MAX_OVERFLOW, else the database's."""
        size, overflow = DEFAULT_POOL_SIZES["sqlite" if self.is_sqlite else "postgresql"]
        return (
            size if self.database_pool_size is None else self.database_pool_size,
            overflow if self.database_max_overflow is None else self.database_max_overflow,
        )

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

    @property
    def verification_keys(self) -> list[str]:
        """The keys a token's signature may have: the signing key first, then SECRET_KEY_FALLBACKS."""
        return [self.signing_key, *(key.get_secret_value() for key in self.secret_key_fallbacks)]

    @property
    def totp_keys(self) -> list[str]:
        """TOTP_ENCRYPTION_KEY (or outside production one derived from the signing key: SecretBox adds
        HKDF), which encrypts, then TOTP_ENCRYPTION_KEY_FALLBACKS, which only decrypt."""
        key = self.signing_key if self.totp_encryption_key is None else self.totp_encryption_key.get_secret_value()
        return [key, *(fallback.get_secret_value() for fallback in self.totp_encryption_key_fallbacks)]


def _secret_key_problems(name: str, secret_key: SecretStr | None) -> list[str]:
    if secret_key is None or not secret_key.get_secret_value():
        return [f"{name} is missing"]
    value = secret_key.get_secret_value()
    if value.lower() in KNOWN_WEAK_SECRETS:
        return [f"{name} is a well-known placeholder"]
    if len(value) < MIN_SECRET_KEY_LENGTH or len(set(value)) < MIN_SECRET_KEY_DISTINCT_CHARACTERS:
        return [f"{name} is weak: use at least {MIN_SECRET_KEY_LENGTH} random characters"]
    return []


def _url_passwords(value: str) -> set[str]:
    """The passwords in `value`, a URL or kombu's ";"-separated list of failover URLs, as each of their
    readers finds them (SQLAlchemy's parser for the database; the standard library's, which redis-py
    and kombu use, for the others, in the user part or as a `?password=`), as written and decoded.
    Never raises: a URL that does not parse holds no password that anyone could use."""
    found = set()
    for url in {value, *value.split(";")}:
        with contextlib.suppress(ArgumentError, ValueError):
            parsed = make_url(url)
            if not (parsed.host and "@" in parsed.host):  # else it stopped at the password's own "@"
                found.add(parsed.password or "")
        with contextlib.suppress(ValueError):
            parts = urlsplit(url)
            found.add(parts.password or "")
            found.update(password for name, password in parse_qsl(parts.query) if name == "password")
    forms = {form for password in found for form in (password, unquote(password), quote(password, safe=""))}
    return forms - {""}


def _unreadable_port(url: str) -> str:
    """Why a database URL's port is no number: a typo in the port itself, or a bare ":" in the
    password, after which the rest of the password reads as the port (then none of it may be shown)."""
    host_and_port = urlsplit(url).netloc.rpartition("@")[2]  # after the last "@" nothing is the password
    _, colon, port = host_and_port.rpartition(":")
    if colon and not port.isdigit() and not host_and_port.endswith("]"):  # "]" ends an IPv6 host
        return "the port after the host must be a number"
    return PERCENT_ENCODE


def _redis_url_problem(url: str) -> str | None:
    """What the Redis client would refuse on first use; without the URL, which may hold a password."""
    try:
        parse_redis_url(url)  # type: ignore[no-untyped-call]  # untyped in redis-py
    except ValueError:
        return f"not a Redis URL such as {REDIS_URL_FORM} (redis://, rediss:// or unix://; {PERCENT_ENCODE})"
    parts = urlsplit(url)
    database = parts.path.strip("/")
    # The Redis client would silently use database 0 instead.
    if parts.scheme != "unix" and database and not database.isdigit():
        return f"the database after the host must be a number, as the 0 in {REDIS_URL_FORM}"
    return None

{%- if cookiecutter.use_celery %}


def _broker_url_problem(url: str) -> str | None:
    scheme, separator, _ = url.partition("://")
    if not separator:  # kombu would take a bare word for the name of an AMQP host
        return "not a URL such as redis://host:6379/1"
    transport = scheme.partition("+")[0]  # sqla+sqlite: kombu's transport, then its database
    try:
        resolve_transport(transport)
    except KeyError as error:
        return str(error.args[0])  # "No such transport: ... Did you mean ...?"
    except ImportError as error:
        return f"the {transport!r} transport needs a library that is not installed ({error})"
    return _redis_url_problem(url) if transport in ("redis", "rediss") else None
{%- endif %}


def _is_loopback(host: str) -> bool:
    """A local stack (compose) may link to plain http on this machine."""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


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
