"""pgfleet.monitoring: the monitoring inputs, refused before any change with their names."""

# The expected messages are kept whole, one per line.
# ruff: noqa: E501

from __future__ import annotations

import pytest
from test_alert_rules import SETTINGS as THRESHOLDS

from pgfleet import monitoring

GOOD = {
    "monitoring_node_exporter_port": 9100,
    "monitoring_postgres_exporter_port": 9187,
    "monitoring_pgbackrest_exporter_port": 9854,
    "monitoring_pgbouncer_exporter_port": 9127,
    "monitoring_prometheus_port": 9090,
    "monitoring_alertmanager_port": 9093,
    "monitoring_receiver": {"type": "webhook", "url": "http://mon:9099/alerts"},
    "monitoring_scrape_password_length": 32,
    "thresholds": THRESHOLDS,
}
CONTEXT = {
    "monitoring": True,
    "ports": {"postgresql_cluster_port": 5432, "pgbouncer_port": 6432, "patroni_restapi_port": 0},
}


def problems(context=CONTEXT, **changes):
    return monitoring.monitoring_input_problems({**GOOD, **changes}, context)


def test_the_defaults_are_accepted():
    assert problems() == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"monitoring_node_exporter_port": 5432},
         "monitoring_node_exporter_port: 5432 is already postgresql_cluster_port's port; choose a free port."),
        ({"monitoring_pgbouncer_exporter_port": 9100},
         "monitoring_pgbouncer_exporter_port: 9100 is already monitoring_node_exporter_port's port; choose a free port."),
        ({"monitoring_prometheus_port": 6432},
         "monitoring_prometheus_port: 6432 is already pgbouncer_port's port; choose a free port."),
        ({"monitoring_alertmanager_port": 0},
         "monitoring_alertmanager_port: a TCP port from 1 to 65535; got 0."),
        ({"monitoring_receiver": {"type": "webhook"}},
         "monitoring_receiver.url: the webhook's http:// or https:// URL; got None."),
        ({"monitoring_receiver": {"type": "webhook", "url": "ftp://x"}},
         "monitoring_receiver.url: the webhook's http:// or https:// URL; got 'ftp://x'."),
        ({"monitoring_receiver": {"type": "pager"}}, "monitoring_receiver: {type: webhook"),
        ({"monitoring_receiver": {"type": "email", "to": "ops@example.org", "from": "pg@example.org"}},
         "monitoring_receiver.smarthost: the mail relay as host:port; got None."),
        ({"monitoring_scrape_password_length": 8},
         "monitoring_scrape_password: at least 16 characters (from the vault); got 8."),
        ({"thresholds": {**THRESHOLDS, "min_free_percent": 0}},
         "monitoring thresholds: min_free_percent: a number above 0; got 0."),
    ],
)  # fmt: skip
def test_bad_values_are_named(changes, expected):
    found = problems(**changes)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_no_monitoring_host_needs_no_receiver_or_password():
    context = {**CONTEXT, "monitoring": False}
    assert problems(context, monitoring_receiver=None, monitoring_scrape_password_length=0) == []


def test_the_web_config_hash_is_stable_per_host_and_checks_the_password():
    import bcrypt

    from monitoring import FilterModule

    hash_ = FilterModule().filters()["monitoring_bcrypt"]
    one = hash_("a-scrape-password-of-32-chars!!", "pg1")
    assert one == hash_("a-scrape-password-of-32-chars!!", "pg1")
    assert one != hash_("a-scrape-password-of-32-chars!!", "pg2")
    assert one.startswith("$2b$10$")
    assert bcrypt.checkpw(b"a-scrape-password-of-32-chars!!", one.encode())
    assert not bcrypt.checkpw(b"another-password", one.encode())
