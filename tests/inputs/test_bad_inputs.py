"""Bad inventory values stop site.yml before any change, with a message naming the variable.

Each case runs the real site.yml, in its real play order and in check mode, against a
local stand-in host. A bad value must stop the first play (inputs and live topology):
no play that changes a host may start, and no Python traceback may stand in for a
message. The valid baseline runs the same plays as a preflight (the first play only), so
a broken harness cannot make every case look "refused".
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = Path(__file__).with_name("inventory.yml")
# The same stand-in host with a replica beside it, for the checks that only apply to a
# cluster with replicas.
INVENTORY_REPLICA = Path(__file__).with_name("inventory-replica.yml")


CHANGING_PLAYS = (
    "PLAY [PostgreSQL | etcd",
    "PLAY [PostgreSQL | Primary]",
    "PLAY [PostgreSQL | Replicas]",
    "PLAY [PostgreSQL | PgBouncer",
)
PATRONI = {"postgresql_ha_engine": "patroni"}
# The stand-in hosts' facts are gathered by the first run and read from this cache by the
# others (gathering "smart"): every case runs against the same hosts, and gathering was
# most of each run's time.
FACT_CACHE = tempfile.TemporaryDirectory(prefix="input-facts-")


def run_site(extra_vars: dict, inventory: Path = INVENTORY) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_GATHERING="smart",
        ANSIBLE_CACHE_PLUGIN="ansible.builtin.jsonfile",
        ANSIBLE_CACHE_PLUGIN_CONNECTION=FACT_CACHE.name,
        ANSIBLE_CACHE_PLUGIN_TIMEOUT="86400",
    )
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    return subprocess.run(
        [
            "ansible-playbook",
            "-i",
            str(inventory),
            str(ROOT / "site.yml"),
            "--check",
            "-e",
            json.dumps(extra_vars),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_valid_inputs_pass():
    result = run_site(
        {
            "postgresql_server_idle_in_transaction_session_timeout": "30s",
            "postgresql_topology_preflight_only": True,
        }
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "TASK [postgresql_topology : Topology | What is live]" in output, output


BAD = [
    pytest.param(
        {"postgresql_server_idle_in_transaction_session_timeout": "30 seconds"},
        ["postgresql_server_idle_in_transaction_session_timeout", "'30 seconds'", "5min"],
        id="timeout-with-words",
    ),
    pytest.param(
        {"postgresql_server_log_min_duration_statement": "1.5s"},
        ["postgresql_server_log_min_duration_statement"],
        id="fractional-duration",
    ),
    pytest.param(
        {"postgresql_cluster_port": "five-four-three-two"},
        ["postgresql_cluster_port", "int"],
        id="port-not-int",
    ),
    pytest.param(
        {"postgresql_cluster_port": 70000},
        ["postgresql_cluster_port", "1024 to 65535", "70000"],
        id="port-out-of-range",
    ),
    pytest.param(
        {"postgresql_cluster_name": "Main cluster"},
        ["postgresql_cluster_name", "lowercase letters"],
        id="cluster-name-with-space",
    ),
    pytest.param(
        {"postgresql_server_port": 5433},
        ["postgresql_server_port was renamed to postgresql_cluster_port"],
        id="renamed-variable",
    ),
    pytest.param(
        {"postgresql_server_settings": {"archive_timeout": "1min"}},
        ["postgresql_server_settings['archive_timeout']", "pgbackrest_archive_timeout"],
        id="setting-owned-by-another-drop-in",
    ),
    pytest.param(
        {"postgresql_server_settings": {"primary_conninfo": "host=evil"}},
        ["postgresql_server_settings['primary_conninfo']", "postgresql_replica"],
        id="setting-owned-by-the-replica-drop-in",
    ),
    pytest.param(
        {"postgresql_server_settings": {"log_connections": False}},
        ["postgresql_server_settings['log_connections']", "security baseline"],
        id="baseline-log-connections",
    ),
    pytest.param(
        {"postgresql_server_settings": {"include_dir": "/tmp"}},
        ["postgresql_server_settings['include_dir']", "security baseline"],
        id="baseline-include",
    ),
    pytest.param(
        {"postgresql_server_settings": {"ssl_max_protocol_version": "TLSv1.2"}},
        ["postgresql_server_settings['ssl_max_protocol_version']", "security baseline"],
        id="baseline-ssl-max-protocol",
    ),
    pytest.param(
        {"postgresql_server_settings": {"pgaudit.log": "none"}},
        ["postgresql_server_settings['pgaudit.log']", "security baseline"],
        id="baseline-pgaudit-log",
    ),
    pytest.param(
        {"postgresql_server_pgaudit_log": ["none"]},
        ["postgresql_server_pgaudit_log", "none"],
        id="pgaudit-none",
    ),
    pytest.param(
        {"postgresql_server_pgaudit_log": ["read"]},
        ["postgresql_server_pgaudit_log must include ddl, role and write"],
        id="pgaudit-without-ddl-role-write",
    ),
    pytest.param(
        {"postgresql_server_storage": "nvme"},
        ["postgresql_server_storage", "ssd, hdd, network"],
        id="storage-unknown-choice",
    ),
    pytest.param(
        {"postgresql_server_settings": {"work_mem": "16 megabytes"}},
        ["postgresql_server_settings", "work_mem"],
        id="setting-bad-size",
    ),
    pytest.param(
        {"postgresql_server_settings": {"ssl": False}},
        ["postgresql_server_settings['ssl']", "security baseline"],
        id="setting-overrides-baseline",
    ),
    pytest.param(
        {
            "postgresql_server_hba_entries": [
                {"databases": ["app"], "users": ["app"], "address": "0.0.0.0/0", "method": "trust"}
            ]
        },
        ["postgresql_server_hba_entries", "method"],
        id="hba-trust",
    ),
    pytest.param(
        {
            "postgresql_server_hba_entries": [
                {"databases": ["app"], "users": ["postgres"], "address": "10.0.0.0/8"}
            ]
        },
        ["postgresql_server_hba_entries[0].users", "superuser"],
        id="hba-remote-superuser",
    ),
    pytest.param(
        {
            "postgresql_server_hba_entries": [
                {"databases": ["app"], "users": ["app"], "address": "10.0.0.1"}
            ]
        },
        ["postgresql_server_hba_entries[0].address", "CIDR"],
        id="hba-address-not-cidr",
    ),
    pytest.param(
        {
            "postgresql_access_roles": [
                {"name": "analytics", "settings": {"statement_timeout": "5 minutes"}}
            ]
        },
        ["postgresql_access_roles[0].settings['statement_timeout']", "'5 minutes'"],
        id="role-timeout-with-words",
    ),
    pytest.param(
        {
            "postgresql_access_roles": [{"name": "app"}],
            "postgresql_access_databases": [
                {"name": "learning", "owner": "app", "grants": [{"role": "ai", "access": "select"}]}
            ],
        },
        ["postgresql_access_databases[0].grants[0].role", "not a present role"],
        id="grant-to-undeclared-role",
    ),
    pytest.param(
        {"postgresql_access_roles": [{"name": "app", "password": "short"}]},
        ["postgresql_access_roles[0].password", "16 characters"],
        id="short-password",
    ),
    pytest.param(
        {"postgresql_access_roles": [{"name": "app", "member_of": ["postgres"]}]},
        ["postgresql_access_roles[0].member_of[0]", "'postgres' is not allowed", "pg_monitor"],
        id="member-of-superuser",
    ),
    pytest.param(
        {"pgbackrest_cipher_pass": "too-short-passphrase"},
        ["pgbackrest_cipher_pass", "at least 32 characters"],
        id="short-repository-passphrase",
    ),
    pytest.param(
        {
            "pgbackrest_s3_endpoint": "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"
        },
        ["pgbackrest_s3_endpoint", "without a scheme"],
        id="endpoint-with-scheme",
    ),
    pytest.param(
        {
            "pgbackrest_repo_type": "r2",
            "pgbackrest_r2_account_id": "0123456789abcdef0123456789abcdef",
            "pgbackrest_s3_endpoint": "0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
            "pgbackrest_s3_region": "us-east-1",
        },
        ["pgbackrest_s3_region", "R2 needs 'auto'"],
        id="r2-region-not-auto",
    ),
    pytest.param(
        {
            "pgbackrest_repo_type": "r2",
            "pgbackrest_r2_account_id": "not-an-account",
            "pgbackrest_s3_endpoint": "{{ pgbackrest_r2_account_id | pgbackrest_r2_endpoint }}",
        },
        ["pgbackrest_r2_account_id", "32 lowercase hex"],
        id="r2-bad-account-id",
    ),
    pytest.param(
        {"pgbackrest_retention_full": "two"},
        ["pgbackrest_retention_full"],
        id="retention-not-int",
    ),
    pytest.param(
        {"postgresql_server_memory_mb": 100},
        ["memtotal_mb", "256"],
        id="memory-too-small",
    ),
    pytest.param(
        {"pgbackrest_schedule_diff": "15 1 * * 1-6\n* * * * * root touch /tmp/injected"},
        ["pgbackrest_schedule_diff: ", "contains a line break"],
        id="schedule-newline-injection",
    ),
    pytest.param(
        {"pgbackrest_schedule_full": "15 1 * * * 0"},
        ["pgbackrest_schedule_full: ", "has 6 fields", "expected five cron fields"],
        id="schedule-six-fields",
    ),
    pytest.param(
        {"pgbackrest_lock_wait": -1},
        ["pgbackrest_lock_wait must be a whole number of seconds from 0 to 86400", "got -1"],
        id="lock-wait-negative",
    ),
    pytest.param(
        {"pgbackrest_io_timeout": 0},
        ["pgbackrest_io_timeout must be a whole number of seconds from 1 to 3600", "got 0"],
        id="io-timeout-zero",
    ),
    pytest.param(
        {"postgresql_restore_drill_schedule": "0 4 * *"},
        ["postgresql_restore_drill_schedule: ", "expected five cron fields"],
        id="drill-schedule-four-fields",
    ),
    pytest.param(
        {"postgresql_restore_drill_port": 5432},
        ["postgresql_restore_drill_port=5432 is the production port"],
        id="drill-port-is-production",
    ),
    pytest.param(
        {"postgresql_ha_engine": "repmgr"},
        ["postgresql_ha_engine", "repmgr"],
        id="ha-engine-unknown",
    ),
    pytest.param(
        PATRONI,
        ["needs 3, 5 or 7 members", "got 1 (input-probe)", "witness host"],
        id="patroni-one-etcd-member",
    ),
    pytest.param(
        {**PATRONI, "patroni_ttl": 10},
        ["patroni_ttl, patroni_loop_wait, patroni_retry_timeout", "got ttl 10, loop_wait 2"],
        id="patroni-ttl-too-short",
    ),
    pytest.param(
        {**PATRONI, "patroni_restapi_password": "short"},
        ["patroni_restapi_password is required", "at least 12 characters"],
        id="patroni-rest-password-short",
    ),
    pytest.param(
        {**PATRONI, "postgresql_server_synchronous_standbys": ["pg2"]},
        [
            "postgresql_server_synchronous_standbys must be empty",
            "patroni_synchronous_mode",
            '["pg2"]',
        ],
        id="patroni-static-synchronous-standbys",
    ),
    pytest.param(
        {**PATRONI, "patroni_haproxy_primary_port": 5432},
        ["must all differ", "8008, 5432, 5001, 5002, 5432"],
        id="patroni-haproxy-port-is-postgresql",
    ),
    pytest.param(
        {**PATRONI, "patroni_haproxy_bind_address": "*", "patroni_restapi_allowlist": ["ops-box"]},
        [
            "patroni_haproxy_bind_address: the member's private address",
            'got "*"',
            "patroni_restapi_allowlist: IP addresses or CIDR networks",
            '["ops-box"]',
        ],
        id="patroni-haproxy-wildcard-and-allowlist-name",
    ),
    pytest.param(
        {
            **PATRONI,
            "ansible_host": "10.0.0.11",
            "postgresql_server_hba_entries": [
                {"databases": ["learning"], "users": ["app"], "address": "10.0.1.0/24"}
            ],
        },
        [
            "postgresql_server_hba_entries[0]: clients of users app reach PostgreSQL",
            "no entry admits them to learning from input-probe (10.0.0.11)",
        ],
        id="patroni-hba-without-the-members",
    ),
    pytest.param(
        {"postgresql_server_tls_extra_names": ["IP:db.example.com"]},
        ["postgresql_server_tls_extra_names[0]: ", "'IP:db.example.com'", "not an IP address"],
        id="tls-extra-name-ip-not-address",
    ),
    pytest.param(
        {"pgbouncer_default_pool_mode": "transactions"},
        ["pgbouncer_default_pool_mode: one of session, transaction, statement", "transactions"],
        id="pgbouncer-pool-mode",
    ),
    pytest.param(
        {"pgbouncer_port": 5432},
        ["pgbouncer_port: 5432 is already postgresql_cluster_port's port"],
        id="pgbouncer-port-is-postgresql-port",
    ),
    pytest.param(
        {"pgbouncer_port": 5434},
        ["pgbouncer_port: 5434 is already postgresql_restore_drill_port's port"],
        id="pgbouncer-port-is-drill-port",
    ),
    pytest.param(
        {"monitoring_node_exporter_port": 6432},
        ["monitoring_node_exporter_port: 6432 is already pgbouncer_port's port"],
        id="monitoring-exporter-port-is-pgbouncer-port",
    ),
    pytest.param(
        {"monitoring_prometheus_port": 9187},
        ["monitoring_prometheus_port: 9187 is already monitoring_postgres_exporter_port's port"],
        id="monitoring-ports-collide",
    ),
    pytest.param(
        {"monitoring_connections_percent": 100},
        ["connections_percent: a percentage below 100; got 100"],
        id="monitoring-threshold-out-of-range",
    ),
    pytest.param(
        {"monitoring_alert_for": {"PostgreSQLDown": "soon"}},
        ["for.PostgreSQLDown: a Prometheus duration such as 30s or 5m"],
        id="monitoring-alert-for-not-a-duration",
    ),
    pytest.param(
        {"postgresql_status_capacity_keep": 1},
        ["postgresql_status_capacity_keep: a whole number of 2 or more"],
        id="capacity-keeps-one-snapshot",
    ),
    pytest.param(
        {"postgresql_status_capacity_dir": "var/lib/capacity"},
        ["postgresql_status_capacity_dir: an absolute path without spaces"],
        id="capacity-dir-relative",
    ),
    pytest.param(
        {"pgbouncer_databases": {"learning": {"max_db_connections": 500}}},
        [
            "pgbouncer_databases: the pools could open 500 server connections per PgBouncer",
            "postgresql_server_max_connections",
        ],
        id="pgbouncer-pools-exceed-the-server",
    ),
    pytest.param(
        {"pgbouncer_track_extra_parameters": ["IntervalStyle", "search_path"]},
        ["pgbouncer_track_extra_parameters: search_path is never tracked", "CVE-2025-12819"],
        id="pgbouncer-tracks-search-path",
    ),
]


@pytest.mark.parametrize(("extra_vars", "expected"), BAD)
def test_bad_input_is_refused_naming_the_variable(extra_vars, expected):
    assert_refused(run_site(extra_vars), expected)


# The replication role is one of postgresql_access_roles, its password taken from
# postgresql_replica_password: the access check names that entry.
@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        pytest.param(
            {"postgresql_replica_password": "short"},
            [".password: expected a string of at least 16 characters"],
            id="short-replication-password",
        ),
        pytest.param(
            {"postgresql_replica_password": 1234567890123456789},
            [".password: expected a string of at least 16 characters"],
            id="replication-password-not-a-string",
        ),
    ],
)
def test_bad_input_with_replicas_is_refused(extra_vars, expected):
    assert_refused(run_site(extra_vars, INVENTORY_REPLICA), expected)


def assert_refused(result: subprocess.CompletedProcess[str], expected: list[str]) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for text in expected:
        assert text in output, f"{text!r} not in output:\n{output}"
    # Stopped in the first play, before any play that changes a host, with a message.
    for play in CHANGING_PLAYS:
        assert play not in output, f"{play} started:\n{output}"
    assert "Traceback" not in output, output
