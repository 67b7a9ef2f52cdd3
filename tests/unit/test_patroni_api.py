"""roles/patroni/files/patroni-api, the REST API client of the playbooks and the status
report, against a real local TLS server: the request it builds (credentials only on the
unsafe methods), its exit codes, and the certificate checks (the project CA, and the name:
a certificate that does not name the address asked is refused)."""

from __future__ import annotations

import base64
import json
import socket
import ssl
from pathlib import Path

import pytest
import yaml
from conftest import load_script
from tls_server import https_server, make_pki

TOOL = Path(__file__).resolve().parents[2] / "roles/patroni/files/patroni-api"
USER, PASSWORD = "patroni", "rest-api-secret-123"


@pytest.fixture(scope="module")
def tool():
    return load_script("patroni_api_tool", TOOL)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def server(pki, request):
    """A TLS server on 127.0.0.1 with the certificate named by the test's parameter."""
    with https_server(pki[getattr(request, "param", "good")]) as httpd:
        yield httpd


def _config(tmp_path, pki, port):
    path = tmp_path / "patroni.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "restapi": {
                    "listen": f"127.0.0.1:{port}",
                    "connect_address": f"127.0.0.1:{port}",
                    "cafile": str(pki["ca"]),
                    "authentication": {"username": USER, "password": PASSWORD},
                }
            }
        )
    )
    return str(path)


def _run(tool, capsys, *argv):
    rc = tool.main(["patroni-api", *argv])
    out = capsys.readouterr().out
    return rc, (json.loads(out) if out.strip() else None)


def test_get_prints_the_status_and_body_without_credentials(tool, server, pki, tmp_path, capsys):
    conf = _config(tmp_path, pki, server.server_address[1])
    rc, out = _run(tool, capsys, conf, "GET", "cluster")
    assert rc == 0
    assert out == {"status": 200, "body": '{"state": "running"}'}
    (seen,) = server.seen
    assert (seen["method"], seen["path"]) == ("GET", "/cluster")
    assert "Authorization" not in seen["headers"]


def test_unsafe_method_sends_the_credentials_and_the_json_body(tool, server, pki, tmp_path, capsys):
    conf = _config(tmp_path, pki, server.server_address[1])
    body = json.dumps({"leader": "pg1", "candidate": "pg2"})
    rc, out = _run(tool, capsys, conf, "POST", "/switchover", body)
    assert rc == 0 and out["status"] == 200
    (seen,) = server.seen
    assert (seen["method"], seen["path"], seen["body"]) == ("POST", "/switchover", body)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert seen["headers"]["Authorization"] == f"Basic {token}"
    assert seen["headers"]["Content-Type"] == "application/json"
    # The password is never printed.
    assert PASSWORD not in json.dumps(out)


def test_a_status_that_is_not_2xx_exits_1(tool, server, pki, tmp_path, capsys):
    server.reply = (503, '{"state": "stopped"}')
    conf = _config(tmp_path, pki, server.server_address[1])
    rc, out = _run(tool, capsys, conf, "GET", "primary")
    assert rc == 1
    assert out == {"status": 503, "body": '{"state": "stopped"}'}


def test_an_agent_that_does_not_answer_exits_2(tool, pki, tmp_path, capsys):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc, out = _run(tool, capsys, _config(tmp_path, pki, port), "GET", "cluster")
    assert rc == 2
    assert out["status"] is None and out["error"]


@pytest.mark.parametrize("server", ["other_name"], indirect=True)
def test_a_certificate_for_another_name_is_refused(tool, server, pki, tmp_path, capsys):
    """Signed by the project CA but naming another member: the hostname check refuses it,
    and nothing reaches the server (no request, no credentials)."""
    conf = _config(tmp_path, pki, server.server_address[1])
    rc, out = _run(tool, capsys, conf, "POST", "restart", "{}")
    assert rc == 2
    assert out["status"] is None
    assert "127.0.0.1" in out["error"] or "hostname" in out["error"].lower()
    assert server.seen == []


@pytest.mark.parametrize("server", ["other_ca"], indirect=True)
def test_a_certificate_from_another_ca_is_refused(tool, server, pki, tmp_path, capsys):
    conf = _config(tmp_path, pki, server.server_address[1])
    rc, out = _run(tool, capsys, conf, "GET", "cluster")
    assert rc == 2 and out["status"] is None
    assert server.seen == []


@pytest.mark.parametrize("server", ["other_name"], indirect=True)
def test_wait_never_accepts_a_certificate_for_another_name(tool, server, pki, tmp_path, capsys):
    conf = _config(tmp_path, pki, server.server_address[1])
    assert tool.main(["patroni-api", conf, "wait", "primary", "0.5"]) == 1
    assert server.seen == []


def test_wait_returns_0_once_the_path_answers_200(tool, server, pki, tmp_path, capsys):
    conf = _config(tmp_path, pki, server.server_address[1])
    assert tool.main(["patroni-api", conf, "wait", "primary", "2"]) == 0


def test_wait_returns_1_when_the_path_never_answers_200(tool, server, pki, tmp_path, capsys):
    server.reply = (503, "{}")
    conf = _config(tmp_path, pki, server.server_address[1])
    assert tool.main(["patroni-api", conf, "wait", "primary", "0.5"]) == 1


def test_a_body_that_is_not_json_is_refused_before_any_request(tool, server, pki, tmp_path, capsys):
    conf = _config(tmp_path, pki, server.server_address[1])
    rc = tool.main(["patroni-api", conf, "PATCH", "config", "{not json"])
    assert rc == 2
    assert server.seen == []


def test_too_few_arguments_print_the_usage(tool, capsys):
    assert tool.main(["patroni-api", "conf.yml"]) == 2
    assert "patroni-api CONFIG GET PATH" in capsys.readouterr().err


def test_the_tool_connects_with_the_shared_client_checking_the_name_and_the_ca(tool, pki):
    """The client the tool builds from the member's configuration: the project CA, a
    certificate required, the name checked (the member's address, which its certificate
    names), and the credentials kept out of its repr."""
    conf = {
        "restapi": {
            "cafile": str(pki["ca"]),
            "connect_address": "10.0.0.11:8008",
            "authentication": {"username": USER, "password": PASSWORD},
        }
    }
    client = tool.patroni_rest.Client.from_config(conf)
    assert client.context.verify_mode == ssl.CERT_REQUIRED
    assert client.context.check_hostname is True
    assert (client.host, client.port, client.server_name) == ("10.0.0.11", 8008, "10.0.0.11")
    assert PASSWORD not in repr(client)


def test_summary_prints_the_leader_and_the_members(tool, server, pki, tmp_path, capsys):
    server.reply = (
        200,
        json.dumps(
            {
                "members": [
                    {"name": "pg1", "role": "leader", "state": "running", "timeline": 3},
                    {
                        "name": "pg2",
                        "role": "replica",
                        "state": "streaming",
                        "timeline": 3,
                        "lag": 0,
                    },
                ],
                "pause": True,
            }
        ),
    )
    conf = _config(tmp_path, pki, server.server_address[1])
    assert tool.main(["patroni-api", conf, "summary"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["leader"] == "pg1" and out["paused"] is True and out["failsafe"] is None
    assert out["members"]["pg2"] == {
        "role": "replica",
        "state": "streaming",
        "timeline": 3,
        "lag": 0,
    }
    assert [s["path"] for s in server.seen] == ["/cluster"]
