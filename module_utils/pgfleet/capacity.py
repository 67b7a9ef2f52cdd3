"""Capacity: the weekly snapshot every node takes (pgfleet-capacity), and the report
status.yml prints from the last two snapshots of every node.

A snapshot (``snapshot(...)``, on the host) holds, for each database that accepts
connections: its size, its 50 largest tables (total, heap with TOAST, indexes, live and
dead tuples), a bloat estimate of its tables (diagnose's ioguix query, from pg_stats,
without reading them), and every index outside the system schemas with its scan count
since the statistics were last reset, its size (from pg_class, no lock taken), and whether
it enforces something (unique, primary key, a constraint). Every query runs in a READ
ONLY transaction with diagnose's session options: nothing is written, a lock held by
someone else ends a query after 2 s (the table sizes then come from pg_class instead).

The report (``report(...)``, on the controller) compares the last two snapshots:

- database and table growth on the primary, per week;
- the tables with the most estimated bloat on the primary;
- unused indexes: not one scan on any node since each node's statistics began (a replica
  serves reads of its own, so an index only the analytics replica uses is not unused);
  indexes that enforce something are never listed;
- rarely used indexes: fewer than ``rare_scans_per_week`` scans a week over all nodes,
  once two snapshots at least a day apart exist on every node.

Counters fall to zero when statistics are reset or lost (a crash, an immediate stop, a
promotion of a replica whose own counters start from its own history): a counter that
went down counts from zero, and the report says since when each node counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .diagnose import TABLE_BLOAT, Query, _locked, parse_rows, read_only, size
from .errors import InputError
from .session import SessionError

TOP_TABLES = 50
TOP_LINES = 5
DAY = 86400.0
WEEK = 7 * DAY
# A snapshot older than this is stale: the weekly timer missed at least one run.
STALE_DAYS = 8

SERVER = Query(
    "server",
    (("now", "float"), ("in_recovery", "bool"), ("stats_reset", "float")),
    """SELECT pg_catalog.date_part('epoch', pg_catalog.now()),
       pg_catalog.pg_is_in_recovery(),
       (SELECT pg_catalog.date_part('epoch', d.stats_reset)
          FROM pg_catalog.pg_stat_database AS d WHERE d.datname = pg_catalog.current_database())""",
)

DATABASES = Query(
    "databases",
    (("name", "text"), ("size", "int")),
    """SELECT d.datname::pg_catalog.text, pg_catalog.pg_database_size(d.oid)
  FROM pg_catalog.pg_database AS d
 WHERE d.datallowconn AND NOT d.datistemplate
 ORDER BY 1""",
)

_TABLE_COLUMNS = (
    ("schema", "text"),
    ("name", "text"),
    ("total", "int"),
    ("heap", "int"),
    ("indexes", "int"),
    ("live", "int"),
    ("dead", "int"),
)
_TABLE_WHERE = """ WHERE c.relkind IN ('r', 'm', 'p')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'"""

# Exact sizes take an AccessShareLock on each table for a moment.
TABLES = Query(
    "tables",
    _TABLE_COLUMNS,
    f"""SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text,
       pg_catalog.pg_total_relation_size(c.oid),
       pg_catalog.pg_total_relation_size(c.oid) - pg_catalog.pg_indexes_size(c.oid),
       pg_catalog.pg_indexes_size(c.oid), t.n_live_tup, t.n_dead_tup
  FROM pg_catalog.pg_class AS c
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_stat_user_tables AS t ON t.relid = c.oid
{_TABLE_WHERE}
 ORDER BY 3 DESC NULLS LAST, 1, 2
 LIMIT {TOP_TABLES}""",
)

# From pg_class's page counts (as of the last VACUUM or ANALYZE): no lock taken.
TABLES_ESTIMATED = Query(
    "tables_estimated",
    _TABLE_COLUMNS,
    f"""SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text,
       s.heap + s.indexes, s.heap, s.indexes, t.n_live_tup, t.n_dead_tup
  FROM pg_catalog.pg_class AS c
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
  CROSS JOIN LATERAL (
    SELECT pg_catalog.current_setting('block_size')::pg_catalog.int8 AS bs) AS b
  CROSS JOIN LATERAL (
    SELECT (c.relpages::pg_catalog.int8
            + coalesce((SELECT x.relpages FROM pg_catalog.pg_class AS x
                         WHERE x.oid = c.reltoastrelid), 0)) * b.bs AS heap,
           coalesce((SELECT pg_catalog.sum(i.relpages)::pg_catalog.int8
                       FROM pg_catalog.pg_index AS x
                       JOIN pg_catalog.pg_class AS i ON i.oid = x.indexrelid
                      WHERE x.indrelid = c.oid), 0) * b.bs AS indexes) AS s
  LEFT JOIN pg_catalog.pg_stat_user_tables AS t ON t.relid = c.oid
{_TABLE_WHERE}
 ORDER BY 3 DESC, 1, 2
 LIMIT {TOP_TABLES}""",
)

INDEXES = Query(
    "indexes",
    (
        ("schema", "text"),
        ("table", "text"),
        ("name", "text"),
        ("size", "int"),
        ("scans", "int"),
        ("enforces", "bool"),
        ("valid", "bool"),
    ),
    """SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text, i.relname::pg_catalog.text,
       i.relpages::pg_catalog.int8 * pg_catalog.current_setting('block_size')::pg_catalog.int8,
       coalesce(s.idx_scan, 0),
       x.indisunique OR x.indisprimary OR x.indisexclusion
         OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint AS k WHERE k.conindid = x.indexrelid),
       x.indisvalid
  FROM pg_catalog.pg_index AS x
  JOIN pg_catalog.pg_class AS i ON i.oid = x.indexrelid
  JOIN pg_catalog.pg_class AS c ON c.oid = x.indrelid
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_stat_user_indexes AS s ON s.indexrelid = x.indexrelid
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
 ORDER BY 1, 2, 3""",
)

QUERIES = (SERVER, DATABASES, TABLES, TABLES_ESTIMATED, INDEXES)

# A psql script in, its CSV rows out, in the named database.
RunIn = Callable[[str, str], Any]


APPLICATION_NAME = "pgfleet-capacity"


def _rows(run: RunIn, db: str, query: Query) -> list[dict[str, Any]]:
    return parse_rows(run(db, read_only(query.sql, APPLICATION_NAME)), query)


def snapshot(run: RunIn, node: str, first_db: str = "postgres") -> dict[str, Any]:
    """One node's snapshot. ``run(db, script)`` returns the CSV rows of a psql script run
    in database ``db`` (Session.script); ``first_db`` is where the databases are listed.
    SessionError propagates, but for a table held exclusively, whose sizes are then
    estimated (``estimated`` true for that database)."""
    server = _rows(run, first_db, SERVER)
    if len(server) != 1:
        raise InputError(f"server: {len(server)} rows, expected one")
    databases = []
    for db in _rows(run, first_db, DATABASES):
        estimated = False
        try:
            tables = _rows(run, db["name"], TABLES)
        except SessionError as exc:
            if not _locked(exc):
                raise
            tables, estimated = _rows(run, db["name"], TABLES_ESTIMATED), True
        stats = _rows(run, db["name"], SERVER)[0]
        databases.append(
            {
                "name": db["name"],
                "size": db["size"],
                "stats_reset": stats["stats_reset"],
                "estimated": estimated,
                "tables": tables,
                "bloat": [b for b in _rows(run, db["name"], TABLE_BLOAT) if not b["is_na"]],
                "indexes": _rows(run, db["name"], INDEXES),
            }
        )
    return {
        "version": 1,
        "node": node,
        "at": server[0]["now"],
        "in_recovery": server[0]["in_recovery"],
        "databases": databases,
    }


# --- the inputs (site.yml's first play) ------------------------------------------------------


def input_problems(settings: Mapping[str, Any]) -> list[str]:
    """Every postgresql_status_capacity_* value the snapshot or the report cannot use."""
    out = []
    keep = settings.get("postgresql_status_capacity_keep")
    if isinstance(keep, bool) or not isinstance(keep, int | str) or not str(keep).isdigit() \
            or int(keep) < 2:  # fmt: skip
        out.append(
            "postgresql_status_capacity_keep: a whole number of 2 or more (the report compares"
            f" the last two snapshots); got {keep!r}."
        )
    schedule = settings.get("postgresql_status_capacity_schedule")
    if not isinstance(schedule, str) or not schedule.strip() or "\n" in schedule:
        out.append(
            "postgresql_status_capacity_schedule: a systemd OnCalendar expression such as"
            f" 'Sun *-*-* 03:30:00' or 'weekly'; got {schedule!r}."
        )
    directory = settings.get("postgresql_status_capacity_dir")
    if not isinstance(directory, str) or not directory.startswith("/") or directory == "/" \
            or any(c.isspace() for c in directory):  # fmt: skip
        out.append(
            "postgresql_status_capacity_dir: an absolute path without spaces, not /;"
            f" got {directory!r}."
        )
    rare = settings.get("postgresql_status_capacity_rare_scans_per_week")
    try:
        ok = not isinstance(rare, bool) and float(rare) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        out.append(
            f"postgresql_status_capacity_rare_scans_per_week: a number above 0; got {rare!r}."
        )
    return out


# --- the report (on the controller) --------------------------------------------------------


def _check_snapshot(node: str, snap: Any) -> dict[str, Any]:
    if not isinstance(snap, Mapping) or not isinstance(snap.get("databases"), list):
        raise InputError(f"{node}: a capacity snapshot is a mapping with databases; got {snap!r}")
    try:
        float(snap["at"])
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{node}: a capacity snapshot without its time (at)") from None
    return dict(snap)


def _days(seconds: float) -> str:
    days = seconds / DAY
    return f"{days:.1f} days" if days < 10 else f"{days:.0f} days"


def _per_week(delta: float, seconds: float) -> float:
    return delta * WEEK / seconds if seconds > 0 else 0.0


def _by_key(items: Iterable[Mapping[str, Any]], *keys: str) -> dict[tuple, Mapping[str, Any]]:
    return {tuple(item[k] for k in keys): item for item in items}


def _counted(now: float, before: float | None) -> float:
    """Scans between two readings of a counter; a counter that went down was reset, and
    counts from zero."""
    if before is None or now < before:
        return now
    return now - before


def report(
    snapshots: Mapping[str, Sequence[Any]],
    primary: str,
    now: float,
    rare_scans_per_week: float = 50,
) -> dict[str, Any]:
    """The capacity report from each node's snapshots (any order; the last two count).
    Returns {checked, nodes, at, interval_s, databases, tables, bloat, unused, rare,
    warnings, lines}. A node without a snapshot, or a stale one, is a warning (never a
    problem: capacity is for planning)."""
    if not isinstance(snapshots, Mapping):
        raise InputError(f"capacity snapshots: a mapping of node to snapshots; got {snapshots!r}")
    last: dict[str, list[dict[str, Any]]] = {}
    for node, snaps in snapshots.items():
        checked = [_check_snapshot(node, s) for s in (snaps or [])]
        if checked:
            last[node] = sorted(checked, key=lambda s: float(s["at"]))[-2:]
    out: dict[str, Any] = {
        "checked": bool(last),
        "nodes": sorted(last),
        "at": None,
        "interval_s": None,
        "databases": [],
        "tables": [],
        "bloat": [],
        "unused": [],
        "rare": [],
        "warnings": [],
        "lines": [],
    }
    missing = sorted(set(snapshots) - set(last))
    if missing:
        out["warnings"].append(
            f"capacity: no weekly snapshot yet on {', '.join(missing)} (pgfleet-capacity.timer;"
            " sudo systemctl start pgfleet-capacity.service takes one now)"
        )
    stale = sorted(n for n, s in last.items() if now - float(s[-1]["at"]) > STALE_DAYS * DAY)
    if stale:
        out["warnings"].append(
            f"capacity: the last snapshot on {', '.join(stale)} is older than {STALE_DAYS} days"
            " (is pgfleet-capacity.timer running?)"
        )
    if not last:
        out["lines"] = ["no capacity snapshot on any node yet"]
        return out
    # Growth, tables and bloat: the primary's own (a replica's sizes are the same).
    base = last.get(primary) or last[sorted(last)[0]]
    latest = base[-1]
    out["at"] = float(latest["at"])
    previous = base[0] if len(base) == 2 else None
    interval = float(latest["at"]) - float(previous["at"]) if previous else None
    out["interval_s"] = interval
    before_dbs = _by_key(previous["databases"], "name") if previous else {}
    for db in latest["databases"]:
        old = before_dbs.get((db["name"],))
        growth = db["size"] - old["size"] if old else None
        out["databases"].append(
            {"name": db["name"], "size": db["size"], "growth": growth,
             "growth_per_week": _per_week(growth, interval) if growth is not None else None}
        )  # fmt: skip
        old_tables = _by_key(old["tables"], "schema", "name") if old else {}
        for t in db["tables"]:
            was = old_tables.get((t["schema"], t["name"]))
            if was and interval:
                out["tables"].append(
                    {"database": db["name"], "schema": t["schema"], "name": t["name"],
                     "total": t["total"], "growth": t["total"] - was["total"],
                     "growth_per_week": _per_week(t["total"] - was["total"], interval)}
                )  # fmt: skip
        for b in db.get("bloat") or []:
            if b["bloat_size"] > 0:
                out["bloat"].append({"database": db["name"], **b})
    out["tables"].sort(key=lambda t: (-t["growth"], t["database"], t["schema"], t["name"]))
    out["bloat"].sort(key=lambda b: (-b["bloat_size"], b["database"], b["schema"], b["name"]))
    _indexes(out, last, rare_scans_per_week)
    out["lines"] = _lines(out, latest, previous, rare_scans_per_week)
    return out


def _indexes(out: dict[str, Any], last: Mapping[str, list], rare: float) -> None:
    """Unused and rarely used indexes over every node's counters."""
    since: dict[str, float | None] = {}
    total: dict[tuple, dict[str, Any]] = {}
    week: dict[tuple, float] = {}
    weekly = all(
        len(s) == 2 and float(s[1]["at"]) - float(s[0]["at"]) >= DAY for s in last.values()
    )
    for node, snaps in last.items():
        latest = snaps[-1]
        previous = snaps[0] if len(snaps) == 2 else None
        old = {}
        if previous:
            for db in previous["databases"]:
                for i in db["indexes"]:
                    old[(db["name"], i["schema"], i["table"], i["name"])] = i["scans"]
        resets = [db.get("stats_reset") for db in latest["databases"] if db.get("stats_reset")]
        since[node] = max(resets) if resets else None
        seconds = float(latest["at"]) - float(previous["at"]) if previous else 0
        for db in latest["databases"]:
            for i in db["indexes"]:
                if i["enforces"]:
                    continue
                key = (db["name"], i["schema"], i["table"], i["name"])
                entry = total.setdefault(
                    key,
                    {"database": db["name"], "schema": i["schema"], "table": i["table"],
                     "name": i["name"], "size": i["size"], "valid": i["valid"], "scans": 0,
                     "nodes": []},
                )  # fmt: skip
                entry["scans"] += i["scans"]
                entry["nodes"].append(node)
                if weekly:
                    week[key] = week.get(key, 0.0) + _per_week(
                        _counted(i["scans"], old.get(key)), seconds
                    )
    everywhere = set(last)
    for key, entry in total.items():
        if set(entry["nodes"]) != everywhere:
            continue  # not on every node yet (created between snapshots)
        if entry["scans"] == 0:
            out["unused"].append(entry)
        elif weekly and week.get(key, 0.0) < rare:
            out["rare"].append({**entry, "scans_per_week": round(week[key], 1)})
    out["unused"].sort(key=lambda e: (-e["size"], e["database"], e["schema"], e["name"]))
    out["rare"].sort(key=lambda e: (e["scans_per_week"], -e["size"], e["database"], e["name"]))
    out["since"] = since
    out["weekly"] = weekly


def _idx(e: Mapping[str, Any]) -> str:
    return f"{e['database']}.{e['schema']}.{e['name']} on {e['table']} {size(e['size'])}"


def _lines(out: Mapping[str, Any], latest: Mapping, previous: Mapping | None, rare: float):
    interval = out["interval_s"]
    span = f"over {_days(interval)}" if interval else "one snapshot so far, no growth yet"
    dbs = ", ".join(
        f"{d['name']} {size(d['size'])}"
        + (f" ({'+' if d['growth'] >= 0 else '-'}{size(abs(d['growth_per_week']))}/week)"
           if d["growth_per_week"] is not None else "")
        for d in out["databases"]
    )  # fmt: skip
    lines = [f"databases ({span}): {dbs or 'none'}"]
    growing = [t for t in out["tables"] if t["growth"] > 0][:TOP_LINES]
    if interval:
        lines.append(
            "growing tables: "
            + (", ".join(f"{t['database']}.{t['schema']}.{t['name']} {size(t['total'])} "
                         f"(+{size(t['growth_per_week'])}/week)" for t in growing) or "none")
        )  # fmt: skip
    lines.append(
        "bloat (estimated): "
        + (", ".join(f"{b['database']}.{b['schema']}.{b['name']} {size(b['bloat_size'])} "
                     f"({b['bloat_pct']}%)" for b in out["bloat"][:TOP_LINES]) or "none")
    )  # fmt: skip
    counted = "; ".join(
        f"{node} since {'the statistics began' if at is None else _utc(at)}"
        for node, at in sorted(out["since"].items())
    )
    lines.append(
        f"unused indexes ({len(out['unused'])}; no scan on {', '.join(out['nodes'])}; "
        f"counted {counted}): " + (", ".join(_idx(e) for e in out["unused"][:TOP_LINES]) or "none")
    )
    if out["weekly"]:
        lines.append(
            f"rarely used indexes (under {rare:g} scans/week on all nodes): "
            + (", ".join(f"{_idx(e)} {e['scans_per_week']:g}/week" for e in out["rare"][:TOP_LINES])
               or "none")
        )  # fmt: skip
    else:
        lines.append("rarely used indexes: two snapshots a day or more apart on every node needed")
    return lines


def _utc(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%d %H:%M UTC")
