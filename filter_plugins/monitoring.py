"""The cluster's Prometheus alert rules (pgfleet.alerts).

``monitoring_alert_rules`` builds the rule file from the thresholds status.yml uses and the
monitoring_* settings; ``monitoring_alert_rule_problems`` names every setting the rules
cannot use, before any change to a host; ``monitoring_input_problems`` every monitoring_*
value; ``monitoring_bcrypt`` the basic-auth hash of the exporters' web.config;
``monitoring_metric_names`` the metric families the rules read.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from pgfleet import alerts, monitoring
from pgfleet.filters import wrap

monitoring_alert_rules = wrap(alerts.alert_rules, AnsibleFilterError)
monitoring_alert_rule_problems = wrap(alerts.alert_rule_problems, AnsibleFilterError)
monitoring_input_problems = wrap(monitoring.monitoring_input_problems, AnsibleFilterError)
monitoring_metric_names = wrap(alerts.metric_names, AnsibleFilterError)


def monitoring_bcrypt(password: str, seed: str) -> str:
    """The bcrypt hash of password for an exporter's web.config, with a salt derived from
    seed and the password (the same inputs give the same file: site.yml stays idempotent;
    another host or password gives another salt)."""
    import base64
    import hashlib

    import bcrypt

    if not isinstance(password, str) or not password:
        raise AnsibleFilterError("monitoring_bcrypt: expected the password, a non-empty string")
    digest = hashlib.sha256(f"{seed}\0{password}".encode()).digest()[:16]
    alphabet = str.maketrans(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    )
    salt = base64.b64encode(digest).decode().rstrip("=").translate(alphabet)[:22]
    return bcrypt.hashpw(password.encode(), f"$2b$10${salt}".encode()).decode()


class FilterModule:
    """Monitoring filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "monitoring_alert_rules": monitoring_alert_rules,
            "monitoring_alert_rule_problems": monitoring_alert_rule_problems,
            "monitoring_input_problems": monitoring_input_problems,
            "monitoring_bcrypt": monitoring_bcrypt,
            "monitoring_metric_names": monitoring_metric_names,
        }
