"""The cluster's Prometheus alert rules, built from the thresholds status.yml uses.

``alert_rules(settings)`` returns the rule file (``{"groups": [...]}``) Prometheus loads on
the monitoring hosts. Every threshold comes from the same variable ``status.yml`` fails on
(``postgresql_cluster.status``) or from a ``monitoring_*`` variable, so the two never
disagree. Each alert carries a ``runbook_url`` naming its runbook under docs/runbooks/.

The metric names are those of the Debian 13 exporters: prometheus-postgres-exporter 0.17
(collectors stat_statements, long_running_transactions, stat_wal_receiver,
database_wraparound and postmaster on), prometheus-pgbackrest-exporter 0.19,
prometheus-pgbouncer-exporter 0.10, prometheus-node-exporter 1.9 with the project's
textfile metrics (``pgfleet_*``, written by pgfleet-metrics on every node), Patroni 4's
own /metrics, and etcd 3.5's, which pgfleet-metrics relays from each member's client port
through node_exporter (job node). Known traps of those versions, and how the rules avoid them:

- pg_stat_archiver_last_archive_age is NaN on a node that never archived (a replica): a
  comparison with NaN is false, so the archive-age rule never fires there.
- pg_replication_lag_seconds reads 0 while a replica's WAL receiver is down: the
  not-streaming rule covers that case (the receiver's series disappear).
- pg_long_running_transactions counts every open transaction: the rule reads the age of
  the oldest one instead.
- pg_database_wraparound_age_datfrozenxid_seconds is an XID age despite its name.
- pgbouncer_pools_client_maxwait_seconds has whole seconds only.
- the pgBackRest exporter runs on every node: backup ages are taken per stanza, the
  freshest view of all nodes (min), so one node with a stale view does not alert.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# A real filesystem: tmpfs, overlay (a container's root) and the like are left out, and
# so is a mount node_exporter could not read.
FS = 'fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs|fuse.*",device_error=""'


@dataclass(frozen=True)
class Alert:
    name: str
    group: str
    expr: str  # str.format() fields: the thresholds
    for_: str
    severity: str
    summary: str  # Prometheus template: {{ $labels.x }} only (the unit tests render it)
    patroni_only: bool = False


ALERTS: tuple[Alert, ...] = (
    Alert(
        "MonitoringTargetDown", "pgfleet-monitoring",
        "up == 0", "5m", "critical",
        "Prometheus cannot scrape {{ $labels.job }} on {{ $labels.instance }}",
    ),
    Alert(
        "NodeMetricsStale", "pgfleet-monitoring",
        # pgfleet-metrics writes every minute: its records (backups, drill, certificates,
        # etcd's relayed metrics) are stale when it stops.
        "time() - pgfleet_metrics_timestamp_seconds > 300", "5m", "warning",
        "pgfleet-metrics has not written {{ $labels.instance }}'s textfile metrics for 5 min",
    ),
    Alert(
        "PostgreSQLDown", "pgfleet-postgresql",
        "pg_up == 0", "1m", "critical",
        "PostgreSQL on {{ $labels.instance }} does not answer its exporter",
    ),
    Alert(
        "PostgreSQLReplicaLagBytes", "pgfleet-replication",
        "max by (instance, application_name) (pg_stat_replication_pg_wal_lsn_diff)"
        " > {max_lag_bytes}",
        "5m", "warning",
        "Replica {{ $labels.application_name }} is more than {max_lag_bytes_text} behind"
        " the primary {{ $labels.instance }}",
    ),
    Alert(
        "PostgreSQLReplicaLagSeconds", "pgfleet-replication",
        "pg_replication_lag_seconds > {max_lag_seconds}"
        " and on (instance) pg_replication_is_replica == 1",
        "5m", "warning",
        "Replica {{ $labels.instance }} replays more than {max_lag_seconds} s behind the primary",
    ),
    Alert(
        "PostgreSQLReplicaNotStreaming", "pgfleet-replication",
        "pg_replication_is_replica == 1"
        ' unless on (instance) pg_stat_wal_receiver_received_tli{{status="streaming"}}',
        "2m", "critical",
        "Replica {{ $labels.instance }} does not stream from the primary",
    ),
    Alert(
        "PostgreSQLReplicationSlotInactive", "pgfleet-replication",
        'pg_replication_slot_slot_is_active{{slot_type="physical"}} == 0', "5m", "warning",
        "Slot {{ $labels.slot_name }} on {{ $labels.instance }} has no replica connected;"
        " the primary keeps WAL for it",
    ),
    Alert(
        "PostgreSQLReplicationSlotLost", "pgfleet-replication",
        'pg_replication_slot_wal_status{{wal_status=~"lost|unreserved"}} == 1', "1m", "critical",
        "Slot {{ $labels.slot_name }} on {{ $labels.instance }} lost WAL its replica needs",
    ),
    Alert(
        "PostgreSQLArchivingFailing", "pgfleet-backup",
        # On the primary only: a node demoted just after failed attempts (a switchover
        # while the store was down) keeps its counters, but archives nothing any more.
        "increase(pg_stat_archiver_failed_count[5m]) > 0"
        " unless on (instance) increase(pg_stat_archiver_archived_count[2m]) > 0"
        " and on (instance) pg_replication_is_replica == 0",
        "5m", "critical",
        "WAL archiving to the repository fails on {{ $labels.instance }}",
    ),
    Alert(
        "PostgreSQLArchiveTooOld", "pgfleet-backup",
        "pg_stat_archiver_last_archive_age > {max_archive_age_seconds}"
        " and on (instance) pg_replication_is_replica == 0",
        "5m", "warning",
        "The last WAL archived from {{ $labels.instance }} is older than"
        " {max_archive_age_minutes} min",
    ),
    Alert(
        "PgBackRestFullBackupTooOld", "pgfleet-backup",
        'min by (stanza) (pgbackrest_backup_since_last_completion_seconds{{backup_type="full"}})'
        " > {max_full_age_seconds}",
        "15m", "warning",
        "The last full backup of stanza {{ $labels.stanza }} is older than"
        " {max_full_age_hours} h",
    ),
    Alert(
        "PgBackRestBackupTooOld", "pgfleet-backup",
        # backup_type="incr" holds the newest backup of any type.
        'min by (stanza) (pgbackrest_backup_since_last_completion_seconds{{backup_type="incr"}})'
        " > {max_backup_age_seconds}",
        "15m", "warning",
        "The last backup of stanza {{ $labels.stanza }} is older than {max_backup_age_hours} h",
    ),
    Alert(
        "PgBackRestBackupFailed", "pgfleet-backup",
        "pgfleet_backup_last_attempt_success == 0", "1m", "critical",
        "The last scheduled {{ $labels.type }} backup on {{ $labels.instance }} failed",
    ),
    Alert(
        "PgBackRestWalHole", "pgfleet-backup",
        # From the hourly check on the primary (postgresql-restore walcheck): a hole no
        # backup started after.
        'max by (instance) (pgfleet_wal_holes{{state="open"}}) > 0', "1m", "critical",
        "The WAL archive has a hole no backup started after ({{ $labels.instance }}'s"
        " timeline): no restore reaches a time past it",
    ),
    Alert(
        "PgBackRestWalCheckFailing", "pgfleet-backup",
        "pgfleet_wal_check_success == 0", "2h", "warning",
        "The hourly check of the WAL archive for holes on {{ $labels.instance }} cannot read"
        " the repository",
    ),
    Alert(
        "DiskSpaceLow", "pgfleet-host",
        f"100 * node_filesystem_avail_bytes{{{{{FS}}}}}"
        f" / node_filesystem_size_bytes{{{{{FS}}}}} < {{min_free_percent}}",
        "5m", "critical",
        "{{ $labels.mountpoint }} on {{ $labels.instance }} has less than"
        " {min_free_percent}% free",
    ),
    Alert(
        "DiskWillFillIn24h", "pgfleet-host",
        f"predict_linear(node_filesystem_avail_bytes{{{{{FS}}}}}[6h], {{disk_predict_seconds}})"
        f" < 0 and node_filesystem_avail_bytes{{{{{FS}}}}}"
        f" / node_filesystem_size_bytes{{{{{FS}}}}} < 0.5",
        "30m", "warning",
        "{{ $labels.mountpoint }} on {{ $labels.instance }} fills up within"
        " {disk_predict_hours} h at the rate of the last 6 h",
    ),
    Alert(
        "PostgreSQLConnectionsHigh", "pgfleet-postgresql",
        "100 * sum by (instance) (pg_stat_activity_count)"
        " / on (instance) max by (instance) (pg_settings_max_connections)"
        " > {connections_percent}",
        "5m", "warning",
        "{{ $labels.instance }} uses more than {connections_percent}% of max_connections",
    ),
    Alert(
        "PgBouncerClientsWaiting", "pgfleet-postgresql",
        "max by (instance, database, user) (pgbouncer_pools_client_maxwait_seconds)"
        " > {pgbouncer_max_wait_seconds}",
        "1m", "warning",
        "Clients of {{ $labels.database }}/{{ $labels.user }} wait more than"
        " {pgbouncer_max_wait_seconds} s for a server connection in {{ $labels.instance }}'s"
        " PgBouncer",
    ),
    Alert(
        "PostgreSQLLongTransaction", "pgfleet-postgresql",
        "pg_long_running_transactions_oldest_timestamp_seconds > {max_transaction_seconds}",
        "1m", "warning",
        "A transaction on {{ $labels.instance }} is older than {max_transaction_seconds} s",
    ),
    Alert(
        "PostgreSQLIdleInTransaction", "pgfleet-postgresql",
        "max by (instance, datname, usename)"
        ' (pg_stat_activity_max_tx_duration{{state=~"idle in transaction.*"}})'
        " > {max_idle_in_transaction_seconds}",
        "1m", "warning",
        "{{ $labels.usename }} holds a transaction idle for more than"
        " {max_idle_in_transaction_seconds} s in {{ $labels.datname }} on {{ $labels.instance }}",
    ),
    Alert(
        "PostgreSQLXidWraparound", "pgfleet-postgresql",
        "max by (instance, datname) (pg_database_wraparound_age_datfrozenxid_seconds)"
        " > {max_xid_age} and on (instance) pg_replication_is_replica == 0",
        "5m", "warning",
        "Database {{ $labels.datname }} on {{ $labels.instance }} has unfrozen transaction"
        " IDs older than {max_xid_age}",
    ),
    Alert(
        "RestoreDrillFailed", "pgfleet-backup",
        "pgfleet_drill_last_success == 0", "1m", "critical",
        "The last restore drill on {{ $labels.instance }} failed",
    ),
    Alert(
        "RestoreDrillTooOld", "pgfleet-backup",
        "time() - max by (instance) (pgfleet_drill_last_timestamp_seconds)"
        " > {max_drill_age_seconds}",
        "1h", "warning",
        "The last restore drill on {{ $labels.instance }} is older than"
        " {max_drill_age_days} days",
    ),
    Alert(
        "CertificateExpiringSoon", "pgfleet-host",
        "pgfleet_certificate_not_after_timestamp_seconds - time() < {certificate_seconds}",
        "1h", "warning",
        "{{ $labels.file }} on {{ $labels.instance }} expires within {certificate_days} days",
    ),
    Alert(
        "PatroniNoLeader", "pgfleet-patroni",
        "max by (scope) (patroni_cluster_unlocked) == 1", "1m", "critical",
        "Patroni cluster {{ $labels.scope }} has no leader",
        patroni_only=True,
    ),
    Alert(
        "PatroniFailsafeActive", "pgfleet-patroni",
        "max by (scope) (patroni_failsafe_mode_is_active) == 1", "1m", "warning",
        "Patroni cluster {{ $labels.scope }} runs in failsafe mode (etcd unreachable)",
        patroni_only=True,
    ),
    Alert(
        "EtcdUnreachable", "pgfleet-patroni",
        "pgfleet_etcd_metrics_readable == 0", "2m", "critical",
        "etcd on {{ $labels.instance }} does not answer on its client port",
        patroni_only=True,
    ),
    Alert(
        "EtcdNoQuorum", "pgfleet-patroni",
        "etcd_server_has_leader == 0", "1m", "critical",
        "etcd on {{ $labels.instance }} has no leader",
        patroni_only=True,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Record:
    """A recording rule: a capacity series Prometheus keeps, for dashboards and planning."""

    name: str
    expr: str
    meaning: str


# Capacity over time. Growth is deriv() over 6 h (a least-squares slope: one VACUUM FULL or
# a bulk load does not dominate it) scaled to a day. The dead-tuple ratio is the cheap,
# continuous bloat signal (what autovacuum has not reclaimed yet); the estimate of space
# already lost to bloat is in status.yml's weekly capacity report. pg_stat_statements has
# no percentiles (calls, total, mean, stddev, min, max per statement): the latency kept is
# the mean per database over 5 minutes, from the exporter's statements (its top 100 by
# total time).
RECORDS: tuple[Record, ...] = (
    Record(
        "pgfleet:database_size_bytes:growth_per_day",
        "deriv(pg_database_size_bytes[6h]) * 86400",
        "bytes a day each database grows (negative: shrinks), over the last 6 h",
    ),
    Record(
        "pgfleet:table_size_bytes:growth_per_day",
        "deriv(pg_stat_user_tables_size_bytes[6h]) * 86400",
        "bytes a day each table of the exporter's database grows, over the last 6 h",
    ),
    Record(
        "pgfleet:table_dead_tuples:ratio",
        "pg_stat_user_tables_n_dead_tup"
        " / clamp_min(pg_stat_user_tables_n_live_tup + pg_stat_user_tables_n_dead_tup, 1)",
        "the share of each table's tuples that are dead and not yet vacuumed",
    ),
    Record(
        "pgfleet:connections:used_ratio",
        "sum by (instance) (pg_stat_activity_count)"
        " / on (instance) max by (instance) (pg_settings_max_connections)",
        "connections in use on each node, as a share of max_connections",
    ),
    Record(
        "pgfleet:statement_mean_seconds:rate5m",
        "sum by (instance, datname) (rate(pg_stat_statements_seconds_total[5m]))"
        " / sum by (instance, datname) (rate(pg_stat_statements_calls_total[5m]) > 0)",
        "mean execution time of a statement in each database over 5 minutes",
    ),
)

# Settings the rules read: the first eight are status.yml's (postgresql_cluster.status),
# the rest the monitoring role's. Each is a number above 0; a percentage is below 100.
NUMBERS = (
    "max_lag_bytes", "max_lag_seconds", "max_archive_age_minutes", "max_full_age_hours",
    "max_backup_age_hours", "max_drill_age_days", "min_free_percent",
    "pgbouncer_max_wait_seconds", "max_transaction_seconds", "max_idle_in_transaction_seconds",
    "max_xid_age", "connections_percent", "certificate_days", "disk_predict_hours",
)  # fmt: skip
DURATION = re.compile(r"^(0|[1-9][0-9]*(ms|s|m|h|d))$")


def runbook_file(name: str) -> str:
    """The runbook's file name for an alert: PostgreSQLReplicaLagBytes ->
    postgresql-replica-lag-bytes.md."""
    words = re.findall(
        r"PostgreSQL|PgBackRest|PgBouncer|[A-Z][a-z]+|[0-9]+[a-z]*|[A-Z]+(?![a-z])", name
    )
    return "-".join(w.lower() for w in words) + ".md"


_METRIC = re.compile(r"\b(up|(?:pg|pgbackrest|pgbouncer|node|pgfleet|patroni|etcd)_[a-z0-9_]+)\b")


def metric_names(patroni: bool = False) -> list[str]:
    """The metric families the rules read, sorted (the Patroni and etcd ones only with
    ``patroni``): what the exporters must serve for the rules to mean anything."""
    exprs = [a.expr for a in ALERTS if patroni or not a.patroni_only] + [r.expr for r in RECORDS]
    return sorted(
        {name for expr in exprs for name in _METRIC.findall(re.sub(r"\{[a-z_]+\}", "", expr))}
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and number not in (float("inf"), float("-inf")) else None


def _text(number: float) -> str:
    return str(int(number)) if number == int(number) else repr(number)


def _mib(number: float) -> str:
    return f"{_text(number / 1048576)} MiB" if number % 1048576 == 0 else f"{_text(number)} bytes"


def alert_rule_problems(settings: Mapping[str, Any]) -> list[str]:
    """Every value the rules cannot use, naming its monitoring setting."""
    problems = []
    for key in NUMBERS:
        number = _number(settings.get(key))
        if number is None or number <= 0:
            problems.append(f"{key}: a number above 0; got {settings.get(key)!r}.")
        elif key.endswith("percent") and number >= 100:
            problems.append(f"{key}: a percentage below 100; got {settings.get(key)!r}.")
    overrides = settings.get("for") or {}
    if not isinstance(overrides, Mapping):
        problems.append(f"for: a mapping of alert name to duration; got {overrides!r}.")
        overrides = {}
    names = {a.name for a in ALERTS}
    for name, value in sorted(overrides.items()):
        if name not in names:
            problems.append(f"for: {name!r} is not an alert; the alerts are {sorted(names)}.")
        elif not DURATION.match(str(value)):
            problems.append(f"for.{name}: a Prometheus duration such as 30s or 5m; got {value!r}.")
    return problems


def alert_rules(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The rule file: one group per concern, each alert with its threshold filled in,
    its ``for:`` (``settings["for"][name]`` overrides the default), a severity, a
    summary and its runbook's URL (``settings["runbook_base_url"]`` + the file name).
    ``settings["patroni"]`` adds the Patroni and etcd rules."""
    problems = alert_rule_problems(settings)
    if problems:
        raise ValueError(" ".join(problems))
    n = {key: float(settings[key]) for key in NUMBERS}
    fields = {key: _text(value) for key, value in n.items()}
    fields.update(
        max_lag_bytes_text=_mib(n["max_lag_bytes"]),
        max_archive_age_seconds=_text(n["max_archive_age_minutes"] * 60),
        max_full_age_seconds=_text(n["max_full_age_hours"] * 3600),
        max_backup_age_seconds=_text(n["max_backup_age_hours"] * 3600),
        max_drill_age_seconds=_text(n["max_drill_age_days"] * 86400),
        certificate_seconds=_text(n["certificate_days"] * 86400),
        disk_predict_seconds=_text(n["disk_predict_hours"] * 3600),
    )
    base = str(settings.get("runbook_base_url") or "docs/runbooks").rstrip("/")
    overrides = settings.get("for") or {}
    groups: dict[str, list[dict[str, Any]]] = {}
    for alert in ALERTS:
        if alert.patroni_only and not settings.get("patroni"):
            continue
        rule: dict[str, Any] = {"alert": alert.name, "expr": alert.expr.format(**fields)}
        duration = str(overrides.get(alert.name, alert.for_))
        if duration != "0":
            rule["for"] = duration
        rule["labels"] = {"severity": alert.severity}
        rule["annotations"] = {
            "summary": alert.summary.replace("{{", "\0").replace("}}", "\1").format(**fields)
            .replace("\0", "{{").replace("\1", "}}"),
            "runbook_url": f"{base}/{runbook_file(alert.name)}",
        }  # fmt: skip
        groups.setdefault(alert.group, []).append(rule)
    groups["pgfleet-capacity"] = [{"record": r.name, "expr": r.expr} for r in RECORDS]
    return {"groups": [{"name": name, "rules": rules} for name, rules in groups.items()]}
