"""Settings validation: development conveniences, production refusals, one clear error message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.settings import SettingsError, get_settings

from ..support import PUBLIC_ADDRESSES, SECRET_KEY, TOTP_ENCRYPTION_KEY, IsolatedSettings

POSTGRES_URL = "postgresql+asyncpg://app@db.internal:5432/app"
EARLIER_KEY = "an-earlier-key-0123456789-abcdefghijklmnopqrstuvwxyz"  # pragma: allowlist secret
OLDEST_KEY = "the-oldest-key-0123456789-abcdefghijklmnopqrstuvwxyz"  # pragma: allowlist secret
# What every production configuration needs besides its secret key and database.
PRODUCTION: dict[str, Any] = {
    "environment": "production",
    "email_backend": "smtp",
    "totp_encryption_key": TOTP_ENCRYPTION_KEY,
    **PUBLIC_ADDRESSES,
}


def test_development_defaults_run_without_configuration() -> None:
    settings = IsolatedSettings()
    assert settings.environment == "development"
    assert settings.is_sqlite
    assert settings.effective_log_format == "console"
    assert settings.max_body_bytes == 1024 * 1024
    assert len(settings.signing_key) >= 32  # a random per-process key


def test_a_configured_secret_key_is_used() -> None:
    assert IsolatedSettings(secret_key=SECRET_KEY).signing_key == SECRET_KEY


def test_cors_origins_accept_a_comma_separated_list() -> None:
    settings = IsolatedSettings(cors_origins="https://a.example, https://b.example,")
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_log_level_is_case_insensitive() -> None:
    assert IsolatedSettings(log_level="debug").log_level == "DEBUG"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("login_rate_limit", "ten per minute"),
        ("database_url", "not a url"),
        ("max_body_bytes", 0),
        ("audit_retention_days", 800_000),  # the purge's cutoff would be before year 1
{%- if cookiecutter.use_celery %}
        ("export_rate_limit", "three an hour"),
        ("export_max_items", 0),
{%- endif %}
    ],
)
def test_malformed_values_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        IsolatedSettings(**{field: value})


@pytest.mark.parametrize(
    ("given", "used"),
    [
        (
            "postgres://app:p%40ss@db/app?ssl=require",  # pragma: allowlist secret
            "postgresql+asyncpg://app:p%40ss@db/app?ssl=require",  # pragma: allowlist secret
        ),
        ("postgresql://app@db.internal/app", "postgresql+asyncpg://app@db.internal/app"),
        (POSTGRES_URL, POSTGRES_URL),
        ("postgres://app@db/app?sslmode=require", "postgresql+asyncpg://app@db/app?ssl=require"),
        ("sqlite:///./app.db", "sqlite+aiosqlite:///./app.db"),
    ],
)
def test_database_urls_from_hosting_platforms_get_the_async_driver(given: str, used: str) -> None:
    assert IsolatedSettings(database_url=given).database_url == used


@pytest.mark.parametrize(("url", "sizes"), [("sqlite+aiosqlite:///./app.db", (2, 0)), (POSTGRES_URL, (20, 10))])
def test_the_pool_takes_its_database_s_sizes_unless_they_are_set(url: str, sizes: tuple[int, int]) -> None:
    assert IsolatedSettings(database_url=url).database_pool == sizes
    configured = IsolatedSettings(database_url=url, database_pool_size=5, database_max_overflow=3)
    assert configured.database_pool == (5, 3)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            "postgresql+psycopg2://app:hunter2@db/app",  # pragma: allowlist secret
            "driver 'psycopg2' is not installed: use postgresql+asyncpg://",
        ),
        ("mysql://app:hunter2@db/app", "unsupported database 'mysql'"),  # pragma: allowlist secret
        ("postgresql://app@db/app?password=hunter2", "the password goes before the host"),
        ("sqlite+aiosqlite:///:memory:", "an in-memory SQLite database lives as long as one connection"),
        ("sqlite://", "an in-memory SQLite database lives as long as one connection"),
    ],
)
def test_urls_the_service_cannot_use_are_refused_without_echoing_them(url: str, problem: str) -> None:
    with pytest.raises(ValidationError) as raised:
        IsolatedSettings(database_url=url)
    assert problem in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_production_accepts_a_strong_key_and_postgresql() -> None:
    settings = IsolatedSettings(**PRODUCTION, secret_key=SECRET_KEY, database_url=POSTGRES_URL)
    assert settings.is_production
    assert settings.effective_log_format == "json"


@pytest.mark.parametrize(
    ("secret_key", "problem"),
    [
        (None, "SECRET_KEY is missing"),
        ("", "SECRET_KEY is missing"),
        ("change-me", "well-known placeholder"),
        ("short-but-random-Xy7", "SECRET_KEY is weak"),
        ("a" * 64, "SECRET_KEY is weak"),
    ],
)
def test_production_refuses_weak_or_default_secret_keys(secret_key: str | None, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        IsolatedSettings(**PRODUCTION, secret_key=secret_key, database_url=POSTGRES_URL)


@pytest.mark.parametrize(("key", "problem"), [(None, "TOTP_ENCRYPTION_KEY is missing"), ("change-me", "placeholder")])
def test_production_refuses_a_missing_or_weak_totp_encryption_key(key: str | None, problem: str) -> None:
    settings = {**PRODUCTION, "totp_encryption_key": key}
    with pytest.raises(ValidationError, match=problem):
        IsolatedSettings(**settings, secret_key=SECRET_KEY, database_url=POSTGRES_URL)


def test_outside_production_the_totp_key_is_derived_from_the_signing_key() -> None:
    assert IsolatedSettings(secret_key=SECRET_KEY).totp_keys == [SECRET_KEY]
    assert IsolatedSettings(totp_encryption_key=TOTP_ENCRYPTION_KEY).totp_keys == [TOTP_ENCRYPTION_KEY]


def test_earlier_keys_are_read_comma_separated_after_the_current_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", f"{EARLIER_KEY}, {OLDEST_KEY}")
    monkeypatch.setenv("TOTP_ENCRYPTION_KEY", TOTP_ENCRYPTION_KEY)
    monkeypatch.setenv("TOTP_ENCRYPTION_KEY_FALLBACKS", EARLIER_KEY)
    settings = get_settings()
    assert settings.verification_keys == [SECRET_KEY, EARLIER_KEY, OLDEST_KEY]
    assert settings.totp_keys == [TOTP_ENCRYPTION_KEY, EARLIER_KEY]
{%- if cookiecutter.use_sentry %}
    assert {EARLIER_KEY, OLDEST_KEY} <= settings.secret_values()  # scrubbed from error reports
{%- endif %}
    assert EARLIER_KEY not in repr(settings)


@pytest.mark.parametrize("field", ["secret_key_fallbacks", "totp_encryption_key_fallbacks"])
def test_production_refuses_a_weak_earlier_key(field: str) -> None:
    settings = {**PRODUCTION, field: [EARLIER_KEY, "change-me"]}
    with pytest.raises(ValidationError, match=f"{field.upper()} key 2 is a well-known placeholder"):
        IsolatedSettings(**settings, secret_key=SECRET_KEY, database_url=POSTGRES_URL)


def test_production_refuses_sqlite_unless_allowed() -> None:
    with pytest.raises(ValidationError, match="ALLOW_SQLITE_IN_PRODUCTION"):
        IsolatedSettings(**PRODUCTION, secret_key=SECRET_KEY)
    allowed = IsolatedSettings(**PRODUCTION, secret_key=SECRET_KEY, allow_sqlite_in_production=True)
    assert allowed.is_sqlite


def test_production_refuses_the_console_mail_backend() -> None:
    with pytest.raises(ValidationError, match="EMAIL_BACKEND=console writes links with tokens to the log"):
        IsolatedSettings(environment="production", secret_key=SECRET_KEY, database_url=POSTGRES_URL)


def test_production_refuses_to_send_the_smtp_password_in_clear_text() -> None:
    production: dict[str, Any] = {**PRODUCTION, "secret_key": SECRET_KEY, "database_url": POSTGRES_URL}
    with pytest.raises(ValidationError, match="SMTP_SECURITY=none would send SMTP_PASSWORD in clear text"):
        IsolatedSettings(**production, smtp_security="none", smtp_password="relay-password")  # pragma: allowlist secret
    assert IsolatedSettings(**production, smtp_security="none").smtp_password is None  # a relay without a login


@pytest.mark.parametrize("sender", ["not an address", "a@example.com, b@example.com", "x@", "", "Orders <orders>"])
def test_email_from_must_be_one_address(sender: str) -> None:
    with pytest.raises(ValidationError, match="EMAIL_FROM must be one address"):
        IsolatedSettings(email_from=sender)


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("postgresql://app:Sek@r1t@db.internal/app", "r1t"),  # pragma: allowlist secret
        # What follows the ":" reads as the port: int() of it fails, and its message would show it.
        (
            "postgresql+asyncpg://app:Pa@ss:SentinelDbPass91x@127.0.0.1/app",  # pragma: allowlist secret
            "SentinelDbPass91x",
        ),
    ],
)
def test_a_database_password_with_a_bare_at_sign_is_refused_without_showing_it(url: str, secret: str) -> None:
    with pytest.raises(ValidationError) as refused:
        IsolatedSettings(database_url=url)
    assert "percent-encode" in str(refused.value)
    assert secret not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://db.example.com:5432x/app",
        "postgresql+asyncpg://app:Sentinel91x@db.example.com:/app",  # pragma: allowlist secret
        "postgresql+asyncpg://app:Sentinel91x@db.example.com:54 32/app",  # pragma: allowlist secret
    ],
)
def test_a_port_that_is_no_number_is_named_as_the_problem(url: str) -> None:
    with pytest.raises(ValidationError) as refused:
        IsolatedSettings(database_url=url)
    assert "the port after the host must be a number" in str(refused.value)
    assert "Sentinel91x" not in str(refused.value)


@pytest.mark.parametrize(
    ("setting", "url", "problem"),
    [
        ("redis_url", "cache:6379", "not a Redis URL"),
        ("redis_url", "redis://:Sentinel91x@cache:63x9/0", "not a Redis URL"),  # pragma: allowlist secret
        ("redis_url", "redis://:Sentinel91x@cache:6379/x", "the database after the host must be a number"),
{%- if cookiecutter.use_celery %}
        ("celery_broker_url", "cache", "not a URL"),
        ("celery_broker_url", "reddis://cache:6379/1", "No such transport: reddis"),
        ("celery_broker_url", "redis://:Sentinel91x@cache:6379/x", "the database after the host must be a number"),
        ("celery_broker_url", "redis://r1:6379/1;redis://:Sentinel91x@r2:6379/x", "must be a number"),
        ("celery_result_backend", "reddis://cache:6379/2", "not a result backend Celery can load"),
        ("celery_result_backend", "redis://:Sentinel91x@cache:6379/x", "the database after the host must be a number"),
{%- endif %}
    ],
)
def test_urls_their_clients_would_refuse_stop_the_start(setting: str, url: str, problem: str) -> None:
    overrides: dict[str, Any] = {setting: url}
    with pytest.raises(ValidationError) as refused:
        IsolatedSettings(**overrides)
    assert problem in str(refused.value)
    assert "Sentinel91x" not in str(refused.value)


@pytest.mark.parametrize(
    ("setting", "url"),
    [
        ("redis_url", "redis://:secret@cache:6379/0"),  # pragma: allowlist secret
        ("redis_url", "rediss://cache"),
        ("redis_url", "unix:///run/redis.sock?db=2"),
{%- if cookiecutter.use_celery %}
        ("celery_broker_url", "sqla+sqlite:///./celery-broker.db"),
        ("celery_broker_url", "amqp://guest@rabbit:5672//"),
        ("celery_broker_url", "redis://r1:6379/1;redis://r2:6379/1"),
        ("celery_result_backend", "db+postgresql://app@db/app"),
        ("celery_result_backend", "rediss://cache:6379/2"),
{%- endif %}
    ],
)
def test_urls_their_clients_take_are_accepted(setting: str, url: str) -> None:
    overrides: dict[str, Any] = {setting: url}
    assert getattr(IsolatedSettings(**overrides), setting) == url


def test_the_repr_hides_the_passwords_of_every_url() -> None:
    settings = IsolatedSettings(
        database_url="postgresql+asyncpg://app:Db%40Secret91x@db.internal/app",  # pragma: allowlist secret
        redis_url="redis://:Pa@ss:SentinelRedisPass91x@127.0.0.1:6379/0",
{%- if cookiecutter.use_celery %}
        # kombu's failover list, the second with redis-py's query form of the password
        celery_broker_url="redis://:BrokerSecret91x@r1:6379/1;redis://r2:6379/1?password=QuerySecret91x",
        celery_result_backend="redis://:ResultSecret91x@redis.internal:6379/2",
{%- endif %}
        smtp_password="SmtpSecret91x",  # pragma: allowlist secret
    )
    shown = repr(settings) + str(settings)
    assert "postgresql+asyncpg://app:**********@db.internal/app" in shown
    for secret in ("Db%40Secret91x", "Db@Secret91x", "SentinelRedisPass91x", "SmtpSecret91x"):
        assert secret not in shown
{%- if cookiecutter.use_celery %}
    assert "BrokerSecret91x" not in shown
    assert "QuerySecret91x" not in shown
    assert "ResultSecret91x" not in shown
{%- endif %}


def test_production_refuses_the_public_addresses_left_at_their_defaults() -> None:
    production = {**PRODUCTION, "secret_key": SECRET_KEY, "database_url": POSTGRES_URL}
    del production["public_base_url"], production["email_from"]
    with pytest.raises(ValidationError) as refused:
        IsolatedSettings(**production)
    assert "PUBLIC_BASE_URL is not set" in str(refused.value)
    assert "EMAIL_FROM is not set" in str(refused.value)


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://orders.example", True),
        ("http://127.0.0.1:8000", True),  # a local stack such as compose
        ("http://localhost:8000/ui", True),
        ("http://orders.example", False),  # the links carry tokens
    ],
)
def test_production_wants_https_links_beyond_this_machine(url: str, accepted: bool) -> None:
    production = {**PRODUCTION, "secret_key": SECRET_KEY, "database_url": POSTGRES_URL, "public_base_url": url}
    if accepted:
        assert IsolatedSettings(**production).public_base_url == url
    else:
        with pytest.raises(ValidationError, match="PUBLIC_BASE_URL must start with https://"):
            IsolatedSettings(**production)


@pytest.mark.parametrize("url", ["orders.example", "ftp://orders.example", "https://", "https://orders.example/?a=1"])
def test_public_base_url_must_be_an_http_address(url: str) -> None:
    with pytest.raises(ValidationError, match="PUBLIC_BASE_URL must be an address"):
        IsolatedSettings(public_base_url=url)


def test_mail_works_out_of_the_box_by_writing_messages_to_the_log() -> None:
    assert IsolatedSettings().email_from.endswith("<noreply@localhost>")
    assert IsolatedSettings().email_backend == "console"


def test_the_public_base_url_loses_its_trailing_slash() -> None:
    # Links append their own path: no "//" in them.
    assert IsolatedSettings(public_base_url="https://orders.example/").public_base_url == "https://orders.example"


def test_get_settings_reads_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("\n".join(["MAX_BODY_BYTES=2048", "LOG_LEVEL=WARNING"]), encoding="utf-8")
    monkeypatch.setenv("LOG_LEVEL", "ERROR")  # the environment wins over .env
    settings = get_settings()
    assert (settings.max_body_bytes, settings.log_level) == (2048, "ERROR")


def test_get_settings_explains_every_problem(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "change-me")
    monkeypatch.setenv("PORT", "not-a-port")
    with pytest.raises(SettingsError) as raised:
        get_settings()
    message = str(raised.value)
    assert message.startswith("invalid settings:")
    assert "PORT:" in message
