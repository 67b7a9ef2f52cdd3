"""Server certificate names, and whether a certificate must be (re)issued.

pg_tls_names checks the subjectAltNames a certificate is to carry (DNS:<host name> or
IP:<address>) before any host changes, so a wrong entry stops the run with a message
naming the variable and the entry instead of a Python error deep in the TLS tasks.

pg_tls_cert_problem: the role reads the installed certificate once and lets this filter,
running on the controller, say what is wrong with it; only then are the key, the request
and the signing tasks run. An empty string means the certificate is fine.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

# cryptography is imported by the functions that parse certificates, not here: Ansible
# loads every filter file of filter_plugins/ in each task worker that uses any of them,
# and importing cryptography there cost every such task a tenth of a second.


NAME_FORM = (
    "expected 'DNS:<host name>' (or 'DNS:*.<domain>') or 'IP:<IPv4 or IPv6 address>', "
    "for example 'DNS:db.example.com' or 'IP:203.0.113.10'"
)
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^(?:\*\.)?{_LABEL}(?:\.{_LABEL})*$")


def _host_problem(host: str) -> str:
    """Why host cannot be a DNS subjectAltName; '' when it can."""
    if not host:
        return "has no host name after 'DNS:'"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return f"is an IP address; write it as 'IP:{host}'"
    if len(host) > 253 or not _HOST.match(host):
        return "is not a host name (letters, digits and hyphens in dot-separated labels)"
    labels = host.split(".")
    if labels[0] == "*" and len(labels) < 3:
        return "has a wildcard over a whole domain; a wildcard needs two labels after it"
    if labels[-1].isdigit():
        return "is not a host name (the last label is all digits)"
    return ""


def pg_tls_names(names: Any, name: str = "postgresql_server_tls_extra_names") -> list[str]:
    """Check subjectAltNames given as 'DNS:<host name>' or 'IP:<address>'; return them.

    None is an empty list. An error names `name` and the index of the wrong entry.
    """
    if names is None:
        return []
    if isinstance(names, str | bytes | Mapping) or not isinstance(names, list | tuple):
        raise AnsibleFilterError(f"{name}: expected a list of names; {NAME_FORM}")
    checked: list[str] = []
    for index, entry in enumerate(names):
        where = f"{name}[{index}]"
        if not isinstance(entry, str):
            raise AnsibleFilterError(f"{where}: {entry!r} is not a string; {NAME_FORM}")
        kind, colon, value = entry.partition(":")
        if not colon or kind not in ("DNS", "IP"):
            raise AnsibleFilterError(
                f"{where}: {entry!r} does not start with 'DNS:' or 'IP:' (upper case); {NAME_FORM}"
            )
        if kind == "IP":
            try:
                if "%" in value:
                    raise ValueError("a zone index cannot be in a certificate")
                ipaddress.ip_address(value)
            except ValueError:
                is_host = value and not _host_problem(value)
                hint = f" (a host name goes after 'DNS:': 'DNS:{value}')" if is_host else ""
                raise AnsibleFilterError(
                    f"{where}: {entry!r} is not an IP address after 'IP:'{hint}; {NAME_FORM}"
                ) from None
        else:
            problem = _host_problem(value)
            if problem:
                raise AnsibleFilterError(f"{where}: {entry!r} {problem}; {NAME_FORM}")
        checked.append(entry)
    return checked


def _load(pem: str, what: str, name: str) -> Any:
    return _load_all(pem, what, name)[0]


def _load_all(pem: str, what: str, name: str) -> list[Any]:
    """Every certificate of a PEM text, in order (a certificate and the chain after it)."""
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"{name}: the {what} is not a PEM certificate ({exc})") from exc
    return certs


def _names(cert: Any) -> set[str]:
    from cryptography import x509
    from cryptography.x509.oid import ExtensionOID

    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return set()
    names = {f"DNS:{n}" for n in san.get_values_for_type(x509.DNSName)}
    names |= {f"IP:{ip}" for ip in san.get_values_for_type(x509.IPAddress)}
    return names


def _normalise(entry: str, name: str) -> str:
    kind, _, value = entry.partition(":")
    if kind == "IP":
        try:
            return f"IP:{ipaddress.ip_address(value)}"
        except ValueError:
            raise AnsibleFilterError(
                f"{name}: {entry!r} in names is not an IP address after 'IP:'; {NAME_FORM}"
            ) from None
    return f"{kind}:{value}"


def pg_tls_cert_problem(
    cert_pem: str | None,
    ca_pem: str,
    names: list[str],
    min_days: int = 30,
    now: dt.datetime | None = None,
    name: str = "server certificate",
    chain: str | None = None,
) -> str:
    """Return why the certificate must be re-issued, or '' when it is fine.

    cert_pem: the installed certificate file: the certificate, then the chain it is served
        with (empty or None when there is none).
    ca_pem: the CA certificate that must have issued it.
    names: the subjectAltNames it must carry, as 'DNS:x' / 'IP:x'.
    min_days: re-issue when fewer days than this remain.
    chain: the certificates that must follow it in the file ('' or None: none). While the
        project CA is rotated, the project CA signed by the new one follows every certificate,
        so that a client holding only the new CA file verifies it too.
    """
    try:
        from cryptography.exceptions import InvalidSignature
    except ImportError:  # pragma: no cover - cryptography ships with the controller requirements
        raise AnsibleFilterError(
            "pg_tls_cert_problem needs the Python cryptography library"
        ) from None
    if not isinstance(names, list) or not all(isinstance(n, str) and ":" in n for n in names):
        raise AnsibleFilterError(f"{name}: names must be a list like ['DNS:pg1', 'IP:10.0.0.5']")
    if not cert_pem or "BEGIN CERTIFICATE" not in cert_pem:
        return "no certificate installed"
    cert, *served = _load_all(cert_pem, "installed certificate", name)
    ca = _load(ca_pem, "CA certificate", name)
    if cert.issuer != ca.subject:
        return "not issued by the project CA"
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError) as exc:
        return f"signature does not verify against the project CA ({type(exc).__name__})"
    now = now or dt.datetime.now(dt.UTC)
    left = cert.not_valid_after_utc - now
    if left < dt.timedelta(days=min_days):
        return f"expires in {max(left.days, 0)} days (renewed below {min_days})"
    want = {_normalise(n, name) for n in names}
    have = _names(cert)
    if want != have:
        return f"names differ: has {sorted(have)}, needs {sorted(want)}"
    wanted = _load_all(chain, "chain", name) if chain and "BEGIN CERTIFICATE" in chain else []
    if served != wanted:  # certificates compare by their encoding
        if wanted:
            return "served without the cross-signed CA certificate (a CA rotation is open)"
        return "served with a chain the project CA no longer needs (a CA rotation ended)"
    return ""


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"pg_tls_cert_problem": pg_tls_cert_problem, "pg_tls_names": pg_tls_names}
