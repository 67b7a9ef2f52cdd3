"""roles/patroni/files/patroni-api, the REST API client of the playbooks and the status
report, against a real local TLS server: the request it builds (credentials only on the
unsafe methods), its exit codes, and the certificate checks (the project CA, and the name:
a certificate that does not name the address asked is refused)."""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import ipaddress
import json
import socket
import ssl
import threading
from pathlib import Path

import pytest
import yaml
from conftest import load_script, make_ca
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TOOL = Path(__file__).resolve().parents[2] / "roles/patroni/files/patroni-api"
NOW = dt.datetime.now(dt.UTC)
USER, PASSWORD = "patroni", "rest-api-secret-123"


@pytest.fixture(scope="module")
def tool():
    return load_script("patroni_api_tool", TOOL)


_ca = make_ca


def _leaf(ca_key, ca_cert, names):
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [
        x509.IPAddress(ipaddress.ip_address(n[3:])) if n.startswith("IP:") else x509.DNSName(n[4:])
        for n in names
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "member")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _write(path, key, cert):
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path.with_suffix(".crt"), path.with_suffix(".key")


class _Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.server.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers),
                "body": self.rfile.read(length).decode() if length else None,
            }
        )
        status, body = self.server.reply
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = _answer

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = _ca("Project CA")
    other_key, other_cert = _ca("Another CA")
    (d / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return {
        "ca": d / "ca.crt",
        # The member's own certificate: it names the address the client asks.
        "good": _write(d / "good", *_leaf(ca_key, ca_cert, ["DNS:pg1", "IP:127.0.0.1"])),
        # Signed by the project CA, but for another member (another name and address).
        "other_name": _write(
            d / "other", *_leaf(ca_key, ca_cert, ["DNS:pg2", "DNS:elsewhere", "IP:127.0.0.2"])
        ),
        # The right names, from a CA the client does not trust.
        "other_ca": _write(d / "foreign", *_leaf(other_key, other_cert, ["IP:127.0.0.1"])),
    }


@pytest.fixture
def server(pki, request):
    """A TLS server on 127.0.0.1 with the certificate named by the test's parameter."""
    which = getattr(request, "param", "good")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*pki[which])
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    httpd.seen, httpd.reply = [], (200, '{"state": "running"}')
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


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


def test_the_tls_context_checks_the_name_and_the_ca(tool, pki):
    """The context the tool connects with: the project CA, a certificate required, and
    the name checked (the member's address, which its certificate names)."""
    conf = {"restapi": {"cafile": str(pki["ca"]), "connect_address": "10.0.0.11:8008"}}
    ctx = tool.tls_context(conf)
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname is True
