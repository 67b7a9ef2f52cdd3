"""The cluster's Prometheus alert rules (pgfleet.alerts).

``monitoring_alert_rules`` builds the rule file from the thresholds status.yml uses and the
monitoring_* settings; ``monitoring_alert_rule_problems`` names every setting the rules
cannot use, before any change to a host.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from pgfleet import alerts
from pgfleet.filters import wrap

monitoring_alert_rules = wrap(alerts.alert_rules, AnsibleFilterError)
monitoring_alert_rule_problems = wrap(alerts.alert_rule_problems, AnsibleFilterError)


class FilterModule:
    """Monitoring filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "monitoring_alert_rules": monitoring_alert_rules,
            "monitoring_alert_rule_problems": monitoring_alert_rule_problems,
        }
