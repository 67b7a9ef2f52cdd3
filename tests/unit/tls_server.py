"""A real HTTPS server on 127.0.0.1 for the tests of Patroni's REST client: certificates
from a CA made here (conftest.make_ca), a handler that records each request and answers
with a set status and body."""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import ssl
import threading
from contextlib import contextmanager
from pathlib import Path

from conftest import make_ca
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def make_leaf(ca_key, ca_cert, names):
    """A server certificate signed by the CA for names like 'DNS:pg1' and 'IP:127.0.0.1'."""
    now = dt.datetime.now(dt.UTC)
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
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def write_pair(path: Path, key, cert) -> tuple[Path, Path]:
    """path.crt and path.key (PEM); returns both paths."""
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path.with_suffix(".crt"), path.with_suffix(".key")


def make_pki(directory: Path) -> dict:
    """The project CA (ca.crt) and three server certificates: 'good' names pg1 and
    127.0.0.1; 'other_name' is from the same CA for another member (pg2, 127.0.0.2);
    'other_ca' names 127.0.0.1 but comes from a CA the client does not trust."""
    ca_key, ca_cert = make_ca("Project CA")
    other_key, other_cert = make_ca("Another CA")
    (directory / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return {
        "ca": directory / "ca.crt",
        "good": write_pair(
            directory / "good", *make_leaf(ca_key, ca_cert, ["DNS:pg1", "IP:127.0.0.1"])
        ),
        "other_name": write_pair(
            directory / "other",
            *make_leaf(ca_key, ca_cert, ["DNS:pg2", "DNS:elsewhere", "IP:127.0.0.2"]),
        ),
        "other_ca": write_pair(
            directory / "foreign", *make_leaf(other_key, other_cert, ["IP:127.0.0.1"])
        ),
    }


class Handler(http.server.BaseHTTPRequestHandler):
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

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

    def log_message(self, *args):
        pass


@contextmanager
def https_server(cert_pair):
    """A threaded HTTPS server on 127.0.0.1 with (crt, key); .seen lists the requests,
    .reply is the (status, body) it answers."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*cert_pair)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    httpd.seen, httpd.reply = [], (200, '{"state": "running"}')
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
