"""PgBouncer's pools and inputs, decided once on the controller (the pgbouncer role).

Every node runs a PgBouncer, and each of them sends its pooled databases to the one
primary. So the primary's connections are shared by all of them:

    usable      = max_connections - superuser_reserved_connections - reserved_connections
                  - pgbouncer_direct_connections (migrations, psql, monitoring, backups)
                  - auth pool (the local lookup connections of the primary's own PgBouncer)
    per bouncer = usable // number of PgBouncers

A database's ``max_db_connections`` is a hard cap over all its (database, role) pools, the
reserve pool included. Unless the inventory sets it, each pooled database gets an equal
share of ``per bouncer``; ``pool_size`` (per role) is the default pool size capped by it.
The pools are refused when what every PgBouncer may open together exceeds ``usable``: then
"too many connections" would reach the clients of the primary, which is what a pooler is
there to prevent.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from typing import Any

POOL_MODES = ("session", "transaction", "statement")
# Connections of the auth pool, to the node's own PostgreSQL over its socket: the lookup
# of a login is one short query, so two serve bursts of logins.
AUTH_POOL_SIZE = 2
_NAME = re.compile(r"^[a-z_][a-z0-9_$]{0,62}$")
_PARAMETER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
# Parameters PgBouncer must never pass on or track: with search_path tracked, an
# unauthenticated client could run SQL during the login (CVE-2025-12819).
_NEVER_TRACKED = ("search_path",)
_DATABASE_KEYS = ("pool_mode", "pool_size", "max_db_connections", "reserve_pool_size")


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
        return int(value)
    return None


def _show(value: Any) -> str:
    return json.dumps(value, default=str)


def usable_connections(
    max_connections: int, superuser_reserved: int, reserved: int, direct: int
) -> int:
    """Server connections of the primary that the PgBouncers may share."""
    return max_connections - superuser_reserved - reserved - direct - AUTH_POOL_SIZE


def pgbouncer_pools(settings: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """The pool of each pooled database, for pgbouncer.ini.

    ``settings`` holds the pgbouncer_* variables by name. ``context``: ``databases`` (the
    names of postgresql_access_databases), ``bouncers`` (how many PgBouncers share the
    primary), ``max_connections``, ``superuser_reserved_connections`` and
    ``reserved_connections`` of the server. Call it only on settings that
    ``pgbouncer_input_problems`` accepted.

    ``role_limits`` (optional): {role: its CONNECTION LIMIT} of the declared roles.
    ``alternates`` (optional): {role: its alternate login} (credential rotation): each gets
    the role's limit.

    Returns ``{"usable", "per_bouncer", "databases": {name: {pool_mode, pool_size,
    max_db_connections, reserve_pool_size}}, "users": {role: {max_user_connections}}}``.
    """
    overrides = dict(settings.get("pgbouncer_databases") or {})
    names = [str(name) for name in context.get("databases") or []]
    bouncers = max(int(context.get("bouncers") or 1), 1)
    usable = usable_connections(
        int(context["max_connections"]),
        int(context.get("superuser_reserved_connections") or 0),
        int(context.get("reserved_connections") or 0),
        int(settings["pgbouncer_direct_connections"]),
    )
    per_bouncer = usable // bouncers
    explicit = {
        name: int(overrides[name]["max_db_connections"])
        for name in names
        if isinstance(overrides.get(name), Mapping)
        and overrides[name].get("max_db_connections") is not None
    }
    shared = [name for name in names if name not in explicit]
    left = per_bouncer - sum(explicit.values())
    share = left // len(shared) if shared else 0
    databases: dict[str, dict[str, Any]] = {}
    for name in names:
        own = overrides.get(name) if isinstance(overrides.get(name), Mapping) else {}
        cap = explicit.get(name, share)
        pool_size = int(own.get("pool_size") or settings["pgbouncer_default_pool_size"])
        reserve = int(
            own["reserve_pool_size"]
            if own.get("reserve_pool_size") is not None
            else settings["pgbouncer_reserve_pool_size"]
        )
        databases[name] = {
            "pool_mode": str(own.get("pool_mode") or settings["pgbouncer_default_pool_mode"]),
            "max_db_connections": cap,
            "pool_size": min(pool_size, cap),
            "reserve_pool_size": max(min(reserve, cap - min(pool_size, cap)), 0),
        }
    # A role's CONNECTION LIMIT holds for all of its server connections, however many
    # PgBouncers open them: each gets its share (at least one) as max_user_connections.
    # A role's alternate login (credential rotation, context's alternates) has its limit.
    users = {}
    alternates = context.get("alternates") or {}
    for name, limit in sorted((context.get("role_limits") or {}).items()):
        value = _int(limit)
        if value is not None and value >= 0:
            for login in filter(None, (str(name), alternates.get(name))):
                users[str(login)] = {"max_user_connections": max(value // bouncers, 1)}
    return {"usable": usable, "per_bouncer": per_bouncer, "databases": databases, "users": users}


def pgbouncer_input_problems(settings: Mapping[str, Any], context: Mapping[str, Any]) -> list[str]:
    """What is wrong with the pgbouncer_* variables, each message naming its variable.

    ``context`` is as for ``pgbouncer_pools``, plus ``ports``: {variable name: port} of
    everything else listening on the nodes (PostgreSQL, the side and drill clusters, and
    under Patroni its REST API and HAProxy's ports).
    """
    out: list[str] = []
    s = dict(settings)
    names = [str(name) for name in context.get("databases") or []]

    port = _int(s.get("pgbouncer_port"))
    if port is None or not 1 <= port <= 65535:
        out.append(f"pgbouncer_port: a TCP port (1-65535); got {_show(s.get('pgbouncer_port'))}.")
    else:
        for variable, other in sorted((context.get("ports") or {}).items()):
            if _int(other) == port:
                out.append(
                    f"pgbouncer_port: {port} is already {variable}'s port on the nodes; "
                    "choose a free port (PgBouncer's usual one is 6432)."
                )

    mode = s.get("pgbouncer_default_pool_mode")
    if mode not in POOL_MODES:
        out.append(
            f"pgbouncer_default_pool_mode: one of {', '.join(POOL_MODES)}; got {_show(mode)}."
        )

    for variable, lowest in (
        ("pgbouncer_default_pool_size", 1),
        ("pgbouncer_reserve_pool_size", 0),
        ("pgbouncer_direct_connections", 0),
        ("pgbouncer_max_client_conn", 1),
        ("pgbouncer_max_prepared_statements", 0),
        ("pgbouncer_query_wait_timeout", 1),
    ):
        value = _int(s.get(variable))
        if value is None or value < lowest:
            out.append(
                f"{variable}: a whole number of at least {lowest}; got {_show(s.get(variable))}."
            )

    auth_user = s.get("pgbouncer_auth_user")
    if not isinstance(auth_user, str) or not _NAME.match(auth_user):
        out.append(
            "pgbouncer_auth_user: a lower-case role name (letters, digits, _ and $, at most "
            f"63 characters, not starting with a digit); got {_show(auth_user)}."
        )
    elif auth_user in (context.get("reserved_roles") or []):
        out.append(
            f"pgbouncer_auth_user: {auth_user} is a role the project already uses for "
            "something else; the auth role must be its own role."
        )

    for variable, example in (
        ("pgbouncer_ignore_startup_parameters", "[extra_float_digits]"),
        ("pgbouncer_track_extra_parameters", "[IntervalStyle]"),
    ):
        given = s.get(variable)
        if not isinstance(given, list) or not all(
            isinstance(p, str) and _PARAMETER.match(p) for p in given
        ):
            out.append(
                f"{variable}: a list of parameter names such as {example}; got {_show(given)}."
            )

    tracked = s.get("pgbouncer_track_extra_parameters")
    if isinstance(tracked, list) and all(isinstance(p, str) for p in tracked):
        for name in tracked:
            if name.lower() in _NEVER_TRACKED:
                out.append(
                    f"pgbouncer_track_extra_parameters: {name} is never tracked: with it a "
                    "client could run SQL before it has logged in (CVE-2025-12819). Set the "
                    "role's search_path with ALTER ROLE instead (postgresql_access_roles)."
                )

    overrides = s.get("pgbouncer_databases")
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, Mapping):
        out.append(
            "pgbouncer_databases: a mapping of database name to its pool settings, such as "
            f"{{learning: {{pool_mode: session}}}}; got {_show(overrides)}."
        )
        overrides = {}
    for name, own in overrides.items():
        where = f"pgbouncer_databases.{name}"
        if str(name) not in names:
            out.append(
                f"{where}: {name} is not a database of postgresql_access_databases "
                f"({', '.join(names) or 'none declared'}); PgBouncer pools only those."
            )
        if not isinstance(own, Mapping):
            out.append(f"{where}: a mapping with {', '.join(_DATABASE_KEYS)}; got {_show(own)}.")
            continue
        for key in own:
            if key not in _DATABASE_KEYS:
                out.append(f"{where}.{key}: unknown; the keys are {', '.join(_DATABASE_KEYS)}.")
        if "pool_mode" in own and own["pool_mode"] not in POOL_MODES:
            out.append(
                f"{where}.pool_mode: one of {', '.join(POOL_MODES)}; got {_show(own['pool_mode'])}."
            )
        for key, lowest in (("pool_size", 1), ("max_db_connections", 1), ("reserve_pool_size", 0)):
            if key in own and own[key] is not None:
                value = _int(own[key])
                if value is None or value < lowest:
                    got = _show(own[key])
                    out.append(f"{where}.{key}: a whole number of at least {lowest}; got {got}.")
    if out:
        return out

    # The connection budget, once every value is well formed.
    plan = pgbouncer_pools(s, context)
    bouncers = max(int(context.get("bouncers") or 1), 1)
    budget = (
        f"max_connections {context['max_connections']} (postgresql_server_max_connections) - "
        f"superuser_reserved_connections {context.get('superuser_reserved_connections') or 0} - "
        f"reserved_connections {context.get('reserved_connections') or 0} - "
        f"pgbouncer_direct_connections {s['pgbouncer_direct_connections']} - "
        f"{AUTH_POOL_SIZE} for the auth pool = {plan['usable']}"
    )
    if not names:
        return out
    if plan["per_bouncer"] < len(names):
        out.append(
            f"The pools need at least one server connection per database and PgBouncer: "
            f"{budget}, shared by {bouncers} PgBouncer(s), leaves {plan['per_bouncer']} for "
            f"{len(names)} database(s). Raise postgresql_server_max_connections or lower "
            "pgbouncer_direct_connections."
        )
        return out
    total = sum(pool["max_db_connections"] for pool in plan["databases"].values())
    if total * bouncers > plan["usable"] or any(
        pool["max_db_connections"] < 1 for pool in plan["databases"].values()
    ):
        caps = ", ".join(
            f"{name} {pool['max_db_connections']}" for name, pool in plan["databases"].items()
        )
        out.append(
            f"pgbouncer_databases: the pools could open {total} server connections per "
            f"PgBouncer ({caps}) x {bouncers} PgBouncer(s) = {total * bouncers}, more than "
            f"the primary allows them: {budget}. Lower max_db_connections in "
            "pgbouncer_databases, or raise postgresql_server_max_connections."
        )
    return out


# --- The login lookup on PostgreSQL (run on the primary; it replicates to every node) ---

SCHEMA = "pgbouncer"
FUNCTION = "user_lookup"
# How many sessions the auth role may hold on a node: each PgBouncer's auth pool is two.
AUTH_CONNECTION_LIMIT = 5
# The verifier of a login role that may log in now, and never of a superuser, a
# replication or BYPASSRLS role, or a role without a SCRAM verifier; no row at all
# otherwise (a row of NULLs would make PgBouncer 1.24 drop its auth connection). Every
# name is schema-qualified, the operators included, and the function pins its own
# search_path: nothing a client can create is ever resolved here. The SCRAM prefix is
# built by concat, so the function's text (which pgAudit logs as DDL) never contains
# what a search of the logs for leaked verifiers looks for.
LOOKUP_BODY = """
  SELECT a.rolname::pg_catalog.text,
         CASE WHEN a.rolvaliduntil IS NOT NULL
                   AND a.rolvaliduntil OPERATOR(pg_catalog.<) pg_catalog.now()
              THEN NULL ELSE a.rolpassword END
    FROM pg_catalog.pg_authid AS a
   WHERE a.rolname OPERATOR(pg_catalog.=) i_username
     AND a.rolcanlogin
     AND NOT a.rolsuper
     AND NOT a.rolreplication
     AND NOT a.rolbypassrls
     AND pg_catalog.starts_with(a.rolpassword, pg_catalog.concat('SCRAM-SHA-256', '$'))
"""
AUTH_QUERY = f"SELECT uname, phash FROM {SCHEMA}.{FUNCTION}($1)"


def _ident(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a plain role name: {name!r}")
    return name


def auth_state_sql(auth_user: str) -> str:
    """One row, one column: whether the auth role, the schema and the lookup function are
    exactly as ``auth_apply_sql`` makes them (the function's body is psql variable
    ``body``). Run in the auth database as the superuser."""
    user = _ident(auth_user)
    return f"""SELECT
  coalesce((SELECT a.rolcanlogin AND NOT a.rolsuper AND NOT a.rolreplication
                   AND NOT a.rolbypassrls AND NOT a.rolcreaterole AND NOT a.rolcreatedb
                   AND NOT a.rolinherit AND a.rolpassword IS NULL
                   AND a.rolconnlimit = {AUTH_CONNECTION_LIMIT}
              FROM pg_catalog.pg_authid AS a WHERE a.rolname = '{user}'), false)
  AND coalesce((SELECT n.nspowner = 10
                       AND n.nspacl::pg_catalog.text = '{{postgres=UC/postgres,{user}=U/postgres}}'
                  FROM pg_catalog.pg_namespace AS n WHERE n.nspname = '{SCHEMA}'), false)
  AND coalesce((SELECT p.proowner = 10 AND p.prosecdef AND p.provolatile = 's'
                       AND p.prolang = (SELECT l.oid FROM pg_catalog.pg_language AS l
                                         WHERE l.lanname = 'sql')
                       AND p.proconfig::pg_catalog.text = '{{"search_path=pg_catalog, pg_temp"}}'
                       AND p.proacl::pg_catalog.text = '{{postgres=X/postgres,{user}=X/postgres}}'
                       AND p.prosrc = :'body'
                  FROM pg_catalog.pg_proc AS p
                 WHERE p.oid = pg_catalog.to_regprocedure('{SCHEMA}.{FUNCTION}(text)')), false)
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc AS p
                   WHERE p.pronamespace = (SELECT oid FROM pg_catalog.pg_namespace
                                            WHERE nspname = '{SCHEMA}')
                     AND p.oid <> pg_catalog.to_regprocedure('{SCHEMA}.{FUNCTION}(text)'))"""


def auth_apply_sql(auth_user: str) -> str:
    """The auth role, its schema and the lookup function, in one transaction (a psql script
    with variable ``body``; the superuser runs it in the auth database). Only the
    superuser owns the schema and the function; only the auth role may use them."""
    user = _ident(auth_user)
    return f"""BEGIN;
SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '{user}') AS missing \\gset
\\if :missing
CREATE ROLE {user} LOGIN;
\\endif
ALTER ROLE {user} LOGIN NOSUPERUSER NOREPLICATION NOBYPASSRLS NOCREATEROLE NOCREATEDB NOINHERIT
  PASSWORD NULL CONNECTION LIMIT {AUTH_CONNECTION_LIMIT};
CREATE SCHEMA IF NOT EXISTS {SCHEMA} AUTHORIZATION postgres;
ALTER SCHEMA {SCHEMA} OWNER TO postgres;
REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC;
GRANT USAGE ON SCHEMA {SCHEMA} TO {user};
CREATE OR REPLACE FUNCTION {SCHEMA}.{FUNCTION}(i_username pg_catalog.text)
  RETURNS TABLE (uname pg_catalog.text, phash pg_catalog.text)
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  AS :'body';
ALTER FUNCTION {SCHEMA}.{FUNCTION}(pg_catalog.text) OWNER TO postgres;
REVOKE ALL ON FUNCTION {SCHEMA}.{FUNCTION}(pg_catalog.text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {SCHEMA}.{FUNCTION}(pg_catalog.text) TO {user};
COMMIT;
"""


# --- PgBouncer's admin console (SHOW, PAUSE, RESUME) on the node ---
#
# The console is the `pgbouncer` database of PgBouncer itself. A client connecting over
# PgBouncer's socket as user `pgbouncer` from PgBouncer's own OS user (postgres) is its
# administrator without a password (PgBouncer checks the peer's uid), so nothing is stored
# for it. The console speaks only the simple query protocol and accepts no startup options:
# the environment carries no PGOPTIONS.


def admin_argv(port: int, socket_dir: str = "/var/run/postgresql") -> list[str]:
    """psql on PgBouncer's console, as the postgres OS user, CSV with a header."""
    if not 0 < int(port) < 65536:
        raise ValueError(f"port: {port!r} is not a TCP port")
    return [
        "runuser", "-u", "postgres", "--",
        "psql", "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1",
        "-h", socket_dir, "-p", str(int(port)), "-U", "pgbouncer", "-d", "pgbouncer",
    ]  # fmt: skip


def admin_env(base: Mapping[str, str], connect_timeout: int = 5) -> dict[str, str]:
    """The console's environment: no PGOPTIONS (the console refuses startup options), no
    password variable, C messages, a connect timeout."""
    env = {
        k: v
        for k, v in base.items()
        if "PASSWORD" not in k and k not in ("PGOPTIONS", "PGPASSFILE", "PGSERVICE")
    }
    env["LC_MESSAGES"] = "C"
    env["PGCONNECT_TIMEOUT"] = str(max(1, int(connect_timeout)))
    return env


def parse_show(text: str) -> list[dict[str, str]]:
    """psql --csv output of a SHOW command (header first) as rows of {column: text}."""
    return [dict(row) for row in csv.DictReader(io.StringIO(text))]


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


POOL_BUSY_PERCENT = 80.0


def pool_report(
    pools: list[Mapping[str, str]],
    databases: list[Mapping[str, str]],
    max_wait_seconds: float,
) -> dict[str, Any]:
    """Who holds the connections, from SHOW POOLS and SHOW DATABASES.

    For each (database, user) pool: clients active and waiting, the longest wait in
    seconds, server connections (active, idle, used, being tested or logging in) and the
    pool size. A pool whose busy server connections (sv_active) reach 80 % of its size, or a
    client waiting longer than ``max_wait_seconds``, is a problem; idle ones are not. The
    console's own pseudo-database and the auth pool are left out.
    """
    sizes = {row.get("name", ""): row for row in databases}
    out: list[dict[str, Any]] = []
    problems: list[str] = []
    for row in pools:
        database = row.get("database", "")
        if database in ("pgbouncer", "pgbouncer_auth"):
            continue
        user = row.get("user", "")
        servers = int(
            sum(
                _num(row.get(k))
                for k in ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login")
            )
        )
        size = int(_num(sizes.get(database, {}).get("pool_size")))
        wait = _num(row.get("maxwait")) + _num(row.get("maxwait_us")) / 1_000_000
        pool = {
            "database": database,
            "user": user,
            "mode": row.get("pool_mode", ""),
            "clients_active": int(_num(row.get("cl_active"))),
            "clients_waiting": int(_num(row.get("cl_waiting"))),
            "longest_wait_seconds": round(wait, 3),
            "servers": servers,
            "servers_active": int(_num(row.get("sv_active"))),
            "pool_size": size,
            "used_percent": round(100.0 * servers / size, 1) if size else 0.0,
            "active_percent": (
                round(100.0 * _num(row.get("sv_active")) / size, 1) if size else 0.0
            ),
        }
        out.append(pool)
        if size and pool["active_percent"] >= POOL_BUSY_PERCENT:
            problems.append(
                f"pool {database}/{user}: {pool['servers_active']} of {size} server connections "
                f"busy ({pool['active_percent']} %, the limit is {POOL_BUSY_PERCENT:g} %)"
            )
        if wait > max_wait_seconds:
            problems.append(
                f"pool {database}/{user}: a client has waited {wait:.1f} s for a server "
                f"connection ({pool['clients_waiting']} waiting; the limit is "
                f"{max_wait_seconds:g} s, pgbouncer_status_max_wait_seconds)"
            )
    return {"pools": out, "problems": problems}


def paused_databases(databases: list[Mapping[str, str]]) -> list[str]:
    """The databases SHOW DATABASES reports paused."""
    return [row.get("name", "") for row in databases if str(row.get("paused", "0")) == "1"]


def not_paused(results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The hosts whose PgBouncer did not pause, from the pause task's result on each host:
    a host where the task ran counts as paused only when the module said so (``paused``);
    a failure, an unreachable host or a module that could not run at all does not. A host
    where the task was skipped (no PgBouncer, or not asked to pause) is left out."""
    return sorted(
        host
        for host, result in results.items()
        if not (result or {}).get("skipped") and (result or {}).get("paused") is not True
    )


def status_report(
    shows: Mapping[str, Mapping[str, Any]], sessions: list[Mapping[str, Any]]
) -> dict:
    """status.yml's PgBouncer part: every node's pools (pgbouncer_admin show, by node) and
    the primary's client sessions per database and role (how many, how many idle in a
    transaction). A node whose PgBouncer did not answer is a problem."""
    lines: list[str] = []
    problems: list[str] = []
    nodes: dict[str, Any] = {}
    for node, show in sorted(shows.items()):
        if show.get("skipped"):
            continue
        if show.get("failed") or show.get("unreachable") or "pools" not in show:
            problems.append(f"PgBouncer on {node} did not answer: {show.get('msg', 'no answer')}")
            continue
        nodes[node] = show["pools"]
        for pool in show["pools"]:
            if not (pool["servers"] or pool["clients_active"] or pool["clients_waiting"]):
                continue
            lines.append(
                f"{node} {pool['database']}/{pool['user']} ({pool['mode']}): "
                f"{pool['servers']}/{pool['pool_size']} server connections, "
                f"{pool['clients_active']} clients active, {pool['clients_waiting']} waiting "
                f"(longest {pool['longest_wait_seconds']} s)"
            )
        problems += [f"PgBouncer on {node}: {p}" for p in show.get("problems", [])]
    for row in sessions:
        lines.append(
            f"primary {row.get('database')}/{row.get('user')}: {row.get('sessions', 0)} sessions, "
            f"{row.get('idle_in_transaction', 0)} idle in a transaction"
        )
    return {"nodes": nodes, "sessions": list(sessions), "lines": lines, "problems": problems}


_HOST = re.compile(r"(?<![A-Za-z_])host=(\S+)")
_SAFE_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:-]*$")


def repoint_text(ini: str, host: str) -> str:
    """pgbouncer.ini with every [databases] entry that has a TCP host (not a socket
    directory) sent to ``host``; the rest of the file unchanged."""
    if not _SAFE_HOST.match(host or ""):
        raise ValueError(f"host: {host!r} is not a host name or address")
    out = []
    section = ""
    for line in ini.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip().lower()
        elif section == "databases" and not stripped.startswith((";", "#")):
            match = _HOST.search(line)
            if match and not match.group(1).startswith("/"):
                line = line[: match.start(1)] + host + line[match.end(1) :]
        out.append(line)
    return "".join(out)
