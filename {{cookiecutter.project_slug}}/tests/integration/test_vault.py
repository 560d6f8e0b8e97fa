"""Settings from Vault through the real hvac client: against tests/fake_vault.py, or a real Vault.

Set VAULT_TEST_ADDR and VAULT_TEST_TOKEN (a root token, e.g. of `vault server -dev`) to run the
same tests against a real Vault; the CI does, with Vault's dev-mode container. Kubernetes login
and token renewal need the fake (a dev server has no Kubernetes auth and a root token never expires).
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import hvac
import pytest
from httpx import ASGITransport, AsyncClient

from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import (
    Settings,
    SettingsError,
    get_settings,
)

from ..fake_vault import FakeVault
from ..support import CLIENT_ADDRESS

VAULT_SECRET_KEY = "from-vault-" + "v" * 40  # pragma: allowlist secret


class Vault(Protocol):
    url: str
    root_token: str

    def write(self, path: str, data: dict[str, Any]) -> None: ...
    def approle(self) -> tuple[str, str]: ...


class FakeBackend:
    def __init__(self, server: FakeVault) -> None:
        self.server, self.url = server, server.url
        self.root_token = server.state.issue_token()

    def write(self, path: str, data: dict[str, Any]) -> None:
        self.server.state.secrets[("secret", path)] = data

    def approle(self) -> tuple[str, str]:
        role_id, secret_id = str(uuid.uuid4()), str(uuid.uuid4())
        self.server.state.approles[role_id] = secret_id
        return role_id, secret_id


class RealBackend:
    def __init__(self, url: str, root_token: str) -> None:
        self.url, self.root_token = url, root_token
        self.client = hvac.Client(url=url, token=root_token)

    def write(self, path: str, data: dict[str, Any]) -> None:
        self.client.secrets.kv.v2.create_or_update_secret(path=path, secret=data, mount_point="secret")

    def approle(self) -> tuple[str, str]:
        if "approle/" not in self.client.sys.list_auth_methods()["data"]:
            self.client.sys.enable_auth_method("approle")
        self.client.sys.create_or_update_policy("service-read", 'path "secret/data/*" { capabilities = ["read"] }')
        self.client.auth.approle.create_or_update_approle("service", token_policies=["service-read"])
        role_id = self.client.auth.approle.read_role_id("service")["data"]["role_id"]
        secret_id = self.client.auth.approle.generate_secret_id("service")["data"]["secret_id"]
        return role_id, secret_id


@pytest.fixture
def fake() -> Iterator[FakeVault]:
    with FakeVault() as server:
        yield server


@pytest.fixture
def vault(fake: FakeVault) -> Vault:
    if address := os.environ.get("VAULT_TEST_ADDR"):
        return RealBackend(address, os.environ["VAULT_TEST_TOKEN"])
    return FakeBackend(fake)


@pytest.fixture
def vault_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, vault: Vault) -> Callable[..., str]:
    """Point the service at `vault` with a fresh secret path; returns the path. No .env is read."""
    monkeypatch.chdir(tmp_path)
    for name in [name for name in os.environ if name.startswith("VAULT_") and not name.startswith("VAULT_TEST_")]:
        monkeypatch.delenv(name)
    for name in ("SECRET_KEY", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)

    def configure(address: str | None = None, **variables: str) -> str:
        path = f"service-{uuid.uuid4().hex[:8]}"
        monkeypatch.setenv("VAULT_ADDR", address or vault.url)
        monkeypatch.setenv("VAULT_PATH", path)
        monkeypatch.setenv("VAULT_CONNECT_BACKOFF_SECONDS", "0.05")
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return path

    return configure


VAULT_TOTP_KEY = "totp-from-vault-" + "t" * 40
VAULT_EARLIER_KEY = "earlier-from-vault-" + "e" * 40
SECRET = {
    "SECRET_KEY": VAULT_SECRET_KEY,
    "totp_encryption_key": VAULT_TOTP_KEY,
    "secret_key_fallbacks": VAULT_EARLIER_KEY,
    "database_url": "sqlite+aiosqlite:///./from-vault.db",
    "unrelated": "x",
}


def test_settings_are_read_with_a_token(vault: Vault, vault_env: Callable[..., str]) -> None:
    vault.write(vault_env(VAULT_TOKEN=vault.root_token), SECRET)
    settings = get_settings()
    assert settings.verification_keys == [VAULT_SECRET_KEY, VAULT_EARLIER_KEY]
    assert settings.totp_keys == [VAULT_TOTP_KEY]
    assert settings.database_url == "sqlite+aiosqlite:///./from-vault.db"


def test_settings_are_read_with_approle(vault: Vault, vault_env: Callable[..., str]) -> None:
    role_id, secret_id = vault.approle()
    vault.write(vault_env(VAULT_ROLE_ID=role_id, VAULT_SECRET_ID=secret_id), SECRET)
    assert get_settings().signing_key == VAULT_SECRET_KEY


def test_settings_are_read_with_kubernetes_auth(fake: FakeVault, vault_env: Callable[..., str], tmp_path: Path) -> None:
    jwt_file = tmp_path / "token"
    jwt_file.write_text("service-account-jwt\n", encoding="utf-8")
    fake.state.kubernetes_roles["service"] = "service-account-jwt"
    path = vault_env(fake.url, VAULT_K8S_ROLE="service", VAULT_K8S_TOKEN_PATH=str(jwt_file))
    fake.state.secrets[("secret", path)] = SECRET
    assert get_settings().signing_key == VAULT_SECRET_KEY


def test_explicit_environment_variables_win_over_vault(
    vault: Vault, vault_env: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    vault.write(vault_env(VAULT_TOKEN=vault.root_token), SECRET)
    monkeypatch.setenv("SECRET_KEY", "from-the-environment-" + "e" * 30)
    assert get_settings().signing_key == "from-the-environment-" + "e" * 30


@pytest.mark.parametrize(
    ("variables", "cause"),
    [
        ({"VAULT_TOKEN": "hvs.wrong-token"}, "permission denied"),
        ({"VAULT_ROLE_ID": "nobody", "VAULT_SECRET_ID": "wrong"}, "authentication refused"),
        ({}, "no credentials"),
    ],
)
def test_bad_credentials_stop_start_up_with_one_clear_line(
    vault_env: Callable[..., str], variables: dict[str, str], cause: str
) -> None:
    vault_env(**variables)
    with pytest.raises(SettingsError) as raised:
        get_settings()
    message = str(raised.value)
    assert "VAULT_ADDR=" in message
    assert cause in message
    assert "\n" not in message
    assert all(value not in message for value in variables.values())


def test_production_refuses_to_skip_vaults_certificate_check(
    fake: FakeVault, vault_env: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.state.approles["service"] = "approle-secret-id"
    vault_env(fake.url, VAULT_ROLE_ID="service", VAULT_SECRET_ID="approle-secret-id", VAULT_SKIP_VERIFY="true")
    monkeypatch.setenv("ENVIRONMENT", "production")
    with pytest.raises(SettingsError, match="VAULT_SKIP_VERIFY=true is refused in production"):
        get_settings()
    assert fake.state.logins == 0  # refused before the credentials went anywhere


def test_a_missing_secret_stops_start_up(vault: Vault, vault_env: Callable[..., str]) -> None:
    vault_env(VAULT_TOKEN=vault.root_token)
    with pytest.raises(SettingsError, match="nothing found"):
        get_settings()


def test_an_unreachable_vault_stops_start_up_with_one_clear_line(vault_env: Callable[..., str]) -> None:
    vault_env("http://127.0.0.1:1", VAULT_TOKEN="hvs.any", VAULT_CONNECT_ATTEMPTS="2")  # nothing listens there
    with pytest.raises(SettingsError, match=re.escape("VAULT_ADDR=http://127.0.0.1:1: unreachable")):
        get_settings()


async def test_readiness_reports_vault_and_renewable_tokens_are_renewed(
    fake: FakeVault, vault_env: Callable[..., str], settings_factory: Callable[..., Settings]
) -> None:
    token = fake.state.issue_token(renewable=True, ttl=2)
    vault_env(fake.url, VAULT_TOKEN=token)
    app = create_app(settings_factory(vault_addr=fake.url))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app, client=CLIENT_ADDRESS), base_url="http://testserver") as client,
    ):
        assert (await client.get("/health/ready")).json()["checks"]["vault"] == "ok"
        assert await asyncio.to_thread(fake.state.renewed.wait, 5)  # renewed halfway through the 2 s lease
        del fake.state.tokens[token]  # revoked
        response = await client.get("/health/ready")
    # The settings were read at start-up: the service keeps serving, readiness says it is degraded.
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["vault"] == "error"


async def test_the_settings_and_the_app_share_one_login(fake: FakeVault, vault_env: Callable[..., str]) -> None:
    fake.state.approles["service"] = "s3cret-id"
    path = vault_env(fake.url, VAULT_ROLE_ID="service", VAULT_SECRET_ID="s3cret-id")
    fake.state.secrets[("secret", path)] = SECRET
    app = create_app(get_settings())
    async with app.router.lifespan_context(app):
        pass
    assert fake.state.logins == 1
