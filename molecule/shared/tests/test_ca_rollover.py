"""Clients that verify the servers' certificates against one CA file, during and after a
rotation of the project CA (rotate.yml -e rotate=tls_ca).

Run by the CA rotation fault from the controller, once while the rotation is open
(PGFLEET_PHASE=open: a client holding only the old CA file and one holding only the new CA
file are both let in everywhere) and once after the finish (PGFLEET_PHASE=finished: only
the new CA file verifies; the old one is refused at the TLS handshake, before any password
is read).

Environment:
- PGFLEET_PG: comma-separated host:port of every PostgreSQL-protocol endpoint (PostgreSQL,
  PgBouncer, HAProxy's);
- PGFLEET_TLS: comma-separated host:port of every plain TLS endpoint (Patroni's REST API,
  the exporters);
- PGFLEET_LOGIN: host:port where a libpq client logs in with sslmode=verify-full, as
  PGFLEET_USER with the password in PGFLEET_PASSWORD_FILE, to database PGFLEET_DB;
- PGFLEET_CA_OLD, PGFLEET_CA_NEW: the old and the new CA file.
"""

from __future__ import annotations

import os
import socket
import ssl
import struct
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest

PHASE = os.environ.get("PGFLEET_PHASE", "")
pytestmark = pytest.mark.skipif(not PHASE, reason="needs a lab with a CA rotation (PGFLEET_PHASE)")

SSL_REQUEST = struct.pack("!ii", 8, 80877103)  # PostgreSQL's SSLRequest


def endpoints(name: str) -> list[str]:
    return [e for e in os.environ.get(name, "").split(",") if e]


def ca_file(which: str) -> str:
    return os.environ[f"PGFLEET_CA_{which.upper()}"]


def expected(which: str) -> bool:
    """Whether a client holding only this CA file is let in, in this phase."""
    return which == "new" or PHASE == "open"


def handshake(endpoint: str, cafile: str, postgres: bool) -> None:
    """A TLS handshake that verifies the chain and the address, as verify-full does."""
    host, port = endpoint.rsplit(":", 1)
    context = ssl.create_default_context(cafile=cafile)
    with closing(socket.create_connection((host, int(port)), timeout=10)) as raw:
        if postgres:
            raw.sendall(SSL_REQUEST)
            assert raw.recv(1) == b"S", f"{endpoint} does not offer TLS"
        with context.wrap_socket(raw, server_hostname=host) as tls:
            assert tls.version()


def check(endpoint: str, which: str, postgres: bool) -> None:
    if expected(which):
        handshake(endpoint, ca_file(which), postgres)
    else:
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            handshake(endpoint, ca_file(which), postgres)


@pytest.mark.parametrize("which", ["old", "new"])
@pytest.mark.parametrize("endpoint", endpoints("PGFLEET_PG"))
def test_postgresql_protocol_endpoints(endpoint, which):
    check(endpoint, which, postgres=True)


@pytest.mark.parametrize("which", ["old", "new"])
@pytest.mark.parametrize("endpoint", endpoints("PGFLEET_TLS"))
def test_plain_tls_endpoints(endpoint, which):
    check(endpoint, which, postgres=False)


def login(which: str):
    host, port = os.environ["PGFLEET_LOGIN"].rsplit(":", 1)
    return psycopg2.connect(
        host=host,
        port=int(port),
        user=os.environ["PGFLEET_USER"],
        password=Path(os.environ["PGFLEET_PASSWORD_FILE"]).read_text().strip(),
        dbname=os.environ["PGFLEET_DB"],
        sslmode="verify-full",
        sslrootcert=ca_file(which),
        connect_timeout=10,
        application_name="pgfleet-verify-ca-rotation",
    )


@pytest.mark.parametrize("which", ["old", "new"])
def test_a_libpq_verify_full_login(which):
    if expected(which):
        with closing(login(which)) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    else:
        with pytest.raises(psycopg2.OperationalError, match="certificate verify failed"):
            login(which).close()


def test_every_endpoint_is_named():
    assert endpoints("PGFLEET_PG") and os.environ.get("PGFLEET_LOGIN")
