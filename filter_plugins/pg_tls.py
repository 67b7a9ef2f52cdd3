"""Decide whether a server certificate must be (re)issued, without a round trip.

The role reads the installed certificate once and lets this filter, running on the
controller, say what is wrong with it; only then are the key, the request and the
signing tasks run. An empty string means the certificate is fine.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

from ansible.errors import AnsibleFilterError

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.x509.oid import ExtensionOID
except ImportError:  # pragma: no cover - cryptography ships with the controller requirements
    x509 = None


def _load(pem: str, what: str, name: str) -> Any:
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError(f"{name}: the {what} is not a PEM certificate ({exc})") from exc


def _names(cert: Any) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return set()
    names = {f"DNS:{n}" for n in san.get_values_for_type(x509.DNSName)}
    names |= {f"IP:{ip}" for ip in san.get_values_for_type(x509.IPAddress)}
    return names


def _normalise(name: str) -> str:
    kind, _, value = name.partition(":")
    if kind == "IP":
        return f"IP:{ipaddress.ip_address(value)}"
    return f"{kind}:{value}"


def pg_tls_cert_problem(
    cert_pem: str | None,
    ca_pem: str,
    names: list[str],
    min_days: int = 30,
    now: dt.datetime | None = None,
    name: str = "server certificate",
) -> str:
    """Return why the certificate must be re-issued, or '' when it is fine.

    cert_pem: the installed certificate (empty or None when there is none).
    ca_pem: the CA certificate that must have issued it.
    names: the subjectAltNames it must carry, as 'DNS:x' / 'IP:x'.
    min_days: re-issue when fewer days than this remain.
    """
    if x509 is None:  # pragma: no cover
        raise AnsibleFilterError("pg_tls_cert_problem needs the Python cryptography library")
    if not isinstance(names, list) or not all(isinstance(n, str) and ":" in n for n in names):
        raise AnsibleFilterError(f"{name}: names must be a list like ['DNS:pg1', 'IP:10.0.0.5']")
    if not cert_pem or "BEGIN CERTIFICATE" not in cert_pem:
        return "no certificate installed"
    cert = _load(cert_pem, "installed certificate", name)
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
    want = {_normalise(n) for n in names}
    have = _names(cert)
    if want != have:
        return f"names differ: has {sorted(have)}, needs {sorted(want)}"
    return ""


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"pg_tls_cert_problem": pg_tls_cert_problem}
