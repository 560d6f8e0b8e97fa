"""Constants and helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx import AsyncClient
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from {{ cookiecutter.package_name }}.settings import Settings

PASSWORD = "a long test passphrase 42"  # pragma: allowlist secret
WRONG_PASSWORD = "not the right passphrase"  # pragma: allowlist secret
NEW_PASSWORD = "a brand new long passphrase"  # pragma: allowlist secret
SECRET_KEY = "tests-only-signing-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ"  # pragma: allowlist secret
CLIENT_ADDRESS = ("203.0.113.7", 50000)


class IsolatedSettings(Settings):
    """Settings built only from what a test passes: never the developer's environment or .env."""

    model_config = SettingsConfigDict(env_file=None)  # not even parsed

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def log_in(client: AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_answering(url: str, server: subprocess.Popen[bytes], log: Path, timeout_seconds: float) -> None:
    """Poll `url` until it answers 200; fail with the server's log when it exits or takes too long."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited with {server.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the server did not answer within {timeout_seconds} s:\n{log.read_text()}")
