"""pgfleet.patroni_rest, the one client of Patroni's REST API, against a real HTTPS server on
127.0.0.1: the certificate's name is checked (a name the certificate does not carry is
refused before any request, one it carries works), only the project CA is trusted, the
credentials come from the configuration file and go only with the unsafe methods, and
every call is bounded."""

from __future__ import annotations

import base64
import json
import re
import socket
import ssl
import time
from pathlib import Path

import pytest
import yaml
from tls_server import https_server, make_pki

from pgfleet import patroni_rest
from pgfleet.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "patroni", "rest-api-secret-123"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def server(pki, request):
    with https_server(pki[getattr(request, "param", "good")]) as httpd:
        yield httpd


def _client(server, pki, **kwargs):
    return patroni_rest.Client(f"127.0.0.1:{server.server_address[1]}", str(pki["ca"]), **kwargs)


# ------------------------------------------------------------------ the certificate's name
def test_a_name_the_certificate_carries_is_accepted(server, pki):
    """Connected to the address, checked against the member's name (DNS:pg1)."""
    resp = _client(server, pki, server_name="pg1").get("cluster")
    assert (resp.status, resp.json()) == (200, {"state": "running"})
    assert [s["path"] for s in server.seen] == ["/cluster"]


def test_the_address_the_certificate_carries_is_accepted(server, pki):
    assert _client(server, pki).get("health").ok


def test_a_name_the_certificate_does_not_carry_is_refused_before_any_request(server, pki):
    client = _client(server, pki, server_name="pg2", credentials=(USER, PASSWORD))
    with pytest.raises(patroni_rest.PatroniUnreachable, match=r"pg2|hostname|match"):
        client.request("POST", "restart", "{}")
    assert server.seen == []


@pytest.mark.parametrize("server", ["other_name"], indirect=True)
def test_a_certificate_of_another_member_is_refused(server, pki):
    """Signed by the project CA, but it names pg2 and 127.0.0.2, not the address asked."""
    with pytest.raises(patroni_rest.PatroniUnreachable):
        _client(server, pki).get("cluster")
    assert server.seen == []


@pytest.mark.parametrize("server", ["other_ca"], indirect=True)
def test_a_certificate_from_another_ca_is_refused(server, pki):
    with pytest.raises(patroni_rest.PatroniUnreachable, match="certificate"):
        _client(server, pki).get("cluster")
    assert server.seen == []


def test_the_context_verifies_and_checks_the_name(pki):
    ctx = patroni_rest.tls_context(str(pki["ca"]))
    assert ctx.check_hostname is True
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_no_ca_no_client():
    with pytest.raises(InputError, match=r"restapi\.cafile"):
        patroni_rest.Client("pg1:8008", None)


# ------------------------------------------------------------------ credentials
def _config_file(tmp_path, pki, port):
    path = tmp_path / "patroni.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "pg1",
                "restapi": {
                    "listen": f"127.0.0.1:{port}",
                    "connect_address": f"127.0.0.1:{port}",
                    "cafile": str(pki["ca"]),
                    "authentication": {"username": USER, "password": PASSWORD},
                },
            }
        )
    )
    return path


def test_the_credentials_come_from_the_configuration_and_go_only_with_unsafe_methods(
    server, pki, tmp_path
):
    client = patroni_rest.Client.from_config(_config_file(tmp_path, pki, server.server_address[1]))
    client.get("cluster")
    client.request("PATCH", "/config", {"ttl": 30})
    get, patch = server.seen
    assert "Authorization" not in get["headers"]
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert patch["headers"]["Authorization"] == f"Basic {token}"
    assert (patch["path"], json.loads(patch["body"])) == ("/config", {"ttl": 30})
    assert patch["headers"]["Content-Type"] == "application/json"
    assert PASSWORD not in repr(client)


def test_an_unsafe_method_without_credentials_sends_none(server, pki):
    _client(server, pki).request("POST", "switchover", "{}")
    assert "Authorization" not in server.seen[0]["headers"]


def test_a_configuration_without_restapi_is_refused(tmp_path):
    path = tmp_path / "patroni.yml"
    path.write_text("scope: x\n")
    with pytest.raises(InputError, match="no restapi section"):
        patroni_rest.Client.from_config(path)


# ------------------------------------------------------------------ answers and bounds
def test_a_body_that_is_not_json_is_refused_before_any_request(server, pki):
    with pytest.raises(InputError, match="not JSON"):
        _client(server, pki).request("POST", "switchover", "{nope")
    assert server.seen == []


def test_an_unknown_method_is_refused(server, pki):
    with pytest.raises(InputError, match="method"):
        _client(server, pki).request("TRACE", "cluster")


def test_any_http_answer_is_a_response(server, pki):
    server.reply = (503, '{"state": "stopped"}')
    resp = _client(server, pki).get("primary")
    assert (resp.status, resp.ok, resp.json()) == (503, False, {"state": "stopped"})
    with pytest.raises(patroni_rest.PatroniUnreachable, match="503"):
        _client(server, pki).cluster()


def test_nothing_listening_is_unreachable(pki):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(patroni_rest.PatroniUnreachable):
        patroni_rest.Client(f"127.0.0.1:{port}", str(pki["ca"])).get("cluster")


def test_an_agent_that_never_answers_is_given_up_at_the_timeout(pki):
    """A socket that accepts the connection (backlog) but never speaks TLS."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        client = patroni_rest.Client(f"127.0.0.1:{s.getsockname()[1]}", str(pki["ca"]))
        start = time.monotonic()
        with pytest.raises(patroni_rest.PatroniUnreachable, match="timed out"):
            client.get("cluster", timeout=0.5)
        assert time.monotonic() - start < 3


def test_wait(server, pki):
    assert _client(server, pki).wait("primary", 2) is True
    server.reply = (503, "{}")
    start = time.monotonic()
    assert _client(server, pki).wait("primary", 0.4, interval=0.1) is False
    assert time.monotonic() - start < 3


@pytest.mark.parametrize(
    "address, expected",
    [
        ("10.0.0.11:8008", ("10.0.0.11", 8008)),
        ("pg1:8008", ("pg1", 8008)),
        ("[fd00::11]:8008", ("fd00::11", 8008)),
    ],
)
def test_split_address(address, expected):
    assert patroni_rest.split_address(address) == expected


@pytest.mark.parametrize("address", ["", "pg1", "pg1:http", ":8008", "pg1:0", "pg1:70000"])
def test_a_bad_address_names_the_setting(address):
    with pytest.raises(InputError, match=r"restapi\.connect_address.*HOST:PORT"):
        patroni_rest.split_address(address)


def test_cluster_summary():
    cluster = {
        "members": [
            {"name": "pg2", "role": "replica", "state": "streaming", "timeline": 4, "lag": 0},
            {"name": "pg1", "role": "standby_leader", "state": "running", "timeline": 4},
        ],
        "failsafe": {"pg1": "https://pg1:8008/patroni"},
    }
    out = patroni_rest.cluster_summary(cluster)
    assert out["leader"] == "pg1" and out["paused"] is False
    assert out["members"]["pg1"]["lag"] is None and out["failsafe"] == cluster["failsafe"]
    assert patroni_rest.cluster_summary({}) == {
        "leader": None,
        "members": {},
        "paused": False,
        "failsafe": None,
    }


# ------------------------------------------------------------------ one client
# reach.py is the security scenario's probe of who may reach what: it sends no credentials
# and reads no answer but the status, and deliberately checks no certificate.
_PROBES = {"molecule/shared/files/reach.py"}


def _python_sources():
    for pattern in ("roles/*/files/*", "bench/*.py", "filter_plugins/*.py", "library/*.py"):
        for path in sorted(ROOT.glob(pattern)):
            if not path.is_file() or str(path.relative_to(ROOT)) in _PROBES:
                continue
            text = path.read_text(errors="replace")
            if path.suffix == ".py" or text.startswith("#!/usr/bin/python3"):
                yield path, text


def test_every_patroni_rest_client_is_the_shared_one():
    """No tool, module, filter or benchmark speaks HTTPS to Patroni by itself: one client,
    one set of TLS rules (the project CA, the name checked)."""
    own = re.compile(r"urllib\.request|http\.client|ssl\.create_default_context|check_hostname")
    found = [str(p.relative_to(ROOT)) for p, text in _python_sources() if own.search(text)]
    assert found == []
