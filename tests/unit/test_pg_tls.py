"""pg_tls_cert_problem: says why a certificate must be re-issued, '' when it is fine."""

import datetime as dt

import pytest
from ansible.errors import AnsibleFilterError
from conftest import make_ca
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pg_tls import FilterModule, pg_tls_cert_problem, pg_tls_names

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


_ca = make_ca


def _server(ca_key, ca_cert, days=397, dns=("pg1",), ips=("10.0.0.5",)):
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(__import__("ipaddress").ip_address(i)) for i in ips]
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pg1")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


CA_KEY, CA = _ca()
NAMES = ["DNS:pg1", "IP:10.0.0.5"]


def test_valid_certificate_is_fine():
    cert = _server(CA_KEY, CA)
    assert pg_tls_cert_problem(_pem(cert), _pem(CA), NAMES, now=NOW) == ""


@pytest.mark.parametrize("missing", [None, "", "cat: server.crt: No such file"])
def test_missing_certificate(missing):
    assert pg_tls_cert_problem(missing, _pem(CA), NAMES, now=NOW) == "no certificate installed"


def test_expiring_soon():
    cert = _server(CA_KEY, CA, days=10)
    assert pg_tls_cert_problem(_pem(cert), _pem(CA), NAMES, now=NOW) == (
        "expires in 10 days (renewed below 30)"
    )


def test_expired():
    cert = _server(CA_KEY, CA, days=10)
    later = NOW + dt.timedelta(days=40)
    assert pg_tls_cert_problem(_pem(cert), _pem(CA), NAMES, now=later).startswith("expires in 0")


def test_other_ca_same_name_fails_signature():
    other_key, other = _ca("Test CA")
    cert = _server(other_key, other)
    assert "signature does not verify" in pg_tls_cert_problem(_pem(cert), _pem(CA), NAMES, now=NOW)


def test_other_ca_name():
    other_key, other = _ca("Someone else")
    cert = _server(other_key, other)
    assert pg_tls_cert_problem(_pem(cert), _pem(CA), NAMES, now=NOW) == (
        "not issued by the project CA"
    )


def test_names_differ():
    cert = _server(CA_KEY, CA, dns=("pg1",), ips=())
    problem = pg_tls_cert_problem(_pem(cert), _pem(CA), NAMES, now=NOW)
    assert problem.startswith("names differ")
    assert "IP:10.0.0.5" in problem


@pytest.mark.parametrize("names", ["DNS:pg1", ["pg1"], [1]])
def test_bad_names_argument(names):
    with pytest.raises(AnsibleFilterError, match="names must be a list"):
        pg_tls_cert_problem(None, _pem(CA), names)


def test_garbage_certificate():
    with pytest.raises(AnsibleFilterError, match="not a PEM certificate"):
        pg_tls_cert_problem(
            "-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----", _pem(CA), NAMES
        )


def test_ip_name_that_is_not_an_address_is_an_error_naming_it():
    cert = _server(CA_KEY, CA)
    with pytest.raises(AnsibleFilterError, match=r"postgresql_server_tls: 'IP:db\.example\.com'"):
        pg_tls_cert_problem(
            _pem(cert),
            _pem(CA),
            [*NAMES, "IP:db.example.com"],
            now=NOW,
            name="postgresql_server_tls",
        )


@pytest.mark.parametrize(
    "names",
    [
        [],
        ["DNS:db.example.com"],
        ["DNS:pg1", "DNS:DB-1.Example.COM", "DNS:*.db.example.com"],
        ["IP:203.0.113.10", "IP:10.0.0.5"],
        ["IP:2001:db8::1", "IP:::1", "IP:2001:0db8:0000:0000:0000:0000:0000:0001"],
        ["DNS:" + "a" * 63 + ".example.com"],
        ["DNS:xn--bcher-kva.example"],
    ],
)
def test_names_valid(names):
    assert pg_tls_names(names) == names


def test_names_none_is_empty():
    assert pg_tls_names(None) == []


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (
            ["IP:db.example.com"],
            "[0]: 'IP:db.example.com' is not an IP address after 'IP:' (a host",
        ),
        (["DNS:pg1", "IP:10.0.0.300"], "[1]: 'IP:10.0.0.300' is not an IP address"),
        (["IP:fe80::1%eth0"], "[0]: 'IP:fe80::1%eth0' is not an IP address"),
        (["IP:"], "[0]: 'IP:' is not an IP address"),
        (["IP: 10.0.0.5"], "is not an IP address"),
        (["DNS:10.0.0.5"], "[0]: 'DNS:10.0.0.5' is an IP address; write it as 'IP:10.0.0.5'"),
        (["DNS:2001:db8::1"], "is an IP address"),
        (["DNS:"], "has no host name after 'DNS:'"),
        (["DNS:db_1.example.com"], "is not a host name"),
        (["DNS:-db.example.com"], "is not a host name"),
        (["DNS:db..example.com"], "is not a host name"),
        (["DNS:db.example.com."], "is not a host name"),
        (["DNS:db example.com"], "is not a host name"),
        (["DNS:" + "a" * 64 + ".example.com"], "is not a host name"),
        (["DNS:" + ".".join(["abcdefghi"] * 26)], "is not a host name"),
        (["DNS:x.123"], "the last label is all digits"),
        (["DNS:*.com"], "a wildcard needs two labels after it"),
        (["DNS:db*.example.com"], "is not a host name"),
        (["DNS:*.*.example.com"], "is not a host name"),
        (["dns:db.example.com"], "does not start with 'DNS:' or 'IP:'"),
        (["db.example.com"], "[0]: 'db.example.com' does not start with 'DNS:' or 'IP:'"),
        (["email:ops@example.com"], "does not start with 'DNS:' or 'IP:'"),
        ([5], "[0]: 5 is not a string"),
        ("DNS:db.example.com", ": expected a list of names"),
        ({"DNS": "db.example.com"}, ": expected a list of names"),
    ],
)
def test_names_invalid(names, message):
    with pytest.raises(AnsibleFilterError) as err:
        pg_tls_names(names, name="postgresql_server_tls_extra_names")
    text = str(err.value)
    assert text.startswith("postgresql_server_tls_extra_names"), text
    assert message in text, text
    assert "expected 'DNS:<host name>'" in text, text


def test_names_exported():
    assert FilterModule().filters()["pg_tls_names"] is pg_tls_names


def _cross(key, ca, by_key, by_ca):
    """CA `ca`'s name and key, signed by CA `by_ca` (what a CA rotation serves)."""
    return (
        x509.CertificateBuilder()
        .subject_name(ca.subject)
        .issuer_name(by_ca.subject)
        .public_key(key.public_key())
        .serial_number(3)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(by_key, hashes.SHA256())
    )


NEXT_KEY, NEXT = _ca("Test CA 2026-12-07T14:50:00Z")
CROSS = _pem(_cross(CA_KEY, CA, NEXT_KEY, NEXT))  # the project CA, signed by the next one


def test_rotation_open_serves_the_cross_signed_ca_after_the_certificate():
    leaf = _pem(_server(CA_KEY, CA))
    assert pg_tls_cert_problem(leaf + CROSS, _pem(CA), NAMES, now=NOW, chain=CROSS) == ""
    assert pg_tls_cert_problem(leaf, _pem(CA), NAMES, now=NOW, chain=CROSS) == (
        "served without the cross-signed CA certificate (a CA rotation is open)"
    )


def test_rotation_finished_the_old_ca_certificate_is_reissued_by_the_new_ca():
    old_leaf = _pem(_server(CA_KEY, CA))
    assert pg_tls_cert_problem(old_leaf + CROSS, _pem(NEXT), NAMES, now=NOW) == (
        "not issued by the project CA"
    )


def test_a_chain_no_longer_needed_is_dropped():
    leaf = _pem(_server(CA_KEY, CA))
    assert pg_tls_cert_problem(leaf + CROSS, _pem(CA), NAMES, now=NOW) == (
        "served with a chain the project CA no longer needs (a CA rotation ended)"
    )
    assert pg_tls_cert_problem(leaf, _pem(CA), NAMES, now=NOW, chain="") == ""


def test_a_chain_that_is_not_pem_names_the_variable():
    leaf = _pem(_server(CA_KEY, CA))
    with pytest.raises(AnsibleFilterError, match="postgresql_server_tls: the chain"):
        pg_tls_cert_problem(
            leaf,
            _pem(CA),
            NAMES,
            now=NOW,
            chain="-----BEGIN CERTIFICATE-----\nxx\n",
            name="postgresql_server_tls",
        )
