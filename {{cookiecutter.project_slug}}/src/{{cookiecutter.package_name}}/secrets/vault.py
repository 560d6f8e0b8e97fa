"""Settings from HashiCorp Vault (KV v2), read with hvac when VAULT_ADDR is set.

The secret at `VAULT_MOUNT`/`VAULT_PATH` is a map of setting names (any case) to values, e.g.
`{"database_url": ..., "secret_key": ...}`. Explicit environment variables still win over it;
it wins over `.env`. Authentication is a token (`VAULT_TOKEN`), AppRole (`VAULT_ROLE_ID` +
`VAULT_SECRET_ID`) or Kubernetes (`VAULT_K8S_ROLE` + the service-account token file). Connection
errors are retried a few times with backoff, then start-up stops with one line naming
VAULT_ADDR and the cause: the service never falls back to defaults. No secret value is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from pathlib import Path
from typing import Any

import hvac
import requests
import structlog
from hvac.exceptions import Forbidden, InvalidPath, InvalidRequest, Unauthorized
from hvac.exceptions import VaultError as HvacError
from pydantic import Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

log = structlog.get_logger(__name__)
K8S_TOKEN_PATH = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


class VaultError(RuntimeError):
    """Vault is configured but cannot provide the settings; the message says why, never a secret."""


class VaultConfig(BaseSettings):
    """How to reach Vault: the `VAULT_*` variables (the Vault CLI's names where it has them)."""

    model_config = SettingsConfigDict(env_prefix="VAULT_", env_file=".env", extra="ignore", frozen=True)

    addr: str | None = None
    token: SecretStr | None = None
    role_id: str | None = None
    secret_id: SecretStr | None = None
    k8s_role: str | None = None
    k8s_token_path: Path = K8S_TOKEN_PATH
    mount: str = "secret"
    path: str = "{{ cookiecutter.project_slug }}"
    namespace: str | None = None
    cacert: str | None = None  # CA bundle to verify Vault's certificate
    skip_verify: bool = False  # for local experiments; refused in production
    timeout_seconds: float = Field(default=5.0, gt=0)
    connect_attempts: int = Field(default=3, ge=1)
    connect_backoff_seconds: float = Field(default=0.5, ge=0)
    # The service's ENVIRONMENT, read here so the check below runs before anything is sent to Vault.
    environment: str = Field(default="development", validation_alias="ENVIRONMENT")

    @model_validator(mode="after")
    def _verify_vault_in_production(self) -> VaultConfig:
        if self.skip_verify and self.environment == "production":
            raise ValueError("VAULT_SKIP_VERIFY=true is refused in production: put Vault's CA bundle in VAULT_CACERT")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.addr)


class VaultClient:
    """An authenticated hvac client, with the errors turned into one clear `VaultError` line."""

    def __init__(self, config: VaultConfig) -> None:
        self.config = config
        verify: bool | str = config.cacert or not config.skip_verify
        self.hvac = hvac.Client(
            url=config.addr, namespace=config.namespace, verify=verify, timeout=config.timeout_seconds
        )

    def log_in(self) -> None:
        """Authenticate (retrying connection errors); the token stays inside the client."""
        config = self.config
        if config.token is not None:
            self.hvac.token = config.token.get_secret_value()
            self._call("authenticate with VAULT_TOKEN", self.hvac.auth.token.lookup_self)
        elif config.role_id and config.secret_id is not None:
            secret_id = config.secret_id.get_secret_value()
            self._call("log in with AppRole", self.hvac.auth.approle.login, role_id=config.role_id, secret_id=secret_id)
        elif config.k8s_role:
            jwt = self._service_account_token()
            self._call("log in with Kubernetes", self.hvac.auth.kubernetes.login, role=config.k8s_role, jwt=jwt)
        else:
            raise self._error("no credentials: set VAULT_TOKEN, VAULT_ROLE_ID + VAULT_SECRET_ID, or VAULT_K8S_ROLE")

    def read_settings(self) -> dict[str, Any]:
        """The key/value map at VAULT_MOUNT/VAULT_PATH (latest version)."""
        response = self._call(
            f"read {self.config.mount}/{self.config.path}",
            self.hvac.secrets.kv.v2.read_secret_version,
            path=self.config.path,
            mount_point=self.config.mount,
            raise_on_deleted_version=True,
        )
        data: dict[str, Any] = response["data"]["data"]
        return data

    def token_lease(self) -> tuple[bool, int]:
        """Whether the current token is renewable, and its remaining seconds."""
        data = self._call("look up the token", self.hvac.auth.token.lookup_self)["data"]
        return bool(data.get("renewable")), int(data.get("ttl") or 0)

    def renew_token(self) -> int:
        """Renew the current token; returns its new lease in seconds."""
        auth = self._call("renew the token", self.hvac.auth.token.renew_self)["auth"]
        return int(auth.get("lease_duration") or 0)

    def _call(self, action: str, function: Any, **arguments: Any) -> Any:
        retrying = Retrying(
            stop=stop_after_attempt(self.config.connect_attempts),
            wait=wait_exponential(multiplier=self.config.connect_backoff_seconds, max=5),
            retry=retry_if_exception_type(requests.exceptions.ConnectionError),
            reraise=True,
        )
        try:
            return retrying(function, **arguments)
        except requests.exceptions.RequestException as error:
            raise self._error(f"unreachable while trying to {action} ({type(error).__name__})") from None
        except Forbidden:
            raise self._error(f"permission denied while trying to {action}: check the token's policies") from None
        except InvalidPath:
            raise self._error(f"nothing found while trying to {action}: is the secret written there?") from None
        except (Unauthorized, InvalidRequest):
            raise self._error(f"authentication refused while trying to {action}: check the credentials") from None
        except HvacError as error:
            raise self._error(f"Vault failed while trying to {action} ({type(error).__name__})") from None

    def _service_account_token(self) -> str:
        try:
            return self.config.k8s_token_path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise self._error(
                f"cannot read the service-account token {self.config.k8s_token_path} ({error.strerror})"
            ) from None

    def _error(self, cause: str) -> VaultError:
        return VaultError(f"Vault at VAULT_ADDR={self.config.addr}: {cause}")


@functools.cache
def logged_in_client(config: VaultConfig) -> VaultClient:
    """The process's one authenticated client per configuration: the settings and the app share its login."""
    client = VaultClient(config)
    client.log_in()
    return client


class VaultSettingsSource(PydanticBaseSettingsSource):
    """A pydantic-settings source: the Vault secret's keys that name a settings field."""

    def __init__(self, settings_cls: type[BaseSettings], config: VaultConfig | None = None) -> None:
        super().__init__(settings_cls)
        self.vault = config or VaultConfig()

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Not used: __call__ reads the whole secret in one request rather than one per field.
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if not self.vault.enabled:
            return {}
        client = logged_in_client(self.vault)
        fields = set(self.settings_cls.model_fields)
        values = {key.lower(): value for key, value in client.read_settings().items() if key.lower() in fields}
        log.info("settings_read_from_vault", path=f"{self.vault.mount}/{self.vault.path}", keys=sorted(values))
        return values


class VaultConnection:
    """The app's own Vault session: readiness checks it; renewable tokens are renewed before they expire."""

    def __init__(self, config: VaultConfig) -> None:
        self.config = config
        self._renewal: asyncio.Task[None] | None = None

    @property
    def client(self) -> VaultClient:
        return logged_in_client(self.config)

    async def start(self) -> None:
        # Logs in (blocking I/O, so in a thread) unless reading the settings from this Vault already did.
        await asyncio.to_thread(logged_in_client, self.config)
        renewable, ttl = await asyncio.to_thread(self.client.token_lease)
        if renewable and ttl > 0:
            self._renewal = asyncio.create_task(self._keep_renewed(ttl), name="vault-token-renewal")

    async def ping(self) -> None:
        await asyncio.to_thread(self.client.token_lease)

    async def close(self) -> None:
        if self._renewal is not None:
            self._renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewal

    async def _keep_renewed(self, ttl: int) -> None:
        while True:
            await asyncio.sleep(max(ttl / 2, 1))  # halfway through the lease leaves room for retries
            try:
                ttl = await asyncio.to_thread(self.client.renew_token)
                log.info("vault_token_renewed", lease_seconds=ttl)
            except VaultError as error:
                log.warning("vault_token_renewal_failed", error=str(error))
