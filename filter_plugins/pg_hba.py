"""Render and validate pg_hba.conf rules declared in the inventory.

Only TLS-protected remote rules (``hostssl``) with ``scram-sha-256`` or ``cert`` can be
expressed; ``trust``, ``md5``, ``password`` and plain ``host`` rules cannot. Remote login
as the superuser is refused at validation time (and rejected again by a fixed rule that
the role renders before the entries).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ansible.errors import AnsibleFilterError

_KEYS = {"databases", "users", "address", "method", "comment"}
_METHODS = ("scram-sha-256", "cert")
_NAME = re.compile(r"^\+?[a-z_][a-z0-9_$-]*$")
_ADDRESS_KEYWORDS = ("samehost", "samenet")
SUPERUSER = "postgres"


def _names(entry: dict[str, Any], key: str, where: str) -> list[str]:
    value = entry.get(key)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise AnsibleFilterError(
            f"{where}.{key}: expected a name or a non-empty list of names, got {value!r}"
        )
    for item in value:
        if not isinstance(item, str) or not _NAME.match(item):
            raise AnsibleFilterError(
                f"{where}.{key}: {item!r} is not a valid name; expected lowercase letters, "
                "digits and underscores (a leading + names a group role)"
            )
    return value


def _address(value: Any, where: str) -> str:
    if value in _ADDRESS_KEYWORDS:
        return str(value)
    if not isinstance(value, str) or "/" not in value:
        raise AnsibleFilterError(
            f"{where}.address: {value!r} is not a network; expected CIDR notation such as "
            "'10.0.1.0/24', '203.0.113.7/32' or '2001:db8::/64', or one of "
            f"{', '.join(_ADDRESS_KEYWORDS)}"
        )
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError as exc:
        raise AnsibleFilterError(
            f"{where}.address: {value!r} is not a valid network ({exc})"
        ) from exc


def pg_hba_lines(
    entries: list[dict[str, Any]],
    name: str = "postgresql_server_hba_entries",
    alternates: dict[str, str] | None = None,
) -> list[str]:
    """Validate hba entries and return the pg_hba.conf lines for them, comments included.
    alternates: {role: its alternate login} (credential rotation): a rule that names a role
    names its alternate login too."""
    alternates = alternates or {}
    if not isinstance(entries, list):
        raise AnsibleFilterError(f"{name}: expected a list of rules, got {type(entries).__name__}")
    lines: list[str] = []
    for index, entry in enumerate(entries):
        where = f"{name}[{index}]"
        if not isinstance(entry, dict):
            raise AnsibleFilterError(f"{where}: expected a mapping, got {entry!r}")
        unknown = sorted(set(entry) - _KEYS)
        if unknown:
            raise AnsibleFilterError(
                f"{where}: unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(_KEYS))}"
            )
        databases = _names(entry, "databases", where)
        users = _names(entry, "users", where)
        if SUPERUSER in users:
            raise AnsibleFilterError(
                f"{where}.users: remote login as the superuser '{SUPERUSER}' is not allowed; "
                "administer the server over a local peer connection"
            )
        address = _address(entry.get("address"), where)
        method = entry.get("method", "scram-sha-256")
        if method not in _METHODS:
            raise AnsibleFilterError(
                f"{where}.method: {method!r} is not allowed; expected one of {', '.join(_METHODS)}"
            )
        comment = entry.get("comment")
        if comment is not None:
            if not isinstance(comment, str) or "\n" in comment:
                raise AnsibleFilterError(f"{where}.comment: expected a single line of text")
            lines.append(f"# {comment}")
        logins = [login for user in users for login in (user, alternates.get(user)) if login]
        logins = list(dict.fromkeys(logins))
        lines.append(f"hostssl {','.join(databases)} {','.join(logins)} {address} {method}")
    return lines


_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


def pg_hba_host_addresses(hosts: Any, name: str = "ansible_host") -> list[str]:
    """The pg_hba address of each single host: an IP address as a one-host network
    (``/32``, ``/128``), a host name as it is (pg_hba matches it by reverse lookup).
    Duplicates are dropped, the order kept."""
    if not isinstance(hosts, list):
        raise AnsibleFilterError(f"{name}: expected a list of addresses or host names")
    out: list[str] = []
    for index, host in enumerate(hosts):
        if not isinstance(host, str) or not host:
            raise AnsibleFilterError(f"{name}[{index}]: {host!r} is not an address or a host name")
        try:
            ip = ipaddress.ip_address(host)
            address = f"{ip}/{ip.max_prefixlen}"
        except ValueError:
            if not _HOSTNAME.match(host):
                raise AnsibleFilterError(
                    f"{name}[{index}]: {host!r} is neither an IP address nor a host name"
                ) from None
            address = host
        if address not in out:
            out.append(address)
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"pg_hba_lines": pg_hba_lines, "pg_hba_host_addresses": pg_hba_host_addresses}
