"""The read-only diagnosis of playbooks/diagnose.yml: the SQL, the rows read back, the
blocking tree and the report lines.

``collect(what, run)`` runs on the host (library/pg_diagnose.py, ``run`` a pgfleet.session
script call): every query goes in ``BEGIN READ ONLY; ...; COMMIT;`` on a session whose
options add ``default_transaction_read_only=on`` and a short ``lock_timeout`` to the
project's own (names resolve in pg_catalog only; every other object is schema-qualified).
``report(result, host, ...)`` runs on the controller (filter pg_diagnose_report) and turns
what the module read, the replicas' own views, PgBouncer's pools and the free space into
readable lines.

WHAT is one of WHATS:

- locks: every session waiting for a lock, and its blockers from pg_blocking_pids(), up to
  the root holders; the roots are named first, the one blocking the most sessions first.
- connections: client sessions by state, application, role and client address, against
  max_connections less superuser_reserved_connections and reserved_connections.
- space: the 20 largest relations (total, table, indexes, toast), a table bloat estimate
  (ioguix's query, from pg_stats), database sizes, pg_wal and its archive_status spool.
- replication: on a primary its replicas (state, sync state, lag in bytes and time, slot)
  and every slot; on a replica its WAL receiver (received/replayed LSN, timeline, delay).
- queries: the top 15 statements of pg_stat_statements by total and by mean time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .pgbouncer import status_report
from .quoting import quote_ident
from .session import SessionError, parse_csv

WHATS = ("locks", "connections", "space", "replication", "queries")
# Added to the project's session options (pgfleet.session keeps its own last): nothing the
# session runs may write, a diagnosis never queues long behind a lock it reads through
# (the sizes of a relation someone holds exclusively are estimated instead), and its own
# statements stay out of pg_stat_statements (a superuser's setting; a placeholder where the
# library is not loaded).
SESSION_OPTIONS = (
    "-c default_transaction_read_only=on -c lock_timeout=2000 -c pg_stat_statements.track=none"
)
# The session names itself in pg_stat_activity (psql's own application_name would win over
# a startup option).
APPLICATION_NAME = "pgfleet-diagnose"
QUERY_CHARS = 200
TOP_RELATIONS = 20
TOP_STATEMENTS = 15
TOP_LINES = 10


# --- the request ---------------------------------------------------------------------------


def refusal(value: Any) -> str:
    """Why ``-e diagnose=VALUE`` is refused, naming diagnose and the allowed values; ''
    when VALUE is one of them."""
    if isinstance(value, str) and value in WHATS:
        return ""
    allowed = ", ".join(WHATS)
    if value is None or value == "":
        return (
            f"diagnose is not set: playbooks/diagnose.yml -e diagnose=WHAT, WHAT one of {allowed}"
        )
    return f"diagnose: {value!r} is not one of {allowed} (playbooks/diagnose.yml -e diagnose=WHAT)"


# --- rows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One query: its name, its columns (name, kind) in order, and its SQL. Kinds: text,
    int, float, bool, pids (an int[] as psql prints it, {1,2})."""

    name: str
    columns: tuple[tuple[str, str], ...]
    sql: str

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]


def read_only(sql: str, application_name: str = APPLICATION_NAME) -> str:
    """The script psql runs: the session's name, then the query inside a READ ONLY
    transaction."""
    return (
        f"SET application_name = '{application_name}';\n"
        f"BEGIN READ ONLY;\n{sql.strip().rstrip(';')};\nCOMMIT;\n"
    )


def parse_pids(text: str) -> list[int]:
    """An int[] as psql prints it ({1,2}; '' or {} for none)."""
    inner = text.strip().strip("{}")
    return [int(p) for p in inner.split(",") if p.strip()] if inner else []


def _value(query: Query, name: str, kind: str, text: str) -> Any:
    if kind == "text":
        return text
    if kind == "pids":
        try:
            return parse_pids(text)
        except ValueError:
            raise InputError(f"{query.name}.{name}: {text!r} is not a list of pids") from None
    if text == "":
        return None
    if kind == "bool":
        if text not in ("t", "f"):
            raise InputError(f"{query.name}.{name}: {text!r} is not a boolean (t or f)")
        return text == "t"
    try:
        return int(text) if kind == "int" else float(text)
    except ValueError:
        what = "a whole number" if kind == "int" else "a number"
        raise InputError(f"{query.name}.{name}: {text!r} is not {what}") from None


def parse_rows(data: str | Sequence[Sequence[str]], query: Query) -> list[dict[str, Any]]:
    """psql's --csv -t output (text, or the rows pgfleet.session already read) as one dict
    per row, by the query's columns; NULL and '' read as None for every kind but text."""
    rows = parse_csv(data) if isinstance(data, str) else data
    out = []
    for row in rows:
        if len(row) != len(query.columns):
            raise InputError(
                f"{query.name}: a row of {len(row)} columns, expected {len(query.columns)} "
                f"({', '.join(query.names)})"
            )
        out.append(
            {
                name: _value(query, name, kind, text)
                for (name, kind), text in zip(query.columns, row, strict=True)
            }
        )
    return out


_PASSWORD = re.compile(r"(?i)(\bpassword\s+)'(?:[^']|'')*'")


def short_query(text: str | None, limit: int = QUERY_CHARS) -> str:
    """A query text for the report: a password literal masked, the first ``limit`` chars."""
    return _PASSWORD.sub(r"\1'***'", text or "")[:limit]


def one_line(text: str | None) -> str:
    """Whitespace (newlines included) collapsed, for a report line."""
    return " ".join((text or "").split())


# --- the SQL -------------------------------------------------------------------------------
#
# Every name is in pg_catalog (the session's only schema) or schema-qualified.

SERVER = Query(
    "server",
    (("in_recovery", "bool"), ("version", "text"), ("database", "text"), ("now", "text")),
    """SELECT pg_catalog.pg_is_in_recovery(), pg_catalog.current_setting('server_version'),
       pg_catalog.current_database(), pg_catalog.now()::pg_catalog.text""",
)


def _behind(lsn: str) -> str:
    return f"pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), {lsn})::pg_catalog.int8"


def _seconds(interval: str, digits: int = 3) -> str:
    return f"pg_catalog.round(EXTRACT(epoch FROM {interval})::pg_catalog.numeric, {digits})"


def _lock_target(alias: str) -> str:
    """What a pg_locks row is on, as text: 'relation app.t', 'a row of app.t', ... A
    relation of another database is named by its oid and database."""
    relation = f"""CASE WHEN {alias}.database IN (0, (SELECT d.oid FROM pg_catalog.pg_database AS d
                                               WHERE d.datname = pg_catalog.current_database()))
                THEN {alias}.relation::pg_catalog.regclass::pg_catalog.text
                ELSE 'oid ' || {alias}.relation || ' in database '
                     || coalesce((SELECT d.datname FROM pg_catalog.pg_database AS d
                                   WHERE d.oid = {alias}.database)::pg_catalog.text, '?') END"""
    return f"""CASE {alias}.locktype
         WHEN 'relation' THEN 'relation ' || {relation}
         WHEN 'tuple' THEN 'a row of ' || {relation}
         WHEN 'page' THEN 'a page of ' || {relation}
         WHEN 'extend' THEN 'the extension of ' || {relation}
         WHEN 'transactionid' THEN 'transaction ' || {alias}.transactionid
         WHEN 'virtualxid' THEN 'virtual transaction ' || {alias}.virtualxid
         ELSE {alias}.locktype END"""


_SAME_OBJECT = " AND ".join(
    f"h.{c} IS NOT DISTINCT FROM w.{c}"
    for c in (
        "locktype",
        "database",
        "relation",
        "page",
        "tuple",
        "virtualxid",
        "transactionid",
        "classid",
        "objid",
        "objsubid",
    )
)

# Every waiting session and every session it waits for (pid 0: a prepared transaction; a
# pid without a session row: it ended in between). For each: who, how old its transaction,
# what it waits on, the lock it wants, and the locks it holds on what someone wants.
LOCKS = Query(
    "locks",
    (
        ("pid", "int"),
        ("blockers", "pids"),
        ("present", "bool"),
        ("role", "text"),
        ("application", "text"),
        ("client", "text"),
        ("backend_type", "text"),
        ("state", "text"),
        ("xact_age_s", "float"),
        ("wait_event", "text"),
        ("wants_mode", "text"),
        ("wants_target", "text"),
        ("holds", "text"),
        ("query", "text"),
    ),
    f"""WITH waiting AS (
  SELECT a.pid, pg_catalog.pg_blocking_pids(a.pid) AS blockers
    FROM pg_catalog.pg_stat_activity AS a
   WHERE a.wait_event_type = 'Lock' AND a.pid <> pg_catalog.pg_backend_pid()
), involved AS (
  SELECT w.pid FROM waiting AS w
  UNION
  SELECT b.pid FROM waiting AS w CROSS JOIN LATERAL pg_catalog.unnest(w.blockers) AS b(pid)
), wanted AS (
  SELECT l.* FROM pg_catalog.pg_locks AS l
   WHERE NOT l.granted AND l.pid IN (SELECT w.pid FROM waiting AS w)
)
SELECT i.pid,
       coalesce(wt.blockers, '{{}}'::pg_catalog.int4[])::pg_catalog.text,
       a.pid IS NOT NULL,
       a.usename::pg_catalog.text,
       a.application_name,
       CASE WHEN a.pid IS NULL THEN NULL WHEN a.client_addr IS NULL THEN 'local'
            ELSE pg_catalog.host(a.client_addr) END,
       a.backend_type,
       a.state,
       {_seconds("pg_catalog.now() - a.xact_start", 1)},
       a.wait_event_type || ':' || a.wait_event,
       (SELECT w.mode FROM wanted AS w WHERE w.pid = i.pid LIMIT 1),
       (SELECT {_lock_target("w")} FROM wanted AS w WHERE w.pid = i.pid LIMIT 1),
       (SELECT pg_catalog.string_agg(DISTINCT h.mode || ' on ' || {_lock_target("h")}, ', ')
          FROM pg_catalog.pg_locks AS h JOIN wanted AS w ON {_SAME_OBJECT}
         WHERE h.pid = i.pid AND h.granted),
       pg_catalog.substr(a.query, 1, {QUERY_CHARS})
  FROM involved AS i
  LEFT JOIN pg_catalog.pg_stat_activity AS a ON a.pid = i.pid
  LEFT JOIN waiting AS wt ON wt.pid = i.pid
 ORDER BY i.pid""",
)

CONNECTION_LIMITS = Query(
    "connection_limits",
    (
        ("max_connections", "int"),
        ("superuser_reserved", "int"),
        ("reserved", "int"),
        ("clients", "int"),
        ("idle_in_transaction", "int"),
        ("longest_xact_s", "float"),
    ),
    """SELECT pg_catalog.current_setting('max_connections')::pg_catalog.int4,
       pg_catalog.current_setting('superuser_reserved_connections')::pg_catalog.int4,
       coalesce(pg_catalog.current_setting('reserved_connections', true), '0')::pg_catalog.int4,
       pg_catalog.count(*),
       pg_catalog.count(*) FILTER (WHERE a.state LIKE 'idle in transaction%'),
       pg_catalog.round(EXTRACT(epoch FROM pg_catalog.max(pg_catalog.now() - a.xact_start))
                        ::pg_catalog.numeric, 1)
  FROM pg_catalog.pg_stat_activity AS a
 WHERE a.backend_type = 'client backend'""",
)

# Client backends (what max_connections counts), this diagnosis's own session included.
CONNECTION_COUNTS = Query(
    "connection_counts",
    (("dimension", "text"), ("key", "text"), ("sessions", "int")),
    """SELECT k.dimension, k.key, pg_catalog.count(*)
  FROM pg_catalog.pg_stat_activity AS a
  CROSS JOIN LATERAL (VALUES
    ('state', coalesce(a.state, '')),
    ('application', a.application_name),
    ('role', coalesce(a.usename::pg_catalog.text, '')),
    ('client', CASE WHEN a.client_addr IS NULL THEN 'local'
                    ELSE pg_catalog.host(a.client_addr) END)) AS k(dimension, key)
 WHERE a.backend_type = 'client backend'
 GROUP BY k.dimension, k.key
 ORDER BY k.dimension, 3 DESC, k.key""",
)

_RELATION_COLUMNS = (
    ("schema", "text"),
    ("name", "text"),
    ("kind", "text"),
    ("total", "int"),
    ("table", "int"),
    ("indexes", "int"),
    ("toast", "int"),
)

# The sizes take an AccessShareLock on each relation for a moment: behind a relation held
# exclusively the session's lock_timeout ends the query, and RELATIONS_ESTIMATED answers.
RELATIONS = Query(
    "relations",
    _RELATION_COLUMNS,
    f"""SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text, c.relkind::pg_catalog.text,
       s.total, s.total - s.indexes - s.toast, s.indexes, s.toast
  FROM pg_catalog.pg_class AS c
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
  CROSS JOIN LATERAL (
    SELECT pg_catalog.pg_total_relation_size(c.oid) AS total,
           pg_catalog.pg_indexes_size(c.oid) AS indexes,
           CASE WHEN c.reltoastrelid = 0 THEN 0
                ELSE pg_catalog.pg_total_relation_size(c.reltoastrelid) END AS toast) AS s
 WHERE c.relkind IN ('r', 'm') AND s.total IS NOT NULL
 ORDER BY s.total DESC, 1, 2
 LIMIT {TOP_RELATIONS}""",
)

# From pg_class's page counts (as of the last VACUUM or ANALYZE): no lock taken.
RELATIONS_ESTIMATED = Query(
    "relations_estimated",
    _RELATION_COLUMNS,
    f"""SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text, c.relkind::pg_catalog.text,
       s.heap + s.indexes + s.toast, s.heap, s.indexes, s.toast
  FROM pg_catalog.pg_class AS c
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
  CROSS JOIN LATERAL (
    SELECT pg_catalog.current_setting('block_size')::pg_catalog.int8 AS bs) AS b
  CROSS JOIN LATERAL (
    SELECT c.relpages::pg_catalog.int8 * b.bs AS heap,
           coalesce((SELECT pg_catalog.sum(i.relpages)::pg_catalog.int8
                       FROM pg_catalog.pg_index AS x
                       JOIN pg_catalog.pg_class AS i ON i.oid = x.indexrelid
                      WHERE x.indrelid = c.oid), 0) * b.bs AS indexes,
           coalesce((SELECT t.relpages::pg_catalog.int8 FROM pg_catalog.pg_class AS t
                      WHERE t.oid = c.reltoastrelid), 0) * b.bs AS toast) AS s
 WHERE c.relkind IN ('r', 'm')
 ORDER BY 4 DESC, 1, 2
 LIMIT {TOP_RELATIONS}""",
)

# Table bloat, estimated from pg_stats without reading the tables: the table query of
# ioguix's pgsql-bloat-estimation (Jehan-Guillaume de Rorthais, BSD 2-clause),
# https://github.com/ioguix/pgsql-bloat-estimation/blob/master/table/table_bloat.sql, as of
# its PostgreSQL 12+ form (no WITH OIDS tables), every name schema-qualified here, limited
# to the tables of application schemas, with a table never analyzed (reltuples -1) marked
# not applicable, and sorted by the estimated bloat. is_na: the estimate is unreliable
# (a column of type name, or a column without statistics).
TABLE_BLOAT = Query(
    "table_bloat",
    (
        ("schema", "text"),
        ("name", "text"),
        ("real_size", "int"),
        ("bloat_size", "int"),
        ("bloat_pct", "float"),
        ("fillfactor", "int"),
        ("is_na", "bool"),
    ),
    f"""SELECT schemaname, tblname, (bs * tblpages)::pg_catalog.int8 AS real_size,
       GREATEST((tblpages - est_tblpages_ff) * bs, 0)::pg_catalog.int8 AS bloat_size,
       pg_catalog.round((CASE WHEN tblpages > 0 AND tblpages - est_tblpages_ff > 0
                              THEN 100 * (tblpages - est_tblpages_ff) / tblpages
                              ELSE 0 END)::pg_catalog.numeric, 1) AS bloat_pct,
       fillfactor, is_na
FROM (
  SELECT pg_catalog.ceil(reltuples / ((bs - page_hdr) / tpl_size))
           + pg_catalog.ceil(toasttuples / 4) AS est_tblpages,
         pg_catalog.ceil(reltuples / ((bs - page_hdr) * fillfactor / (tpl_size * 100)))
           + pg_catalog.ceil(toasttuples / 4) AS est_tblpages_ff,
         tblpages, fillfactor, bs, tblid, schemaname, tblname, heappages, toastpages, is_na
  FROM (
    SELECT (4 + tpl_hdr_size + tpl_data_size + (2 * ma)
            - CASE WHEN tpl_hdr_size % ma = 0 THEN ma ELSE tpl_hdr_size % ma END
            - CASE WHEN pg_catalog.ceil(tpl_data_size)::pg_catalog.int4 % ma = 0 THEN ma
                   ELSE pg_catalog.ceil(tpl_data_size)::pg_catalog.int4 % ma END
           ) AS tpl_size,
           bs - page_hdr AS size_per_block, (heappages + toastpages) AS tblpages, heappages,
           toastpages, reltuples, toasttuples, bs, page_hdr, tblid, schemaname, tblname,
           fillfactor, is_na
    FROM (
      SELECT tbl.oid AS tblid, ns.nspname::pg_catalog.text AS schemaname,
             tbl.relname::pg_catalog.text AS tblname, tbl.reltuples,
             tbl.relpages AS heappages, coalesce(toast.relpages, 0) AS toastpages,
             coalesce(toast.reltuples, 0) AS toasttuples,
             coalesce(pg_catalog.substring(pg_catalog.array_to_string(tbl.reloptions, ' '),
                                           'fillfactor=([0-9]+)')::pg_catalog.int2, 100)
               AS fillfactor,
             pg_catalog.current_setting('block_size')::pg_catalog.numeric AS bs,
             CASE WHEN pg_catalog.version() ~ 'mingw32'
                       OR pg_catalog.version() ~ '64-bit|x86_64|ppc64|ia64|amd64'
                  THEN 8 ELSE 4 END AS ma,
             24 AS page_hdr,
             23 + CASE WHEN pg_catalog.max(coalesce(s.null_frac, 0)) > 0
                       THEN (7 + pg_catalog.count(s.attname)) / 8 ELSE 0::pg_catalog.int4 END
               AS tpl_hdr_size,
             pg_catalog.sum((1 - coalesce(s.null_frac, 0)) * coalesce(s.avg_width, 0))
               AS tpl_data_size,
             pg_catalog.bool_or(att.atttypid = 'pg_catalog.name'::pg_catalog.regtype)
               OR pg_catalog.sum(CASE WHEN att.attnum > 0 THEN 1 ELSE 0 END)
                  <> pg_catalog.count(s.attname)
               OR tbl.reltuples < 0 AS is_na
        FROM pg_catalog.pg_attribute AS att
        JOIN pg_catalog.pg_class AS tbl ON att.attrelid = tbl.oid
        JOIN pg_catalog.pg_namespace AS ns ON ns.oid = tbl.relnamespace
        LEFT JOIN pg_catalog.pg_stats AS s
               ON s.schemaname = ns.nspname AND s.tablename = tbl.relname
              AND s.inherited = false AND s.attname = att.attname
        LEFT JOIN pg_catalog.pg_class AS toast ON tbl.reltoastrelid = toast.oid
       WHERE NOT att.attisdropped AND att.attnum > 0
         AND tbl.relkind IN ('r', 'm')
         AND ns.nspname NOT IN ('pg_catalog', 'information_schema')
         AND ns.nspname !~ '^pg_toast'
       GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
    ) AS s
  ) AS s2
) AS s3
ORDER BY bloat_size DESC, schemaname, tblname
LIMIT {TOP_RELATIONS}""",
)

DATABASES = Query(
    "databases",
    (("name", "text"), ("size", "int")),
    """SELECT d.datname::pg_catalog.text, pg_catalog.pg_database_size(d.oid)
  FROM pg_catalog.pg_database AS d
 WHERE d.datallowconn
 ORDER BY 2 DESC, 1""",
)

# pg_ls_waldir() and pg_ls_archive_statusdir() need pg_monitor or a superuser: the session
# is postgres'. A .ready file is a segment waiting for archive_command.
WAL = Query(
    "wal",
    (
        ("files", "int"),
        ("bytes", "int"),
        ("ready", "int"),
        ("done", "int"),
        ("oldest_ready_s", "float"),
        ("archive_mode", "text"),
        ("failed_count", "int"),
        ("last_failed_wal", "text"),
        ("last_archived_wal", "text"),
    ),
    """SELECT (SELECT pg_catalog.count(*) FROM pg_catalog.pg_ls_waldir()),
       (SELECT coalesce(pg_catalog.sum(w.size), 0)::pg_catalog.int8
          FROM pg_catalog.pg_ls_waldir() AS w),
       (SELECT pg_catalog.count(*) FROM pg_catalog.pg_ls_archive_statusdir() AS r
         WHERE r.name LIKE '%.ready'),
       (SELECT pg_catalog.count(*) FROM pg_catalog.pg_ls_archive_statusdir() AS r
         WHERE r.name LIKE '%.done'),
       (SELECT pg_catalog.round(EXTRACT(epoch FROM pg_catalog.now()
                                        - pg_catalog.min(r.modification))::pg_catalog.numeric, 1)
          FROM pg_catalog.pg_ls_archive_statusdir() AS r WHERE r.name LIKE '%.ready'),
       pg_catalog.current_setting('archive_mode'),
       ar.failed_count, ar.last_failed_wal, ar.last_archived_wal
  FROM pg_catalog.pg_stat_archiver AS ar""",
)

PRIMARY = Query(
    "primary",
    (("current_lsn", "text"), ("timeline", "int")),
    """SELECT pg_catalog.pg_current_wal_lsn()::pg_catalog.text,
       ('x' || pg_catalog.substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()),
                                 1, 8))::pg_catalog.bit(32)::pg_catalog.int4""",
)


REPLICAS = Query(
    "replicas",
    (
        ("name", "text"),
        ("client", "text"),
        ("state", "text"),
        ("sync_state", "text"),
        ("sent_lsn", "text"),
        ("write_lsn", "text"),
        ("flush_lsn", "text"),
        ("replay_lsn", "text"),
        ("sent_bytes", "int"),
        ("write_bytes", "int"),
        ("flush_bytes", "int"),
        ("replay_bytes", "int"),
        ("write_lag_s", "float"),
        ("flush_lag_s", "float"),
        ("replay_lag_s", "float"),
        ("slot", "text"),
        ("slot_active", "bool"),
        ("wal_status", "text"),
        ("safe_wal_size", "int"),
        ("reply_age_s", "float"),
    ),
    f"""SELECT r.application_name,
       CASE WHEN r.client_addr IS NULL THEN 'local' ELSE pg_catalog.host(r.client_addr) END,
       r.state, r.sync_state,
       r.sent_lsn::pg_catalog.text, r.write_lsn::pg_catalog.text,
       r.flush_lsn::pg_catalog.text, r.replay_lsn::pg_catalog.text,
       {_behind("r.sent_lsn")}, {_behind("r.write_lsn")},
       {_behind("r.flush_lsn")}, {_behind("r.replay_lsn")},
       {_seconds("r.write_lag")}, {_seconds("r.flush_lag")}, {_seconds("r.replay_lag")},
       s.slot_name::pg_catalog.text, s.active, s.wal_status, s.safe_wal_size,
       {_seconds("pg_catalog.now() - r.reply_time", 1)}
  FROM pg_catalog.pg_stat_replication AS r
  LEFT JOIN pg_catalog.pg_replication_slots AS s ON s.active_pid = r.pid
 ORDER BY 1, 2""",
)

# invalidation_reason is PostgreSQL 17's: read through to_jsonb so an older server answers.
SLOTS = Query(
    "slots",
    (
        ("name", "text"),
        ("type", "text"),
        ("active", "bool"),
        ("active_pid", "int"),
        ("wal_status", "text"),
        ("safe_wal_size", "int"),
        ("restart_lsn", "text"),
        ("retained_bytes", "int"),
        ("invalidation_reason", "text"),
    ),
    f"""SELECT s.slot_name::pg_catalog.text, s.slot_type, s.active, s.active_pid, s.wal_status,
       s.safe_wal_size, s.restart_lsn::pg_catalog.text, {_behind("s.restart_lsn")},
       pg_catalog.to_jsonb(s) ->> 'invalidation_reason'
  FROM pg_catalog.pg_replication_slots AS s
 ORDER BY 1""",
)

# A replica's own view: one row, with NULLs when no WAL receiver runs.
RECEIVER = Query(
    "receiver",
    (
        ("status", "text"),
        ("sender_host", "text"),
        ("sender_port", "int"),
        ("slot", "text"),
        ("received_tli", "int"),
        ("receive_lsn", "text"),
        ("replay_lsn", "text"),
        ("replay_behind_bytes", "int"),
        ("last_replay_age_s", "float"),
        ("last_message_age_s", "float"),
        ("checkpoint_timeline", "int"),
        ("replay_pause", "text"),
    ),
    f"""SELECT r.status, r.sender_host, r.sender_port, r.slot_name, r.received_tli,
       pg_catalog.pg_last_wal_receive_lsn()::pg_catalog.text,
       pg_catalog.pg_last_wal_replay_lsn()::pg_catalog.text,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_last_wal_receive_lsn(),
                                  pg_catalog.pg_last_wal_replay_lsn())::pg_catalog.int8,
       {_seconds("pg_catalog.now() - pg_catalog.pg_last_xact_replay_timestamp()", 1)},
       {_seconds("pg_catalog.clock_timestamp() - r.last_msg_receipt_time", 1)},
       (SELECT c.timeline_id FROM pg_catalog.pg_control_checkpoint() AS c),
       pg_catalog.pg_get_wal_replay_pause_state()
  FROM (SELECT 1) AS one
  LEFT JOIN pg_catalog.pg_stat_wal_receiver AS r ON true""",
)

# Where pg_stat_statements lives in this database, and whether the server loaded it.
STATEMENTS_EXTENSION = Query(
    "statements_extension",
    (("schema", "text"), ("loaded", "bool")),
    """SELECT n.nspname::pg_catalog.text,
       'pg_stat_statements' = ANY (pg_catalog.string_to_array(pg_catalog.replace(
           pg_catalog.current_setting('shared_preload_libraries'), ' ', ''), ','))
  FROM pg_catalog.pg_extension AS e
  JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace
 WHERE e.extname = 'pg_stat_statements'""",
)

_STATEMENT_COLUMNS = (
    ("database", "text"),
    ("role", "text"),
    ("calls", "int"),
    ("total_ms", "float"),
    ("mean_ms", "float"),
    ("rows", "int"),
    ("hit_pct", "float"),
    ("query", "text"),
)
_ORDER = {"total": "s.total_exec_time", "mean": "s.mean_exec_time"}


def statements_query(schema: str, order: str) -> Query:
    """The top statements of pg_stat_statements in ``schema`` (where its extension lives),
    by total or by mean execution time. shared_blks_hit ratio: hit / (hit + read)."""
    return Query(
        f"statements_{order}",
        _STATEMENT_COLUMNS,
        f"""SELECT d.datname::pg_catalog.text, r.rolname::pg_catalog.text, s.calls,
       pg_catalog.round(s.total_exec_time::pg_catalog.numeric, 1),
       pg_catalog.round(s.mean_exec_time::pg_catalog.numeric, 2),
       s.rows,
       CASE WHEN s.shared_blks_hit + s.shared_blks_read > 0
            THEN pg_catalog.round(100.0 * s.shared_blks_hit
                                  / (s.shared_blks_hit + s.shared_blks_read), 1) END,
       pg_catalog.substr(s.query, 1, {QUERY_CHARS})
  FROM {quote_ident(schema)}.pg_stat_statements AS s
  LEFT JOIN pg_catalog.pg_database AS d ON d.oid = s.dbid
  LEFT JOIN pg_catalog.pg_roles AS r ON r.oid = s.userid
 ORDER BY {_ORDER[order]} DESC, s.calls DESC
 LIMIT {TOP_STATEMENTS}""",
    )


QUERIES = (
    SERVER,
    LOCKS,
    CONNECTION_LIMITS,
    CONNECTION_COUNTS,
    RELATIONS,
    RELATIONS_ESTIMATED,
    TABLE_BLOAT,
    DATABASES,
    WAL,
    PRIMARY,
    REPLICAS,
    SLOTS,
    RECEIVER,
    STATEMENTS_EXTENSION,
)


# --- the blocking tree ---------------------------------------------------------------------

MAX_DEPTH = 50


def blocking_tree(sessions: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Who blocks whom, from the LOCKS rows (pid, blockers, ... per session).

    roots: the sessions that block others without waiting for a lock themselves, the one
    blocking the most sessions (directly or not) first; each node is the session's row with
    ``blocks`` (the nodes of the sessions waiting for it), ``blocked_total`` on a root,
    ``gone`` for a blocker without a session (it ended while this was read; pid 0 is a
    prepared transaction). A waiter behind two blockers is expanded under the first only
    (``repeated`` under the others). When waiters remain that no root reaches, they wait in
    a cycle (a deadlock the server has not broken yet): the lowest pid of each cycle is a
    root with ``cycle`` true, and a node met again on its own path is not descended into.
    waiting: how many sessions wait."""
    rows = {int(s["pid"]): dict(s) for s in sessions}
    waits = {pid: list(dict.fromkeys(row.get("blockers") or [])) for pid, row in rows.items()}
    waits = {pid: blockers for pid, blockers in waits.items() if blockers}
    children: dict[int, list[int]] = {}
    for pid in sorted(waits):
        for blocker in waits[pid]:
            children.setdefault(blocker, []).append(pid)

    def reach(pid: int) -> set[int]:
        seen: set[int] = set()
        todo = list(children.get(pid, []))
        while todo:
            nxt = todo.pop()
            if nxt not in seen:
                seen.add(nxt)
                todo += children.get(nxt, [])
        seen.discard(pid)
        return seen

    expanded: set[int] = set()

    def node(pid: int, path: frozenset[int], depth: int) -> dict[str, Any]:
        row = rows.get(pid)
        out: dict[str, Any] = dict(row) if row else {"pid": pid, "blockers": []}
        out["gone"] = row is None or row.get("present") is False
        if pid in path:
            out["cycle"] = True
            return out
        if pid in expanded:
            out["repeated"] = True
            return out
        expanded.add(pid)
        if depth >= MAX_DEPTH:
            out["truncated"] = True
            return out
        out["blocks"] = [node(c, path | {pid}, depth + 1) for c in children.get(pid, [])]
        return out

    blockers = {b for bs in waits.values() for b in bs}
    root_pids = sorted((b for b in blockers if b not in waits), key=lambda p: (-len(reach(p)), p))
    roots = []
    for pid in root_pids:
        root = node(pid, frozenset(), 0)
        root["blocked_total"] = len(reach(pid))
        roots.append(root)
    while set(waits) - expanded:  # waiters in a cycle, which no root reaches
        pid = min(set(waits) - expanded)
        root = node(pid, frozenset(), 0)
        root["cycle"] = True
        root["blocked_total"] = len(reach(pid) | {pid}) - 1
        roots.append(root)
    return {"roots": roots, "waiting": len(waits)}


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def _age(row: Mapping[str, Any]) -> str:
    age = row.get("xact_age_s")
    return "no transaction" if age is None else f"{age:.1f} s"


def _who(row: Mapping[str, Any]) -> str:
    return (
        f"pid {row['pid']} ({row.get('role') or '-'}, {row.get('application') or '-'}, {_age(row)})"
    )


def lock_lines(tree: Mapping[str, Any]) -> list[str]:
    """The blocking tree as report lines: a summary, then each root ("root blocker pid N
    (role, app, age s): query") with its state and the locks it holds, then the sessions
    waiting for it, indented by depth."""
    roots = tree.get("roots") or []
    if not roots:
        return ["no session waits for a lock"]
    lines = [
        f"{_plural(tree['waiting'], 'session')} {'waits' if tree['waiting'] == 1 else 'wait'} "
        f"for a lock, behind {_plural(len(roots), 'root blocker')}"
    ]

    def walk(nodes: Sequence[Mapping[str, Any]], depth: int) -> None:
        for n in nodes:
            pad = "  " * depth
            head = f"{pad}<- {_who(n)}"
            if n.get("cycle"):
                lines.append(f"{head} (the cycle closes here: a deadlock)")
                continue
            if n.get("repeated"):
                lines.append(f"{head} (also waits for another blocker, shown above)")
                continue
            wants = (
                f"{n['wants_mode']} on {n.get('wants_target') or '-'}"
                if n.get("wants_mode")
                else "a lock"
            )
            lines.append(
                f"{head} waits for {wants} ({n.get('wait_event') or '-'}, client "
                f"{n.get('client') or '-'}): {one_line(short_query(n.get('query')))}"
            )
            if n.get("truncated"):
                lines.append(f"{pad}  ... (deeper waiters not shown)")
            walk(n.get("blocks") or [], depth + 1)

    for root in roots:
        if root["pid"] == 0:
            lines.append(
                "root blocker: a prepared transaction (pid 0; see pg_catalog.pg_prepared_xacts, "
                "then COMMIT PREPARED or ROLLBACK PREPARED)"
            )
        elif root.get("gone"):
            lines.append(
                f"root blocker pid {root['pid']} (gone: it ended while this was read; its "
                "waiters should get their locks now)"
            )
        else:
            prefix = (
                "cycle (a deadlock the server breaks after deadlock_timeout): "
                if root.get("cycle")
                else ""
            )
            lines.append(
                f"{prefix}root blocker {_who(root)}: {one_line(short_query(root.get('query')))}"
            )
            detail = (
                f"{root.get('state') or '-'}, {root.get('wait_event') or 'not waiting'}, "
                f"client {root.get('client') or '-'}"
            )
            holds = f"; holds {root['holds']}" if root.get("holds") else ""
            lines.append(f"    {detail}{holds}")
        walk(root.get("blocks") or [], 1)
    return lines


# --- collect (on the host) -----------------------------------------------------------------

# A psql script in, its CSV rows out (Session.script(sql).rows).
Run = Callable[[str], Any]


def _rows(run: Run, query: Query) -> list[dict[str, Any]]:
    return parse_rows(run(read_only(query.sql)), query)


def _one(run: Run, query: Query) -> dict[str, Any]:
    rows = _rows(run, query)
    if len(rows) != 1:
        raise InputError(f"{query.name}: {len(rows)} rows, expected one")
    return rows[0]


def _locked(exc: SessionError) -> bool:
    return "lock timeout" in f"{exc} {exc.stderr}"


def collect(what: str, run: Run) -> dict[str, Any]:
    """Everything ``what`` needs from one server: {in_recovery, sections}. ``run`` takes a
    psql script and returns its CSV rows (Session.script(...).rows); every query is sent
    in its own READ ONLY transaction. SessionError propagates, but for the sizes of the
    largest relations, which a lock timeout turns into estimates."""
    problem = refusal(what)
    if problem:
        raise InputError(problem)
    server = _one(run, SERVER)
    sections: dict[str, Any] = {"server": server}
    if what == "locks":
        sessions = _rows(run, LOCKS)
        for row in sessions:  # a password literal never leaves the host
            row["query"] = short_query(row["query"])
        sections["locks"] = {"sessions": sessions, "tree": blocking_tree(sessions)}
    elif what == "connections":
        counts: dict[str, dict[str, int]] = {
            "state": {},
            "application": {},
            "role": {},
            "client": {},
        }
        for row in _rows(run, CONNECTION_COUNTS):
            counts.setdefault(row["dimension"], {})[row["key"]] = row["sessions"]
        sections["connections"] = {
            "limits": _one(run, CONNECTION_LIMITS),
            "by_state": counts["state"],
            "by_application": counts["application"],
            "by_role": counts["role"],
            "by_client": counts["client"],
        }
    elif what == "space":
        estimated = False
        try:
            relations = _rows(run, RELATIONS)
        except SessionError as exc:
            if not _locked(exc):
                raise
            relations, estimated = _rows(run, RELATIONS_ESTIMATED), True
        sections["space"] = {
            "relations": relations,
            "relations_estimated": estimated,
            "bloat": _rows(run, TABLE_BLOAT),
            "databases": _rows(run, DATABASES),
            "wal": _one(run, WAL),
        }
    elif what == "replication":
        if server["in_recovery"]:
            sections["replication"] = {"receiver": _one(run, RECEIVER)}
        else:
            sections["replication"] = {
                "primary": _one(run, PRIMARY),
                "replicas": _rows(run, REPLICAS),
                "slots": _rows(run, SLOTS),
            }
    else:
        found = _rows(run, STATEMENTS_EXTENSION)
        section: dict[str, Any] = {"extension": found[0] if found else None, "by_total": [],
                                   "by_mean": [], "missing": ""}  # fmt: skip
        if not found:
            section["missing"] = (
                f"pg_stat_statements is not installed in database {server['database']} "
                "(CREATE EXTENSION pg_stat_statements there; the server must load it through "
                "shared_preload_libraries)"
            )
        elif not found[0]["loaded"]:
            section["missing"] = (
                f"pg_stat_statements is installed in database {server['database']} but the "
                "server does not load it (shared_preload_libraries; a restart)"
            )
        else:
            schema = found[0]["schema"]
            for order in ("total", "mean"):
                rows = _rows(run, statements_query(schema, order))
                for row in rows:
                    row["query"] = short_query(row["query"])
                section[f"by_{order}"] = rows
        sections["queries"] = section
    return {"in_recovery": bool(server["in_recovery"]), "sections": sections}


# --- the report (on the controller) --------------------------------------------------------


def size(n: Any) -> str:
    """Bytes as the report shows them: 0 B, 4.0 KiB, 1.5 GiB; '-' for unknown."""
    if n is None:
        return "-"
    n = int(n)
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _counts(counts: Mapping[str, int]) -> str:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{key or '(none)'} {n}" for key, n in ordered) or "none"


def _num(value: Any, digits: int = 3) -> str:
    """A number without trailing zeros: 1234.5, 0.001, 12."""
    text = f"{float(value):.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _seconds_text(value: Any) -> str:
    return "-" if value is None else f"{_num(value)} s"


def connection_lines(section: Mapping[str, Any]) -> list[str]:
    limits = section["limits"]
    usable = limits["max_connections"] - limits["superuser_reserved"] - limits["reserved"]
    lines = [
        f"{_plural(limits['clients'], 'client connection')} of {usable} usable (max_connections "
        f"{limits['max_connections']} - superuser_reserved_connections "
        f"{limits['superuser_reserved']} - reserved_connections {limits['reserved']}); "
        f"{usable - limits['clients']} free",
        f"idle in a transaction: {limits.get('idle_in_transaction') or 0}; oldest transaction "
        f"{_seconds_text(limits.get('longest_xact_s'))}",
        f"by state: {_counts(section['by_state'])}",
        f"by application: {_counts(section['by_application'])}",
        f"by role: {_counts(section['by_role'])}",
        f"by client address: {_counts(section['by_client'])}",
    ]
    return lines


def _relation(row: Mapping[str, Any]) -> str:
    return f"{row['schema']}.{row['name']}"


def space_lines(
    section: Mapping[str, Any], disk: Mapping[str, Any] | None, database: str
) -> list[str]:
    wal = section["wal"]
    lines = [
        "databases: " + (", ".join(f"{d['name']} {size(d['size'])}" for d in section["databases"])
                         or "none"),
        f"pg_wal: {wal['files']} files, {size(wal['bytes'])}; archive_status: {wal['ready']} "
        f".ready (oldest {_seconds_text(wal.get('oldest_ready_s'))}), {wal['done']} .done; "
        f"archive_mode {wal.get('archive_mode') or '-'}, {wal.get('failed_count') or 0} failed "
        f"(last {wal.get('last_failed_wal') or '-'}), last archived "
        f"{wal.get('last_archived_wal') or '-'}",
    ]  # fmt: skip
    if disk:
        lines += [f"filesystem: {line}" for line in disk.get("lines") or []]
    how = (
        " (estimated from pg_class: a relation is locked)"
        if section.get("relations_estimated")
        else ""
    )
    lines.append(f"largest relations in {database}{how}:")
    lines += [
        f"  {_relation(r)} {size(r['total'])} (table {size(r['table'])}, indexes "
        f"{size(r['indexes'])}, toast {size(r['toast'])})"
        for r in section["relations"]
    ] or ["  none"]
    lines.append(
        f"table bloat in {database} (estimated from pg_stats, ioguix/pgsql-bloat-estimation):"
    )
    bloated = [b for b in section["bloat"] if b.get("bloat_size")][:TOP_LINES]
    lines += [
        f"  {_relation(b)} {b['bloat_pct']:.1f} % ({size(b['bloat_size'])} of "
        f"{size(b['real_size'])}, fillfactor {b['fillfactor']})"
        + (" (not reliable: a column without statistics, or never analyzed)" if b["is_na"] else "")
        for b in bloated
    ] or ["  none estimated"]
    return lines


def _lag(value: Any) -> str:
    return _seconds_text(value)


def replication_lines(
    host: str, section: Mapping[str, Any], views: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    primary = section["primary"]
    lines = [
        f"primary {host}: timeline {primary['timeline']}, current WAL {primary['current_lsn']}"
    ]
    if not section["replicas"]:
        lines.append("no replica is connected")
    for r in section["replicas"]:
        slot = (
            f"slot {r['slot']} {'active' if r['slot_active'] else 'inactive'}, wal_status "
            f"{r['wal_status'] or '-'}, safe_wal_size {size(r['safe_wal_size'])}"
            if r.get("slot")
            else "no slot"
        )
        lines.append(
            f"{r['name'] or '-'} ({r['client']}): {r['state']}, {r['sync_state']}; behind sent "
            f"{size(r['sent_bytes'])}, write {size(r['write_bytes'])}, flush "
            f"{size(r['flush_bytes'])}, replay {size(r['replay_bytes'])}; lag write "
            f"{_lag(r['write_lag_s'])}, flush {_lag(r['flush_lag_s'])}, replay "
            f"{_lag(r['replay_lag_s'])}; {slot}"
        )
    in_use = {r.get("slot") for r in section["replicas"]}
    for s in section["slots"]:
        if s["name"] in in_use:
            continue
        invalid = (
            f", INVALIDATED ({s['invalidation_reason']})" if s.get("invalidation_reason") else ""
        )
        lines.append(
            f"slot {s['name']} (no replica on it): {'active' if s['active'] else 'inactive'}, "
            f"wal_status {s['wal_status'] or '-'}, safe_wal_size {size(s['safe_wal_size'])}, "
            f"holds {size(s['retained_bytes'])} of WAL since {s['restart_lsn'] or '-'}{invalid}"
        )
    for name, view in sorted(views.items()):
        r = view["receiver"]
        if not r.get("status"):
            lines.append(
                f"{name}'s own view: no WAL receiver (not streaming); replayed "
                f"{r.get('replay_lsn') or '-'}, checkpoint timeline {r.get('checkpoint_timeline')}"
            )
            continue
        lines.append(
            f"{name}'s own view: receiver {r['status']} from {r['sender_host']}:"
            f"{r['sender_port']} on slot {r.get('slot') or '-'}, timeline {r['received_tli']}; "
            f"received {r['receive_lsn']}, replayed {r['replay_lsn']} "
            f"({size(r['replay_behind_bytes'])} behind); last replayed transaction "
            f"{_seconds_text(r['last_replay_age_s'])} ago, last message from the primary "
            f"{_seconds_text(r['last_message_age_s'])} ago; replay {r.get('replay_pause') or '-'}"
        )
    return lines


def _statement(i: int, s: Mapping[str, Any]) -> str:
    hit = "-" if s.get("hit_pct") is None else f"{_num(s['hit_pct'], 1)} %"
    return (
        f"  {i}. {_num(s['total_ms'], 1)} ms total, {_plural(s['calls'], 'call')}, "
        f"{_num(s['mean_ms'], 2)} ms mean, "
        f"{_plural(s['rows'], 'row')}, {hit} hit: {one_line(short_query(s['query']))} "
        f"[{s.get('database') or '-'}/{s.get('role') or '-'}]"
    )


def query_lines(section: Mapping[str, Any]) -> list[str]:
    if section.get("missing"):
        return [section["missing"]]
    lines = [f"top {TOP_STATEMENTS} statements by total time:"]
    lines += [_statement(i, s) for i, s in enumerate(section["by_total"], 1)] or ["  none"]
    lines.append(f"top {TOP_STATEMENTS} statements by mean time:")
    lines += [_statement(i, s) for i, s in enumerate(section["by_mean"], 1)] or ["  none"]
    return lines


def _answered(result: Mapping[str, Any]) -> bool:
    return not (result.get("failed") or result.get("unreachable")) and "sections" in result


def report(
    result: Mapping[str, Any],
    host: str,
    replicas: Sequence[Mapping[str, Any]] | None = None,
    pgbouncer: Sequence[Mapping[str, Any]] | None = None,
    disk: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The report of diagnose.yml: {what, host, database, sections, lines, problems}, from
    the primary's pg_diagnose result and, by WHAT, the replicas' own views (the results of
    pg_diagnose looped over them), each node's PgBouncer pools (pgbouncer_admin show), the
    free space (pg_disk_status of the primary's pg_disk_facts). A replica or PgBouncer that
    did not answer is a problem, and the rest is still reported."""
    if (
        not isinstance(result, Mapping)
        or "sections" not in result
        or result.get("what") not in WHATS
    ):
        raise InputError(
            "pg_diagnose_report: expected the registered result of the pg_diagnose module "
            f"(what, sections); got {sorted(result) if isinstance(result, Mapping) else result!r}"
        )
    what = result["what"]
    sections = dict(result["sections"])
    server = sections.get("server") or {}
    database = str(result.get("database") or server.get("database") or "-")
    problems: list[str] = []
    lines = [
        f"{host}: {what} (database {database}, "
        f"PostgreSQL {server.get('version', '?')}, {server.get('now', '?')})"
    ]
    if what == "locks":
        lines += lock_lines(sections["locks"]["tree"])
    elif what == "connections":
        lines += connection_lines(sections["connections"])
        shows = {str(r.get("item")): r for r in pgbouncer or [] if isinstance(r, Mapping)}
        if shows:
            bouncers = status_report(shows, [])
            sections["pgbouncer"] = bouncers["nodes"]
            lines += [f"PgBouncer: {line}" for line in bouncers["lines"]] or [
                "PgBouncer: no pool in use"
            ]
            problems += bouncers["problems"]
    elif what == "space":
        lines += space_lines(sections["space"], disk, database)
        problems += list((disk or {}).get("problems") or [])
    elif what == "replication":
        views: dict[str, Mapping[str, Any]] = {}
        for r in replicas or []:
            if not isinstance(r, Mapping) or r.get("skipped"):
                continue
            name = str(r.get("item"))
            if _answered(r) and "receiver" in (r["sections"].get("replication") or {}):
                views[name] = r["sections"]["replication"]
            elif _answered(r):
                problems.append(f"{name}'s own view: it is not in recovery (not a replica)")
            else:
                problems.append(
                    f"{name}'s own view could not be read: {str(r.get('msg') or 'no answer')[:300]}"
                )
        sections["replica_views"] = views
        if "primary" in sections["replication"]:
            lines += replication_lines(host, sections["replication"], views)
        else:
            lines.append(f"{host} is in recovery: not the primary")
    else:
        lines += query_lines(sections["queries"])
    lines += [f"PROBLEM: {p}" for p in problems]
    return {
        "what": what,
        "host": host,
        "database": database,
        "sections": sections,
        "lines": lines,
        "problems": problems,
    }
