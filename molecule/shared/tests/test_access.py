"""Least privilege, proven by logging in as each role over TLS with its password.

Run by the molecule verify step from the controller, against a converged primary with
the lab's demo schema. Environment: PGFLEET_HOST (address), PGFLEET_CA (project CA file),
PGFLEET_SECRETS (directory with the lab's generated role passwords, pg_<role>).
Allowed operations must succeed; forbidden ones must fail with the SQLSTATE given.
"""

from __future__ import annotations

import os
import uuid
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import errors

HOST = os.environ.get("PGFLEET_HOST", "")
PORT = int(os.environ.get("PGFLEET_PORT", "5432"))
CA = os.environ.get("PGFLEET_CA", "")
SECRETS = Path(os.environ.get("PGFLEET_SECRETS", "/nonexistent"))
DB = "learning"

pytestmark = pytest.mark.skipif(not HOST, reason="needs a converged lab host (PGFLEET_HOST)")

DENIED = errors.InsufficientPrivilege  # 42501
READ_ONLY = errors.ReadOnlySqlTransaction  # 25006


def connect(role: str, dbname: str = DB):
    conn = psycopg2.connect(
        host=HOST,
        port=PORT,
        dbname=dbname,
        user=role,
        password=(SECRETS / f"pg_{role}").read_text().strip(),
        sslmode="verify-full",
        sslrootcert=CA,
        connect_timeout=10,
        application_name="pgfleet-verify",
    )
    conn.autocommit = True
    return conn


def run(role: str, sql: str, params=None, read_write: bool = False):
    """Run sql as role (in a READ WRITE transaction when asked); return rows or None."""
    with closing(connect(role)) as conn, conn.cursor() as cur:
        if read_write:
            conn.autocommit = False
            cur.execute("BEGIN READ WRITE")
        try:
            cur.execute(sql, params)
            rows = cur.fetchall() if cur.description else None
        finally:
            if read_write:
                conn.rollback()
        return rows


def show(role: str, setting: str) -> str:
    return run(role, f"SHOW {setting}")[0][0]


VECTOR = "(SELECT array_agg(cos(d))::vector(384) FROM generate_series(1, 384) d)"

ALLOWED = [
    ("migrator", "CREATE TABLE app.verify_ddl (id int); DROP TABLE app.verify_ddl"),
    ("app", "INSERT INTO app.courses (title) VALUES ('verify') RETURNING id"),
    ("app", "UPDATE app.courses SET title = title WHERE title = 'verify'"),
    ("app", "DELETE FROM app.courses WHERE title = 'verify'"),
    ("app", 'SELECT count(*) FROM app."OptimizationLog"'),
    ("app", "SELECT app.course_count()"),  # readwrite executes the schema's functions
    ("analytics", "SELECT count(*) FROM app.courses"),
    ("analytics", 'SELECT count(*) FROM app."OptimizationLog"'),
    (
        "ai_readonly",
        f'SELECT id FROM app."OptimizationLog" ORDER BY "queryEmbedding" <=> {VECTOR} LIMIT 5',
    ),
    ("monitoring", "SELECT count(*) FROM pg_stat_activity"),
    ("monitoring", "SELECT count(*) FROM pg_stat_statements"),
]


@pytest.mark.parametrize(("role", "sql"), ALLOWED, ids=[f"{r}: {s[:40]}" for r, s in ALLOWED])
def test_allowed(role, sql):
    run(role, sql)


FORBIDDEN = [
    # The AI role: reads only the tables it is given; writes, DDL, TEMP are refused.
    ("ai_readonly", "SELECT count(*) FROM app.courses", False, DENIED),
    (
        "ai_readonly",
        f'INSERT INTO app."OptimizationLog" (query, "queryEmbedding") VALUES (\'x\', {VECTOR})',
        False,
        READ_ONLY,
    ),
    (
        "ai_readonly",
        f'INSERT INTO app."OptimizationLog" (query, "queryEmbedding") VALUES (\'x\', {VECTOR})',
        True,
        DENIED,
    ),
    ("ai_readonly", 'UPDATE app."OptimizationLog" SET "latencyMs" = 0', True, DENIED),
    ("ai_readonly", 'DELETE FROM app."OptimizationLog"', True, DENIED),
    ("ai_readonly", "CREATE TABLE app.ai_table (id int)", True, DENIED),
    ("ai_readonly", "CREATE TABLE public.ai_table (id int)", True, DENIED),
    ("ai_readonly", "CREATE TEMP TABLE ai_tmp (id int)", True, DENIED),
    ("ai_readonly", 'REINDEX INDEX app."OptimizationLog_queryEmbedding_hnsw"', True, DENIED),
    ("ai_readonly", 'DROP TABLE app."OptimizationLog"', True, DENIED),
    ("ai_readonly", "SELECT app.course_count()", False, DENIED),  # created after the grants
    # Analytics: read-only by privileges.
    ("analytics", "INSERT INTO app.courses (title) VALUES ('x')", False, DENIED),
    ("analytics", "CREATE TABLE app.analytics_table (id int)", False, DENIED),
    ("analytics", "CREATE TEMP TABLE analytics_tmp (id int)", False, DENIED),
    ("analytics", "SELECT app.course_count()", False, DENIED),
    # The application: data, not schema.
    ("app", "CREATE TABLE app.app_table (id int)", False, DENIED),
    ("app", "CREATE TABLE public.app_table (id int)", False, DENIED),
    ("app", "CREATE TEMP TABLE app_tmp (id int)", False, DENIED),
    ("app", 'CREATE INDEX ON app."OptimizationLog" ("latencyMs")', False, DENIED),
    ("app", 'REINDEX INDEX app."OptimizationLog_queryEmbedding_hnsw"', False, DENIED),
    ("app", "TRUNCATE app.courses", False, DENIED),
    # Monitoring: statistics, not data.
    ("monitoring", "SELECT count(*) FROM app.courses", False, DENIED),
]


@pytest.mark.parametrize(
    ("role", "sql", "read_write", "error"),
    FORBIDDEN,
    ids=[f"{r}{' rw' if rw else ''}: {s[:40]}" for r, s, rw, _ in FORBIDDEN],
)
def test_forbidden(role, sql, read_write, error):
    with pytest.raises(error):
        run(role, sql, read_write=read_write)


@pytest.mark.parametrize(
    ("role", "setting", "value"),
    [
        ("app", "statement_timeout", "30s"),  # the database's
        ("app", "lock_timeout", "5s"),
        ("app", "idle_in_transaction_session_timeout", "1min"),
        ("analytics", "statement_timeout", "5min"),  # the role's wins
        ("migrator", "statement_timeout", "15min"),
        ("ai_readonly", "statement_timeout", "10s"),
        ("ai_readonly", "idle_session_timeout", "1min"),
        ("ai_readonly", "default_transaction_read_only", "on"),
        ("app", "max_parallel_maintenance_workers", "0"),  # pgvector advisory mitigation
        ("app", "pgaudit.role", "auditor"),
    ],
)
def test_timeouts_and_settings(role, setting, value):
    assert show(role, setting) == value


def test_statement_timeout_cancels_a_long_query():
    with pytest.raises(errors.QueryCanceled, match="statement timeout"):
        run("ai_readonly", "SELECT pg_sleep(12)")


def test_catalog_baseline():
    rows = run(
        "migrator",
        """
        SELECT (SELECT count(*) FROM pg_roles WHERE rolsuper),
               (SELECT count(*) FROM information_schema.role_table_grants
                 WHERE grantee = 'PUBLIC' AND table_schema = 'app'),
               (SELECT array_agg(r ORDER BY r) FROM unnest(ARRAY['app', 'analytics', 'ai_readonly',
                  'monitoring']) r WHERE has_schema_privilege(r, 'app', 'CREATE')
                  OR has_schema_privilege(r, 'public', 'CREATE')
                  OR has_database_privilege(r, 'learning', 'TEMP')
                  OR has_table_privilege(r, 'app."OptimizationLog"', 'MAINTAIN')),
               (SELECT array_agg(t ORDER BY t) FROM (SELECT c.relname::text AS t
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'app' AND c.relkind = 'r'
                   AND has_table_privilege('ai_readonly', c.oid, 'SELECT')) s),
               (SELECT rolconnlimit FROM pg_roles WHERE rolname = 'ai_readonly'),
               (SELECT array_agg(p.oid::regprocedure::text ORDER BY p.oid) FROM pg_proc p
                 WHERE p.pronamespace = 'app'::regnamespace
                   AND (has_function_privilege('public', p.oid, 'EXECUTE')
                        OR has_function_privilege('ai_readonly', p.oid, 'EXECUTE'))),
               to_regprocedure('app.course_count()') IS NOT NULL,
               has_database_privilege('public', 'postgres', 'TEMP')
        """,
    )
    (
        superusers,
        public_grants,
        too_powerful,
        ai_tables,
        ai_limit,
        public_functions,
        demo_function_exists,
        public_temp_in_postgres,
    ) = rows[0]
    assert superusers == 1
    assert public_grants == 0
    assert too_powerful is None
    assert ai_tables == ["OptimizationLog"]
    assert ai_limit == 10
    # The demo's app.course_count() was created by the migrator after the grants: default
    # privileges keep it (and every other function of app) from PUBLIC and the AI role.
    assert demo_function_exists is True
    assert public_functions is None
    assert public_temp_in_postgres is False


def test_default_privileges_cover_tables_created_later():
    name = f"later_{uuid.uuid4().hex[:8]}"
    run("migrator", f"CREATE TABLE app.{name} (id int)")
    try:
        run("app", f"INSERT INTO app.{name} VALUES (1)")
        assert run("analytics", f"SELECT count(*) FROM app.{name}")[0][0] == 1
        with pytest.raises(DENIED):
            run("ai_readonly", f"SELECT count(*) FROM app.{name}")
    finally:
        run("migrator", f"DROP TABLE app.{name}")


def test_default_privileges_keep_functions_created_later_from_public():
    name = f"later_{uuid.uuid4().hex[:8]}"
    run("migrator", f"CREATE FUNCTION app.{name}() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    try:
        assert run("app", f"SELECT app.{name}()")[0][0] == 1
        for role in ("ai_readonly", "analytics"):
            with pytest.raises(DENIED):
                run(role, f"SELECT app.{name}()")
        assert run(
            "migrator",
            f"SELECT has_function_privilege('public', 'app.{name}()', 'EXECUTE'), "
            f"has_function_privilege('monitoring', 'app.{name}()', 'EXECUTE')",
        )[0] == (False, False)
    finally:
        run("migrator", f"DROP FUNCTION app.{name}()")


def test_no_verifier_in_pg_stat_statements():
    # The monitoring role reads every statement text kept by pg_stat_statements; the
    # statements that set passwords are not tracked.
    rows = run(
        "monitoring",
        "SELECT count(*) FROM pg_stat_statements WHERE strpos(query, 'SCRAM-SHA-256$') > 0",
    )
    assert rows[0][0] == 0


def test_passwords_are_scram_verifiers():
    # Only the superuser can read pg_authid; over the network we check what we can: a
    # wrong password is refused for every login role.
    for role in ("app", "analytics", "ai_readonly", "monitoring", "migrator"):
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            psycopg2.connect(
                host=HOST,
                port=PORT,
                dbname=DB,
                user=role,
                password="wrong-password-123456",
                sslmode="verify-full",
                sslrootcert=CA,
                connect_timeout=10,
            ).close()
