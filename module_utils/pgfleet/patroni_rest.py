"""The one client of Patroni's REST API: verified TLS, the name checked, bounded calls.

- TLS is verified against the project CA (the member's ``restapi.cafile``), a certificate
  is required, and its name is checked (``check_hostname``) against the name the client
  asks for: by default the host of ``restapi.connect_address``, which the server role
  writes into every member's certificate (its address, besides its inventory name and,
  under Patroni, every other member's). ``server_name`` checks another name while
  connecting to the address (a name that is in the certificate but does not resolve).
- The REST credentials come from the member's Patroni configuration file (``from_config``)
  and go only with the unsafe methods (POST, PUT, PATCH, DELETE): never argv, never the
  environment, never a message.
- Every call has a timeout; an agent that does not answer, or whose certificate is refused,
  raises PatroniUnreachable; any HTTP answer (a 503 included) is a Response.
- ``client_cert`` (certificate and key files) presents a client certificate: pgfleet-metrics
  reads the local etcd member's /metrics with the member's own, under the same TLS rules.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
DEFAULT_TIMEOUT = 3.0


class PatroniUnreachable(OSError):
    """No HTTP answer: the connection failed, timed out, or TLS refused the certificate."""


@dataclass(frozen=True)
class Response:
    status: int
    body: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.body) if self.body.strip() else None


def tls_context(cafile: str | None) -> ssl.SSLContext:
    """The project CA only, a certificate required, its name checked, TLS 1.2 or newer."""
    if not cafile:
        raise InputError("restapi.cafile: missing; expected the project CA's file")
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def split_address(address: str, name: str = "restapi.connect_address") -> tuple[str, int]:
    """'10.0.0.11:8008' -> ('10.0.0.11', 8008); '[fd00::1]:8008' -> ('fd00::1', 8008)."""
    text = str(address or "").strip()
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"{name}: {address!r} is not HOST:PORT; expected e.g. 'pg1:8008'")
    return host, int(port)


def basic_auth(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return f"Basic {token}"


def load_config(path: str | Path) -> dict[str, Any]:
    """A member's Patroni configuration file (YAML)."""
    import yaml  # the hosts have python3-yaml (Patroni's own dependency)

    with open(path) as fh:
        conf = yaml.safe_load(fh) or {}
    if not isinstance(conf, dict) or not isinstance(conf.get("restapi"), dict):
        raise InputError(f"{path}: no restapi section; expected a Patroni configuration file")
    return conf


class _Connection(http.client.HTTPSConnection):
    """HTTPS to host:port, the certificate checked against server_name."""

    def __init__(self, host: str, port: int, server_name: str, **kwargs: Any) -> None:
        super().__init__(host, port, **kwargs)
        self._server_name = server_name

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self._server_name)  # type: ignore[attr-defined]


class Client:
    """Patroni's REST API on one member: ``Client.from_config(path).get('cluster')``."""

    def __init__(
        self,
        address: str,
        cafile: str | None,
        *,
        server_name: str | None = None,
        credentials: tuple[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        client_cert: tuple[str, str] | None = None,
    ) -> None:
        self.host, self.port = split_address(address)
        self.server_name = server_name or self.host
        self.context = tls_context(cafile)
        if client_cert:
            self.context.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
        self._credentials = credentials
        self.timeout = float(timeout)

    def __repr__(self) -> str:  # never the credentials
        return f"Client({self.host}:{self.port}, server_name={self.server_name!r})"

    @classmethod
    def from_config(cls, conf: Mapping[str, Any] | str | Path, **kwargs: Any) -> Client:
        """The member's own API, as its configuration describes it: connect_address, the
        CA, and the credentials of the unsafe methods."""
        if not isinstance(conf, Mapping):
            conf = load_config(conf)
        api = conf.get("restapi") or {}
        auth = api.get("authentication") or {}
        credentials = (
            (str(auth["username"]), str(auth["password"]))
            if auth.get("username") and auth.get("password") is not None
            else None
        )
        return cls(
            api.get("connect_address") or api.get("listen") or "",
            api.get("cafile"),
            credentials=credentials,
            **kwargs,
        )

    def headers(self, method: str, has_body: bool) -> dict[str, str]:
        """The request headers; the credentials only with the unsafe methods."""
        out = {"Accept": "application/json"}
        if method in UNSAFE_METHODS and self._credentials:
            out["Authorization"] = basic_auth(*self._credentials)
        if has_body:
            out["Content-Type"] = "application/json"
        return out

    def request(
        self, method: str, path: str, body: Any = None, timeout: float | None = None
    ) -> Response:
        """One request. body: a JSON text (checked before anything is sent) or a value to
        encode. Raises PatroniUnreachable when no HTTP answer comes."""
        method = method.upper()
        if method not in SAFE_METHODS + UNSAFE_METHODS:
            raise InputError(f"method: {method!r}; expected one of {SAFE_METHODS + UNSAFE_METHODS}")
        data = None
        if body is not None:
            if isinstance(body, str):
                try:
                    json.loads(body)
                except ValueError as exc:
                    raise InputError(f"body: not JSON ({exc})") from None
                data = body.encode()
            else:
                data = json.dumps(body).encode()
        conn = _Connection(
            self.host,
            self.port,
            self.server_name,
            timeout=self.timeout if timeout is None else float(timeout),
            context=self.context,
        )
        try:
            conn.request(
                method,
                "/" + path.lstrip("/"),
                body=data,
                headers=self.headers(method, data is not None),
            )
            resp = conn.getresponse()
            return Response(resp.status, resp.read().decode(errors="replace"))
        except (OSError, http.client.HTTPException) as exc:
            raise PatroniUnreachable(f"{self.host}:{self.port}: {exc}") from None
        finally:
            conn.close()

    def get(self, path: str, timeout: float | None = None) -> Response:
        return self.request("GET", path, timeout=timeout)

    def wait(self, path: str, seconds: float, interval: float = 0.2) -> bool:
        """Whether GET path answers 200 within ``seconds`` (an agent that does not answer
        yet is waited for; a refused certificate never passes)."""
        deadline = time.monotonic() + float(seconds)
        while True:
            try:
                if self.get(path, timeout=min(1.0, self.timeout)).status == 200:
                    return True
            except PatroniUnreachable:
                pass
            if time.monotonic() > deadline:
                return False
            time.sleep(interval)

    def cluster(self) -> dict[str, Any]:
        """GET /cluster, parsed (what patronictl list shows)."""
        resp = self.get("cluster")
        if resp.status != 200:
            raise PatroniUnreachable(
                f"{self.host}:{self.port}: GET /cluster answered {resp.status}"
            )
        return resp.json() or {}


def cluster_summary(cluster: Mapping[str, Any]) -> dict[str, Any]:
    """GET /cluster as the topology probe reads it: the leader (or standby leader), each
    member's role, state, timeline and lag, and the paused and failsafe flags."""
    members = [m for m in cluster.get("members") or [] if isinstance(m, Mapping)]
    leaders = [m.get("name") for m in members if m.get("role") in ("leader", "standby_leader")]
    return {
        "leader": leaders[0] if leaders else None,
        "members": {
            m.get("name"): {k: m.get(k) for k in ("role", "state", "timeline", "lag")}
            for m in members
        },
        "paused": bool(cluster.get("pause")),
        "failsafe": cluster.get("failsafe"),
    }
