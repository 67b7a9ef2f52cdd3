"""The monitoring inputs: ports, the alert receiver, the alert thresholds.

``monitoring_input_problems(settings, context)`` names every monitoring_* value that is
wrong, before any change to a host: exporter ports that collide with each other or with
anything else on the nodes, Prometheus's and Alertmanager's ports on the monitoring hosts,
a receiver without the address it needs, thresholds the alert rules cannot use, a scrape
password too short (its length only is given).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pgfleet import alerts

EXPORTER_PORTS = (
    "monitoring_node_exporter_port",
    "monitoring_postgres_exporter_port",
    "monitoring_pgbackrest_exporter_port",
    "monitoring_pgbouncer_exporter_port",
)
SERVER_PORTS = ("monitoring_prometheus_port", "monitoring_alertmanager_port")
URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
HOSTPORT = re.compile(r"^[^\s:]+:[0-9]{1,5}$")
MIN_PASSWORD = 16


def _port(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        port = int(str(value))
    except ValueError:
        return None
    return port if 0 < port < 65536 else None


def _receiver_problems(receiver: Any) -> list[str]:
    if not isinstance(receiver, Mapping) or receiver.get("type") not in ("webhook", "email"):
        return [
            "monitoring_receiver: {type: webhook, url: https://...} or {type: email, to: ..., "
            f"from: ..., smarthost: host:port}}; got {receiver!r}."
        ]
    if receiver["type"] == "webhook":
        if not URL.match(str(receiver.get("url") or "")):
            return [
                "monitoring_receiver.url: the webhook's http:// or https:// URL; "
                f"got {receiver.get('url')!r}."
            ]
        return []
    out = []
    for key in ("to", "from"):
        if not EMAIL.match(str(receiver.get(key) or "")):
            out.append(f"monitoring_receiver.{key}: an email address; got {receiver.get(key)!r}.")
    if not HOSTPORT.match(str(receiver.get("smarthost") or "")):
        out.append(
            "monitoring_receiver.smarthost: the mail relay as host:port; "
            f"got {receiver.get('smarthost')!r}."
        )
    return out


def monitoring_input_problems(settings: Mapping[str, Any], context: Mapping[str, Any]) -> list[str]:
    """settings: the monitoring_* variables by name, with ``thresholds`` (as for
    alerts.alert_rules) and ``monitoring_scrape_password_length``. context: ``ports``
    (variable name to port of everything else listening on the nodes) and ``monitoring``
    (whether the inventory has a monitoring host: the receiver and the password are then
    required)."""
    out: list[str] = []
    taken = {name: _port(port) for name, port in (context.get("ports") or {}).items()}
    taken = {name: port for name, port in taken.items() if port}
    for names in (EXPORTER_PORTS, SERVER_PORTS):
        for name in names:
            port = _port(settings.get(name))
            if port is None:
                out.append(f"{name}: a TCP port from 1 to 65535; got {settings.get(name)!r}.")
                continue
            clash = sorted(other for other, used in taken.items() if used == port)
            if clash:
                out.append(
                    f"{name}: {port} is already {', '.join(clash)}'s port; choose a free port."
                )
            taken[name] = port
    if context.get("monitoring"):
        out += _receiver_problems(settings.get("monitoring_receiver"))
        length = int(settings.get("monitoring_scrape_password_length") or 0)
        if length < MIN_PASSWORD:
            out.append(
                f"monitoring_scrape_password: at least {MIN_PASSWORD} characters (from the "
                f"vault); got {length}."
            )
    out += [
        f"monitoring thresholds: {p}" for p in alerts.alert_rule_problems(settings["thresholds"])
    ]
    return out
