"""The alert rules (pgfleet.alerts), proven by `promtool test rules` on synthetic series.

For every alert: a series that must fire, evaluated just before its `for:` ends (not yet
firing) and just after (firing, with its exact labels and rendered annotations), and one
or more healthy series that must not fire. The rules are rendered from the default
thresholds, with the Patroni rules on. promtool comes from `make setup` (.venv/bin); the
tests fail without it rather than pass unchecked.
"""

# The synthetic series are long literals, kept one per line to be read as promtool shows them.
# ruff: noqa: E501

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from pgfleet import alerts

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "docs/runbooks"
INCIDENTS = (
    "high-connection-count.md",
    "disk-space.md",
    "replication-lag.md",
    "lock-contention.md",
    "emergency-schema-rollback.md",
    "credential-rotation.md",
)
# status.yml's defaults (roles/postgresql_cluster/defaults/main.yml) and the monitoring
# role's (roles/monitoring/defaults/main.yml).
SETTINGS = {
    "max_lag_bytes": 67108864,
    "max_lag_seconds": 30,
    "max_archive_age_minutes": 15,
    "max_full_age_hours": 192,
    "max_backup_age_hours": 26,
    "max_drill_age_days": 8,
    "min_free_percent": 15,
    "pgbouncer_max_wait_seconds": 5,
    "max_transaction_seconds": 900,
    "max_idle_in_transaction_seconds": 300,
    "max_xid_age": 1000000000,
    "connections_percent": 80,
    "certificate_days": 21,
    "disk_predict_hours": 24,
    "patroni": True,
    "runbook_base_url": "https://example.org/pgfleet/docs/runbooks",
}
PG = 'instance="pg1",job="postgres"'
PG2 = 'instance="pg2",job="postgres"'
SRV = 'server="/var/run/postgresql:5432"'
FSL = 'instance="pg1",job="node",device="/dev/vda1",fstype="ext4",mountpoint="/var/lib/postgresql"'


@dataclass
class Case:
    fire: dict[str, str]
    labels: dict[str, str]
    calm: list[dict[str, str]]
    warm: int = 0  # minutes before the condition can be true (rate windows need two points)
    extra: dict[str, str] = field(default_factory=dict)


def series(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"series": s, "values": v} for s, v in values.items()]


# fmt: off
CASES: dict[str, Case] = {
    "MonitoringTargetDown": Case(
        {'up{instance="pg1",job="postgres"}': "0x200"},
        {"instance": "pg1", "job": "postgres"},
        [{'up{instance="pg1",job="postgres"}': "1x200"}],
    ),
    "PostgreSQLDown": Case(
        {f"pg_up{{{PG}}}": "0x200"},
        {"instance": "pg1", "job": "postgres"},
        [{f"pg_up{{{PG}}}": "1x200"}],
    ),
    "PostgreSQLReplicaLagBytes": Case(
        {
            f'pg_stat_replication_pg_wal_lsn_diff{{{PG},{SRV},application_name="pg2",'
            'slot_name="pg2",state="streaming"}': "100000000x200"
        },
        {"instance": "pg1", "application_name": "pg2"},
        [
            {
                f'pg_stat_replication_pg_wal_lsn_diff{{{PG},{SRV},application_name="pg2",'
                'slot_name="pg2",state="streaming"}': "67108864x200"
            }
        ],
    ),
    "PostgreSQLReplicaLagSeconds": Case(
        {f"pg_replication_lag_seconds{{{PG2}}}": "120x200",
         f"pg_replication_is_replica{{{PG2}}}": "1x200"},
        {"instance": "pg2", "job": "postgres"},
        [
            {f"pg_replication_lag_seconds{{{PG2}}}": "5x200",
             f"pg_replication_is_replica{{{PG2}}}": "1x200"},
            # the exporter's lag on a primary is not a replica's lag
            {f"pg_replication_lag_seconds{{{PG}}}": "120x200",
             f"pg_replication_is_replica{{{PG}}}": "0x200"},
        ],
    ),
    "PostgreSQLReplicaNotStreaming": Case(
        {f"pg_replication_is_replica{{{PG2}}}": "1x200"},
        {"instance": "pg2", "job": "postgres"},
        [
            {f"pg_replication_is_replica{{{PG2}}}": "1x200",
             f'pg_stat_wal_receiver_received_tli{{{PG2},slot_name="pg2",status="streaming",'
             'upstream_host="10.0.0.11"}': "6x200"},
            {f"pg_replication_is_replica{{{PG}}}": "0x200"},
        ],
        extra={f'pg_stat_wal_receiver_received_tli{{{PG2},slot_name="pg2",status="stopping",'
               'upstream_host="10.0.0.11"}': "6x200"},
    ),
    "PostgreSQLReplicationSlotInactive": Case(
        {f'pg_replication_slot_slot_is_active{{{PG},slot_name="pg3",slot_type="physical"}}': "0x200"},
        {"instance": "pg1", "job": "postgres", "slot_name": "pg3", "slot_type": "physical"},
        [{f'pg_replication_slot_slot_is_active{{{PG},slot_name="pg3",slot_type="physical"}}': "1x200"}],
    ),
    "PostgreSQLReplicationSlotLost": Case(
        {f'pg_replication_slot_wal_status{{{PG},slot_name="pg3",slot_type="physical",wal_status="lost"}}': "1x200"},
        {"instance": "pg1", "job": "postgres", "slot_name": "pg3", "slot_type": "physical",
         "wal_status": "lost"},
        [{f'pg_replication_slot_wal_status{{{PG},slot_name="pg3",slot_type="physical",wal_status="reserved"}}': "1x200"}],
    ),
    "PostgreSQLArchivingFailing": Case(
        {f"pg_stat_archiver_failed_count{{{PG},{SRV}}}": "0+1x200",
         f"pg_stat_archiver_archived_count{{{PG},{SRV}}}": "10x200",
         f"pg_replication_is_replica{{{PG}}}": "0x200"},
        {"instance": "pg1", "job": "postgres", "server": "/var/run/postgresql:5432"},
        [
            # failures between successes: archive-push retried and went through
            {f"pg_stat_archiver_failed_count{{{PG},{SRV}}}": "0+1x200",
             f"pg_stat_archiver_archived_count{{{PG},{SRV}}}": "10+1x200",
             f"pg_replication_is_replica{{{PG}}}": "0x200"},
            # old failures, none now
            {f"pg_stat_archiver_failed_count{{{PG},{SRV}}}": "3x200",
             f"pg_stat_archiver_archived_count{{{PG},{SRV}}}": "10x200",
             f"pg_replication_is_replica{{{PG}}}": "0x200"},
            # a node demoted while its failures are recent: it archives nothing any more
            {f"pg_stat_archiver_failed_count{{{PG2},{SRV}}}": "0+1x200",
             f"pg_stat_archiver_archived_count{{{PG2},{SRV}}}": "10x200",
             f"pg_replication_is_replica{{{PG2}}}": "1x200"},
        ],
        warm=1,
    ),
    "PostgreSQLArchiveTooOld": Case(
        {f"pg_stat_archiver_last_archive_age{{{PG},{SRV}}}": "2000x200",
         f"pg_replication_is_replica{{{PG}}}": "0x200"},
        {"instance": "pg1", "job": "postgres", "server": "/var/run/postgresql:5432"},
        [
            {f"pg_stat_archiver_last_archive_age{{{PG},{SRV}}}": "60x200",
             f"pg_replication_is_replica{{{PG}}}": "0x200"},
            # a replica does not archive
            {f"pg_stat_archiver_last_archive_age{{{PG2},{SRV}}}": "2000x200",
             f"pg_replication_is_replica{{{PG2}}}": "1x200"},
        ],
    ),
    "PgBackRestFullBackupTooOld": Case(
        {'pgbackrest_backup_since_last_completion_seconds{instance="pg1",job="pgbackrest",'
         'backup_type="full",block_incr="y",stanza="main"}': "800000x200",
         'pgbackrest_backup_since_last_completion_seconds{instance="pg2",job="pgbackrest",'
         'backup_type="full",block_incr="y",stanza="main"}': "800000x200"},
        {"stanza": "main"},
        [
            # one node's view is stale: the freshest view counts
            {'pgbackrest_backup_since_last_completion_seconds{instance="pg1",job="pgbackrest",'
             'backup_type="full",block_incr="y",stanza="main"}': "800000x200",
             'pgbackrest_backup_since_last_completion_seconds{instance="pg2",job="pgbackrest",'
             'backup_type="full",block_incr="y",stanza="main"}': "1000x200"},
        ],
    ),
    "PgBackRestBackupTooOld": Case(
        {'pgbackrest_backup_since_last_completion_seconds{instance="pg1",job="pgbackrest",'
         'backup_type="incr",block_incr="y",stanza="main"}': "100000x200"},
        {"stanza": "main"},
        [
            {'pgbackrest_backup_since_last_completion_seconds{instance="pg1",job="pgbackrest",'
             'backup_type="incr",block_incr="y",stanza="main"}': "1000x200"},
            # an old full does not make the last backup old
            {'pgbackrest_backup_since_last_completion_seconds{instance="pg1",job="pgbackrest",'
             'backup_type="full",block_incr="y",stanza="main"}': "100000x200",
             'pgbackrest_backup_since_last_completion_seconds{instance="pg1",job="pgbackrest",'
             'backup_type="incr",block_incr="y",stanza="main"}': "1000x200"},
        ],
    ),
    "PgBackRestBackupFailed": Case(
        {'pgfleet_backup_last_attempt_success{instance="pg1",job="node",type="diff"}': "0x200"},
        {"instance": "pg1", "job": "node", "type": "diff"},
        [{'pgfleet_backup_last_attempt_success{instance="pg1",job="node",type="diff"}': "1x200"}],
    ),
    "DiskSpaceLow": Case(
        {f"node_filesystem_avail_bytes{{{FSL}}}": "10x200",
         f"node_filesystem_size_bytes{{{FSL}}}": "100x200"},
        {"instance": "pg1", "job": "node", "device": "/dev/vda1", "fstype": "ext4",
         "mountpoint": "/var/lib/postgresql"},
        [
            {f"node_filesystem_avail_bytes{{{FSL}}}": "50x200",
             f"node_filesystem_size_bytes{{{FSL}}}": "100x200"},
            {'node_filesystem_avail_bytes{instance="pg1",job="node",device="tmpfs",fstype="tmpfs",'
             'mountpoint="/run"}': "1x200",
             'node_filesystem_size_bytes{instance="pg1",job="node",device="tmpfs",fstype="tmpfs",'
             'mountpoint="/run"}': "100x200"},
        ],
    ),
    "DiskWillFillIn24h": Case(
        {f"node_filesystem_avail_bytes{{{FSL}}}": "45-0.05x200",
         f"node_filesystem_size_bytes{{{FSL}}}": "100x200"},
        {"instance": "pg1", "job": "node", "device": "/dev/vda1", "fstype": "ext4",
         "mountpoint": "/var/lib/postgresql"},
        [
            {f"node_filesystem_avail_bytes{{{FSL}}}": "45x200",
             f"node_filesystem_size_bytes{{{FSL}}}": "100x200"},
            # falling, but more than half free: not yet worth a page
            {f"node_filesystem_avail_bytes{{{FSL}}}": "80-0.05x200",
             f"node_filesystem_size_bytes{{{FSL}}}": "100x200"},
        ],
        warm=1,
    ),
    "PostgreSQLConnectionsHigh": Case(
        {f'pg_stat_activity_count{{{PG},{SRV},datname="learning",state="active",usename="app"}}': "60x200",
         f'pg_stat_activity_count{{{PG},{SRV},datname="learning",state="idle",usename="app"}}': "25x200",
         f"pg_settings_max_connections{{{PG},{SRV}}}": "100x200"},
        {"instance": "pg1"},
        [
            {f'pg_stat_activity_count{{{PG},{SRV},datname="learning",state="active",usename="app"}}': "60x200",
             f'pg_stat_activity_count{{{PG},{SRV},datname="learning",state="idle",usename="app"}}': "20x200",
             f"pg_settings_max_connections{{{PG},{SRV}}}": "100x200"},
        ],
    ),
    "PgBouncerClientsWaiting": Case(
        {'pgbouncer_pools_client_maxwait_seconds{instance="pg1",job="pgbouncer",database="learning",user="app"}': "10x200"},
        {"instance": "pg1", "database": "learning", "user": "app"},
        [{'pgbouncer_pools_client_maxwait_seconds{instance="pg1",job="pgbouncer",database="learning",user="app"}': "5x200"}],
    ),
    "PostgreSQLLongTransaction": Case(
        {f"pg_long_running_transactions_oldest_timestamp_seconds{{{PG2}}}": "1000x200"},
        {"instance": "pg2", "job": "postgres"},
        [{f"pg_long_running_transactions_oldest_timestamp_seconds{{{PG2}}}": "10x200"}],
    ),
    "PostgreSQLIdleInTransaction": Case(
        {f'pg_stat_activity_max_tx_duration{{{PG},{SRV},datname="learning",state="idle in transaction",usename="app"}}': "400x200"},
        {"instance": "pg1", "datname": "learning", "usename": "app"},
        [
            {f'pg_stat_activity_max_tx_duration{{{PG},{SRV},datname="learning",state="active",usename="app"}}': "400x200"},
            {f'pg_stat_activity_max_tx_duration{{{PG},{SRV},datname="learning",state="idle in transaction",usename="app"}}': "100x200"},
        ],
    ),
    "PostgreSQLXidWraparound": Case(
        {f'pg_database_wraparound_age_datfrozenxid_seconds{{{PG},datname="learning"}}': "1500000000x200",
         f"pg_replication_is_replica{{{PG}}}": "0x200"},
        {"instance": "pg1", "datname": "learning"},
        [{f'pg_database_wraparound_age_datfrozenxid_seconds{{{PG},datname="learning"}}': "1000000x200",
          f"pg_replication_is_replica{{{PG}}}": "0x200"}],
    ),
    "RestoreDrillFailed": Case(
        {'pgfleet_drill_last_success{instance="pg1",job="node"}': "0x200"},
        {"instance": "pg1", "job": "node"},
        [{'pgfleet_drill_last_success{instance="pg1",job="node"}': "1x200"}],
    ),
    "RestoreDrillTooOld": Case(
        {'pgfleet_drill_last_timestamp_seconds{instance="pg1",job="node"}': "-700000x200"},
        {"instance": "pg1"},
        [{'pgfleet_drill_last_timestamp_seconds{instance="pg1",job="node"}': "0x200"}],
    ),
    "CertificateExpiringSoon": Case(
        {'pgfleet_certificate_not_after_timestamp_seconds{instance="pg1",job="node",'
         'file="/etc/postgresql/17/main/tls/server.crt"}': "1000000x200"},
        {"instance": "pg1", "job": "node", "file": "/etc/postgresql/17/main/tls/server.crt"},
        [{'pgfleet_certificate_not_after_timestamp_seconds{instance="pg1",job="node",'
          'file="/etc/postgresql/17/main/tls/server.crt"}': "1000000000x200"}],
    ),
    "PatroniNoLeader": Case(
        {'patroni_cluster_unlocked{instance="pg1",job="patroni",scope="main",name="pg1"}': "1x200"},
        {"scope": "main"},
        [{'patroni_cluster_unlocked{instance="pg1",job="patroni",scope="main",name="pg1"}': "0x200"}],
    ),
    "PatroniFailsafeActive": Case(
        {'patroni_failsafe_mode_is_active{instance="pg1",job="patroni",scope="main",name="pg1"}': "1x200"},
        {"scope": "main"},
        [{'patroni_failsafe_mode_is_active{instance="pg1",job="patroni",scope="main",name="pg1"}': "0x200"}],
    ),
    "EtcdNoQuorum": Case(
        {'etcd_server_has_leader{instance="pg1",job="node"}': "0x200"},
        {"instance": "pg1", "job": "node"},
        [{'etcd_server_has_leader{instance="pg1",job="node"}': "1x200"}],
    ),
    "PgBackRestWalHole": Case(
        {'pgfleet_wal_holes{instance="pg1",job="node",state="open"}': "1x200",
         'pgfleet_wal_holes{instance="pg1",job="node",state="closed"}': "0x200"},
        {"instance": "pg1"},
        # closed holes (a backup started after them) are status.yml's warning, not an alert
        [{'pgfleet_wal_holes{instance="pg1",job="node",state="open"}': "0x200",
          'pgfleet_wal_holes{instance="pg1",job="node",state="closed"}': "2x200"}],
    ),
    "PgBackRestWalCheckFailing": Case(
        {'pgfleet_wal_check_success{instance="pg1",job="node"}': "0x200"},
        {"instance": "pg1", "job": "node"},
        [{'pgfleet_wal_check_success{instance="pg1",job="node"}': "1x200"}],
    ),
    "EtcdUnreachable": Case(
        {'pgfleet_etcd_metrics_readable{instance="pg1",job="node"}': "0x200"},
        {"instance": "pg1", "job": "node"},
        [{'pgfleet_etcd_metrics_readable{instance="pg1",job="node"}': "1x200"}],
    ),
    "NodeMetricsStale": Case(
        # written once at t=0 and never again: 300 s later it is stale
        {'pgfleet_metrics_timestamp_seconds{instance="pg1",job="node"}': "0x200"},
        {"instance": "pg1", "job": "node"},
        # written every minute (the value is the time of the write)
        [{'pgfleet_metrics_timestamp_seconds{instance="pg1",job="node"}': "0+60x200"}],
        warm=6,
    ),
}
# fmt: on


def promtool() -> str:
    found = shutil.which("promtool") or shutil.which("promtool", path=str(ROOT / ".venv/bin"))
    assert found, "promtool is missing: make setup installs it into .venv/bin"
    return found


def minutes(duration: str) -> int:
    number, unit = re.fullmatch(r"([0-9]+)([smhd])", duration).groups()
    return int(number) * {"s": 1 / 60, "m": 1, "h": 60, "d": 1440}[unit]


def render(summary: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), summary)


@pytest.fixture(scope="module")
def rules():
    return {
        rule["alert"]: rule
        for group in alerts.alert_rules(SETTINGS)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


@pytest.fixture(scope="module")
def rule_file(tmp_path_factory, rules):
    path = tmp_path_factory.mktemp("rules") / "pgfleet.rules.yml"
    path.write_text(yaml.safe_dump(alerts.alert_rules(SETTINGS), sort_keys=False))
    return path


def test_promtool_accepts_the_rule_file(rule_file):
    run = subprocess.run(
        [promtool(), "check", "rules", str(rule_file)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(alerts.ALERTS) + len(alerts.RECORDS)} rules found" in run.stdout


def test_every_alert_has_its_cases():
    assert set(CASES) == {a.name for a in alerts.ALERTS}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_alert_fires_after_its_for_and_not_on_healthy_series(name, rules, rule_file, tmp_path):
    rule, case = rules[name], CASES[name]
    wait = minutes(rule.get("for", "0m"))
    assert wait >= 1, f"{name}: every alert waits at least a minute"
    expected = {**case.labels, "severity": rule["labels"]["severity"]}
    annotations = {
        "summary": render(rule["annotations"]["summary"], case.labels),
        "runbook_url": rule["annotations"]["runbook_url"],
    }
    before, after = case.warm + wait - 1, case.warm + wait + 1
    tests = [
        {
            "interval": "1m",
            "input_series": series({**case.fire, **case.extra}),
            "alert_rule_test": [
                {"eval_time": f"{before}m", "alertname": name, "exp_alerts": []},
                {
                    "eval_time": f"{after}m",
                    "alertname": name,
                    "exp_alerts": [{"exp_labels": expected, "exp_annotations": annotations}],
                },
            ],
        }
    ]
    for calm in case.calm:
        tests.append(
            {
                "interval": "1m",
                "input_series": series(calm),
                "alert_rule_test": [
                    {"eval_time": f"{after}m", "alertname": name, "exp_alerts": []}
                ],
            }
        )
    spec = tmp_path / "test.yml"
    spec.write_text(
        yaml.safe_dump(
            {"rule_files": [str(rule_file)], "evaluation_interval": "1m", "tests": tests}
        )
    )
    run = subprocess.run(
        [promtool(), "test", "rules", str(spec)], capture_output=True, text=True, cwd=tmp_path
    )
    assert run.returncode == 0, run.stdout + run.stderr


# ---- The capacity recording rules ------------------------------------------------------

# fmt: off
# Each recording rule on synthetic series (1m apart), and the value it must record at the
# evaluation time, with its labels.
RECORD_CASES = {
    "pgfleet:database_size_bytes:growth_per_day": (
        # +1 MiB a minute for 7 h: 1440 MiB a day
        {'pg_database_size_bytes{instance="pg1",job="postgres",datname="learning"}': "0+1048576x420"},
        "7h",
        [{"labels": 'pgfleet:database_size_bytes:growth_per_day{instance="pg1",job="postgres",datname="learning"}',
          "value": 1440 * 1048576}],
    ),
    "pgfleet:table_size_bytes:growth_per_day": (
        # shrinking by 1 KiB a minute
        {'pg_stat_user_tables_size_bytes{instance="pg1",job="postgres",datname="learning",schemaname="app",relname="lessons"}': "10000000-1024x420"},
        "7h",
        [{"labels": 'pgfleet:table_size_bytes:growth_per_day{instance="pg1",job="postgres",datname="learning",schemaname="app",relname="lessons"}',
          "value": -1440 * 1024}],
    ),
    "pgfleet:table_dead_tuples:ratio": (
        {'pg_stat_user_tables_n_dead_tup{instance="pg1",job="postgres",relname="lessons"}': "25x10",
         'pg_stat_user_tables_n_live_tup{instance="pg1",job="postgres",relname="lessons"}': "75x10",
         'pg_stat_user_tables_n_dead_tup{instance="pg1",job="postgres",relname="empty"}': "0x10",
         'pg_stat_user_tables_n_live_tup{instance="pg1",job="postgres",relname="empty"}': "0x10"},
        "5m",
        [{"labels": 'pgfleet:table_dead_tuples:ratio{instance="pg1",job="postgres",relname="empty"}', "value": 0},
         {"labels": 'pgfleet:table_dead_tuples:ratio{instance="pg1",job="postgres",relname="lessons"}', "value": 0.25}],
    ),
    "pgfleet:connections:used_ratio": (
        {f'pg_stat_activity_count{{instance="pg1",job="postgres",{SRV},datname="learning",state="active"}}': "30x10",
         f'pg_stat_activity_count{{instance="pg1",job="postgres",{SRV},datname="learning",state="idle"}}': "20x10",
         f'pg_settings_max_connections{{instance="pg1",job="postgres",{SRV}}}': "200x10"},
        "5m",
        [{"labels": 'pgfleet:connections:used_ratio{instance="pg1"}', "value": 0.25}],
    ),
    "pgfleet:statement_mean_seconds:rate5m": (
        # learning: 2 statements (8 calls a minute each, 0.125 and 0.375 s each): mean
        # (1 + 3) / 16 = 0.25 s. postgres: no calls: no value (never a division by 0).
        {'pg_stat_statements_calls_total{instance="pg1",job="postgres",datname="learning",queryid="1"}': "0+8x20",
         'pg_stat_statements_seconds_total{instance="pg1",job="postgres",datname="learning",queryid="1"}': "0+1x20",
         'pg_stat_statements_calls_total{instance="pg1",job="postgres",datname="learning",queryid="2"}': "0+8x20",
         'pg_stat_statements_seconds_total{instance="pg1",job="postgres",datname="learning",queryid="2"}': "0+3x20",
         'pg_stat_statements_calls_total{instance="pg1",job="postgres",datname="postgres",queryid="3"}': "5x20",
         'pg_stat_statements_seconds_total{instance="pg1",job="postgres",datname="postgres",queryid="3"}': "1x20"},
        "15m",
        [{"labels": 'pgfleet:statement_mean_seconds:rate5m{instance="pg1",datname="learning"}', "value": 0.25}],
    ),
}
# fmt: on


def test_every_recording_rule_has_its_case():
    assert set(RECORD_CASES) == {r.name for r in alerts.RECORDS}


@pytest.mark.parametrize("name", sorted(RECORD_CASES))
def test_the_recording_rule_records_what_it_means(name, rule_file, tmp_path):
    inputs, at, expected = RECORD_CASES[name]
    spec = tmp_path / "test.yml"
    spec.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(rule_file)],
                "evaluation_interval": "1m",
                "tests": [
                    {
                        "interval": "1m",
                        "input_series": series(inputs),
                        "promql_expr_test": [
                            {"expr": name, "eval_time": at, "exp_samples": expected}
                        ],
                    }
                ],
            }
        )
    )
    run = subprocess.run(
        [promtool(), "test", "rules", str(spec)], capture_output=True, text=True, cwd=tmp_path
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_thresholds_are_the_settings():
    changed = {**SETTINGS, "max_lag_bytes": 1048576, "max_archive_age_minutes": 5, "patroni": False}
    rules = {r.get("alert"): r for g in alerts.alert_rules(changed)["groups"] for r in g["rules"]}
    assert rules["PostgreSQLReplicaLagBytes"]["expr"].endswith("> 1048576")
    assert "1 MiB behind" in rules["PostgreSQLReplicaLagBytes"]["annotations"]["summary"]
    assert "> 300 and" in rules["PostgreSQLArchiveTooOld"]["expr"]
    assert "PatroniNoLeader" not in rules and "EtcdNoQuorum" not in rules


def test_the_metric_families_the_rules_read():
    names = alerts.metric_names()
    assert "pg_up" in names and "pgbackrest_backup_since_last_completion_seconds" in names
    assert "pgbouncer_max_wait_seconds" not in names  # a threshold's name, not a metric
    assert not [n for n in names if n.startswith(("patroni_", "etcd_"))]
    assert {"patroni_cluster_unlocked", "etcd_server_has_leader"} <= set(alerts.metric_names(True))


def test_for_can_be_shortened_per_alert():
    rules = alerts.alert_rules({**SETTINGS, "for": {"PostgreSQLArchivingFailing": "30s"}})
    found = {r.get("alert"): r for g in rules["groups"] for r in g["rules"]}
    assert found["PostgreSQLArchivingFailing"]["for"] == "30s"
    assert found["PostgreSQLDown"]["for"] == "1m"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"max_lag_bytes": 0}, "max_lag_bytes: a number above 0; got 0."),
        ({"min_free_percent": 100}, "min_free_percent: a percentage below 100; got 100."),
        ({"connections_percent": "lots"}, "connections_percent: a number above 0; got 'lots'."),
        ({"max_xid_age": True}, "max_xid_age: a number above 0; got True."),
        ({"for": {"NoSuchAlert": "1m"}}, "for: 'NoSuchAlert' is not an alert"),
        ({"for": {"PostgreSQLDown": "soon"}}, "for.PostgreSQLDown: a Prometheus duration"),
    ],
)
def test_bad_settings_are_named(change, problem):
    problems = alerts.alert_rule_problems({**SETTINGS, **change})
    assert len(problems) == 1 and problems[0].startswith(problem), problems
    with pytest.raises(ValueError, match=re.escape(problem)):
        alerts.alert_rules({**SETTINGS, **change})


# ---- The runbooks ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(a.name for a in alerts.ALERTS))
def test_every_alert_links_to_its_runbook_which_exists(name, rules):
    url = rules[name]["annotations"]["runbook_url"]
    assert url == f"{SETTINGS['runbook_base_url']}/{alerts.runbook_file(name)}"
    path = RUNBOOKS / alerts.runbook_file(name)
    assert path.is_file(), f"{name}: no runbook at {path.relative_to(ROOT)}"
    text = path.read_text()
    assert f"`{name}`" in text, f"{path.name} does not name its alert"


@pytest.mark.parametrize(
    "path", sorted(RUNBOOKS.glob("*.md")) or [RUNBOOKS / "missing"], ids=os.path.basename
)
def test_every_runbook_has_the_four_sections(path):
    if path.name == "README.md":
        pytest.skip("the index")
    text = path.read_text()
    for section in ("## Symptom", "## Diagnosis", "## Fix", "## Verify"):
        assert section in text, f"{path.name}: no '{section}'"


def test_the_six_incident_runbooks_and_the_index_exist():
    index = (RUNBOOKS / "README.md").read_text()
    for name in INCIDENTS + tuple(alerts.runbook_file(a.name) for a in alerts.ALERTS):
        assert (RUNBOOKS / name).is_file(), name
        assert f"({name})" in index, f"the index does not link {name}"
