"""A small stand-in for Vault's HTTP API, enough for the service's Vault module and the real hvac client.

No Vault server can be installed on every developer machine, so the tests run hvac against this
on 127.0.0.1: KV v2 reads, AppRole and Kubernetes logins, token lookup and renewal, with Vault's
response shapes and its 400/403/404 error bodies (`{"errors": [...]}`).
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class VaultState:
    secrets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (mount, path) -> data
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # token -> {"renewable", "ttl"}
    approles: dict[str, str] = field(default_factory=dict)  # role_id -> secret_id
    kubernetes_roles: dict[str, str] = field(default_factory=dict)  # role -> service-account JWT
    renewed: threading.Event = field(default_factory=threading.Event)
    logins: int = 0  # successful AppRole and Kubernetes logins

    def issue_token(self, *, renewable: bool = False, ttl: int = 0) -> str:
        token = "hvs." + secrets.token_urlsafe(24)
        self.tokens[token] = {"renewable": renewable, "ttl": ttl}
        return token


class FakeVault(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _VaultHandler)
        self.state = VaultState()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> FakeVault:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.shutdown()
        self.server_close()


class _VaultHandler(BaseHTTPRequestHandler):
    server: FakeVault

    def do_GET(self) -> None:
        if self.path == "/v1/auth/token/lookup-self":
            self._with_token(
                lambda token: self._reply(200, {"data": {**self.server.state.tokens[token], "id": "[hidden]"}})
            )
            return
        mount, _, rest = self.path.removeprefix("/v1/").partition("/data/")
        self._with_token(lambda _token: self._read_secret(mount, rest.split("?")[0]))

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        state = self.server.state
        if self.path == "/v1/auth/approle/login":
            valid = state.approles.get(body.get("role_id")) == body.get("secret_id")
            self._login(valid, "invalid role or secret ID")
        elif self.path == "/v1/auth/kubernetes/login":
            valid = state.kubernetes_roles.get(body.get("role")) == body.get("jwt")
            self._login(valid, "permission denied")
        elif self.path == "/v1/auth/token/renew-self":
            self._with_token(self._renew)
        else:
            self._reply(404, {"errors": []})

    def _read_secret(self, mount: str, path: str) -> None:
        data = self.server.state.secrets.get((mount, path))
        if data is None:
            self._reply(404, {"errors": []})
            return
        metadata = {"created_time": "2026-01-01T00:00:00Z", "deletion_time": "", "destroyed": False, "version": 1}
        self._reply(
            200, {"lease_id": "", "renewable": False, "lease_duration": 0, "data": {"data": data, "metadata": metadata}}
        )

    def _login(self, valid: bool, refusal: str) -> None:
        if not valid:
            self._reply(400, {"errors": [refusal]})
            return
        self.server.state.logins += 1
        token = self.server.state.issue_token(renewable=True, ttl=3600)
        auth = {"client_token": token, "policies": ["default"], "lease_duration": 3600, "renewable": True}
        self._reply(200, {"auth": auth})

    def _renew(self, token: str) -> None:
        self.server.state.renewed.set()
        self._reply(200, {"auth": {"client_token": token, "lease_duration": self.server.state.tokens[token]["ttl"]}})

    def _with_token(self, then: Any) -> None:
        token = self.headers.get("X-Vault-Token", "")
        if token not in self.server.state.tokens:
            self._reply(403, {"errors": ["permission denied"]})
            return
        then(token)

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: Any) -> None:
        pass  # quiet
