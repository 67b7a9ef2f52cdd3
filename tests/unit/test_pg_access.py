"""pg_access: declarations become exactly the SQL that enforces them; bad ones name the path."""

import pytest
from ansible.errors import AnsibleFilterError

from pg_access import (
    PASSWORD_SESSION_SETTINGS,
    FilterModule,
    pg_access_database_sql,
    pg_access_drop_sql,
    pg_access_password_sql,
    pg_access_roles_sql,
    pg_access_tables,
    pg_access_validate,
    quote_ident,
    quote_literal,
)
from pg_scram import pg_scram_matches, pg_scram_verifier

PASSWORD = "a-long-lab-password-0123456789"
ROLES = [
    {
        "name": "migrator",
        "password": PASSWORD,
        "connection_limit": 5,
        "settings": {"lock_timeout": "5s"},
    },
    {"name": "app", "password": PASSWORD},
    {"name": "analytics", "settings": {"statement_timeout": "5min", "work_mem": None}},
    {"name": "monitoring", "member_of": ["pg_monitor"]},
    {
        "name": "ai_readonly",
        "connection_limit": 10,
        "settings": {"default_transaction_read_only": True, "idle_session_timeout": "60s"},
    },
    {"name": "auditor", "login": False},
    {"name": "old_reporting", "state": "absent"},
]
DATABASES = [
    {
        "name": "learning",
        "owner": "migrator",
        "schemas": ["app"],
        "extensions": ["vector"],
        "settings": {"statement_timeout": "30s"},
        "audit_role": "auditor",
        "grants": [
            {"role": "app", "access": "readwrite", "schemas": ["app"]},
            {"role": "analytics", "access": "readonly", "schemas": ["app"]},
            {"role": "monitoring", "access": "connect"},
            {"role": "ai_readonly", "access": "select", "tables": ["app.OptimizationLog"]},
            {"role": "old_app", "access": "readonly", "state": "absent"},
        ],
    }
]


def test_quoting():
    assert quote_ident('we"ird') == '"we""ird"'
    assert quote_literal("it's") == "'it''s'"


def test_validate_accepts_the_lab_shape():
    assert pg_access_validate(DATABASES, ROLES) is True


def test_roles_sql_creates_missing_and_aligns_attributes():
    sql = pg_access_roles_sql(ROLES, {})
    assert 'CREATE ROLE "migrator"' in sql
    assert (
        'ALTER ROLE "migrator" WITH NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS INHERIT '
        "LOGIN NOREPLICATION CONNECTION LIMIT 5"
    ) in sql
    assert (
        'ALTER ROLE "auditor" WITH NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS INHERIT '
        "NOLOGIN NOREPLICATION CONNECTION LIMIT -1" in sql
    )
    assert "ALTER ROLE \"migrator\" SET lock_timeout = '5s'" in sql
    assert "ALTER ROLE \"analytics\" SET statement_timeout = '5min'" in sql
    assert 'ALTER ROLE "analytics" RESET work_mem' in sql
    assert 'ALTER ROLE "ai_readonly" SET default_transaction_read_only = on' in sql
    assert 'GRANT "pg_monitor" TO "monitoring"' in sql
    assert not any("old_reporting" in s for s in sql)  # absent roles are dropped later
    # PUBLIC cannot create temporary tables in the maintenance database either.
    assert sql[0] == "REVOKE TEMPORARY ON DATABASE postgres FROM PUBLIC"
    # Passwords are never part of the role DDL, which is logged and audited as usual.
    assert not any("PASSWORD" in s or "SCRAM-SHA-256$" in s or PASSWORD in s for s in sql)


def test_roles_sql_creates_only_missing_roles():
    sql = pg_access_roles_sql(ROLES, {"migrator": None})
    assert 'CREATE ROLE "migrator"' not in sql
    assert 'CREATE ROLE "app"' in sql


def test_password_statements_come_wrapped():
    sql = pg_access_password_sql(ROLES, {})
    quiet, *passwords, trail = sql
    # The first statement, sent on its own, turns off every way statement text is logged
    # or kept, for the rest of the transaction; no verifier is in it.
    assert quiet == (
        "SET LOCAL log_statement = 'none'; "
        "SET LOCAL log_min_duration_statement = -1; "
        "SET LOCAL log_min_duration_sample = -1; "
        "SET LOCAL log_min_error_statement = 'panic'; "
        "SET LOCAL pgaudit.log = 'none'; "
        "SET LOCAL pg_stat_statements.track = 'none'; "
        "SET LOCAL track_activities = off"
    )
    assert len(PASSWORD_SESSION_SETTINGS) == quiet.count("SET LOCAL")
    assert "SCRAM" not in quiet
    # Then one statement per password, each carrying only its verifier.
    assert [s.split(" PASSWORD ")[0] for s in passwords] == [
        'ALTER ROLE "migrator"',
        'ALTER ROLE "app"',
    ]
    for statement in passwords:
        verifier = statement.split(" PASSWORD ")[1]
        assert verifier.startswith("'SCRAM-SHA-256$4096:") and verifier.endswith("'")
        assert pg_scram_matches(PASSWORD, verifier.strip("'"))
        assert ";" not in statement
    # Last, a log line naming the roles, without any verifier.
    assert trail == (
        "DO $pgfleet$ BEGIN RAISE LOG 'postgresql_access: new password for role(s) "
        "migrator, app'; END $pgfleet$"
    )
    assert all(PASSWORD not in s for s in sql)


def test_password_sql_leaves_matching_passwords_alone():
    current = {"migrator": pg_scram_verifier(PASSWORD), "app": "md5" + "0" * 32}
    sql = pg_access_password_sql(ROLES, current)
    assert [s.split(" PASSWORD ")[0] for s in sql if " PASSWORD " in s] == ['ALTER ROLE "app"']
    assert sql[0].startswith("SET LOCAL log_statement = 'none'")


def test_password_sql_is_empty_when_every_password_matches():
    verifier = pg_scram_verifier(PASSWORD)
    assert pg_access_password_sql(ROLES, {"migrator": verifier, "app": verifier}) == []
    assert pg_access_password_sql([{"name": "x", "login": False}], {}) == []


def test_database_sql():
    sql = pg_access_database_sql(
        "learning", DATABASES, ROLES, extra_settings={"max_parallel_maintenance_workers": 0}
    )
    expected_in_order = [
        'ALTER DATABASE "learning" OWNER TO "migrator"',
        'REVOKE ALL ON DATABASE "learning" FROM PUBLIC',
        # public belongs to the superuser: the database owner cannot plant objects there.
        "ALTER SCHEMA public OWNER TO postgres",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        'ALTER DEFAULT PRIVILEGES FOR ROLE "migrator" REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC',
        # Extensions go to a named schema: the superuser's own search_path holds only
        # pg_catalog, which would otherwise receive them.
        'CREATE EXTENSION IF NOT EXISTS "vector" SCHEMA public',
        'CREATE SCHEMA IF NOT EXISTS "app" AUTHORIZATION "migrator"',
        'REVOKE ALL ON SCHEMA "app" FROM PUBLIC',
        'REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA "app" FROM PUBLIC',
        'ALTER DATABASE "learning" SET max_parallel_maintenance_workers = 0',
        "ALTER DATABASE \"learning\" SET pgaudit.role = 'auditor'",
        "ALTER DATABASE \"learning\" SET statement_timeout = '30s'",
        'GRANT CONNECT ON DATABASE "learning" TO "app"',
        'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "app" TO "app"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "migrator" IN SCHEMA "app" GRANT SELECT, INSERT, '
        'UPDATE, DELETE ON TABLES TO "app"',
        'GRANT EXECUTE ON ALL ROUTINES IN SCHEMA "app" TO "app"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "migrator" IN SCHEMA "app" GRANT EXECUTE ON FUNCTIONS '
        'TO "app"',
        'GRANT SELECT ON ALL TABLES IN SCHEMA "app" TO "analytics"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "migrator" IN SCHEMA "app" GRANT SELECT ON TABLES '
        'TO "analytics"',
        'GRANT CONNECT ON DATABASE "learning" TO "monitoring"',
        'GRANT USAGE ON SCHEMA "app" TO "ai_readonly"',
    ]
    positions = [sql.index(s) for s in expected_in_order]
    assert positions == sorted(positions)
    # The AI role gets SELECT on its table only, and only if the table exists.
    ai = [s for s in sql if '"ai_readonly"' in s]
    assert ai[-1] == (
        'DO $pgfleet$ BEGIN IF to_regclass(\'"app"."OptimizationLog"\') IS NOT NULL THEN '
        'EXECUTE \'GRANT SELECT ON "app"."OptimizationLog" TO "ai_readonly"\'; END IF; '
        "END $pgfleet$"
    )
    assert not any("ai_readonly" in s and ("INSERT" in s or "ALL TABLES" in s) for s in sql)
    # EXECUTE goes to the readwrite role only; PUBLIC keeps none on the managed schemas.
    assert [s for s in sql if "EXECUTE ON" in s and " TO " in s] == [
        'GRANT EXECUTE ON ALL ROUTINES IN SCHEMA "app" TO "app"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "migrator" IN SCHEMA "app" GRANT EXECUTE ON FUNCTIONS '
        'TO "app"',
    ]
    # Absent grants and absent roles lose everything, guarded by the role existing.
    for role in ("old_app", "old_reporting"):
        (revoke,) = [s for s in sql if f"rolname = '{role}'" in s]
        assert "REVOKE ALL ON DATABASE" in revoke and "REVOKE ALL ON TABLES" in revoke
        assert "REVOKE ALL ON ALL ROUTINES IN SCHEMA" in revoke
        assert "REVOKE ALL ON FUNCTIONS" in revoke


def test_filters_exported():
    assert sorted(FilterModule().filters()) == [
        "pg_access_alternates",
        "pg_access_database_sql",
        "pg_access_drop_sql",
        "pg_access_password_sql",
        "pg_access_roles_sql",
        "pg_access_tables",
        "pg_access_validate",
        "pg_quote_ident",
        "pg_quote_literal",
    ]


@pytest.mark.parametrize(
    "member_of",
    [
        ["pg_monitor"],
        ["pg_read_all_settings", "pg_read_all_stats", "pg_stat_scan_tables"],
        ["pg_use_reserved_connections"],
        ["auditor"],  # a role the inventory declares
    ],
)
def test_member_of_accepts_monitoring_and_declared_roles(member_of):
    roles = [*ROLES[:3], {"name": "monitoring", "member_of": member_of}, *ROLES[4:]]
    assert pg_access_validate(DATABASES, roles) is True
    sql = pg_access_roles_sql(roles, {})
    assert [s for s in sql if s.startswith("GRANT ")] == [
        f'GRANT "{m}" TO "monitoring"' for m in member_of
    ]


@pytest.mark.parametrize(
    "member",
    [
        "postgres",
        "pg_execute_server_program",
        "pg_write_server_files",
        "pg_read_server_files",
        "pg_read_all_data",
        "pg_write_all_data",
        "pg_signal_backend",
        "pg_checkpoint",
        "pg_create_subscription",
        "pg_database_owner",
        "ghost",  # not declared
        "old_reporting",  # declared, but absent
    ],
)
def test_member_of_refuses_other_roles(member):
    roles = [*ROLES[:3], {"name": "monitoring", "member_of": ["pg_monitor", member]}, *ROLES[4:]]
    expected = (
        rf"postgresql_access_roles\[3\]\.member_of\[1\]: '{member}' is not allowed; expected "
        r"one of the predefined monitoring roles \(pg_monitor, .*\) or a role declared present "
        r"in postgresql_access_roles"
    )
    for check in (
        lambda: pg_access_validate(DATABASES, roles),
        lambda: pg_access_roles_sql(roles, {}),
    ):
        with pytest.raises(AnsibleFilterError, match=expected):
            check()


def test_member_of_refuses_the_role_itself():
    roles = [{"name": "app", "member_of": ["app"]}]
    with pytest.raises(AnsibleFilterError, match=r"roles\[0\]\.member_of\[0\]: 'app' is the role"):
        pg_access_validate([], roles)


def test_database_sql_unknown_database():
    with pytest.raises(AnsibleFilterError, match="no database named 'nope'"):
        pg_access_database_sql("nope", DATABASES, ROLES)


def test_tables_and_drop():
    assert pg_access_tables("learning", DATABASES) == ['"app"."OptimizationLog"']
    assert pg_access_drop_sql(ROLES) == ['DROP ROLE IF EXISTS "old_reporting"']


def _with(roles=None, databases=None):
    return (databases if databases is not None else DATABASES), (
        roles if roles is not None else ROLES
    )


INVALID = [
    (_with(roles=[{"name": "App"}]), r"postgresql_access_roles\[0\]\.name"),
    (_with(roles=[{"name": "postgres"}]), "reserved"),
    (_with(roles=[{"name": "x", "superuser": True}]), r"postgresql_access_roles\[0\]: unknown key"),
    (_with(roles=[{"name": "x", "password": "short"}]), r"\[0\]\.password.*16 characters"),
    (_with(roles=[{"name": "x", "connection_limit": "ten"}]), r"\[0\]\.connection_limit"),
    (_with(roles=[{"name": "x", "state": "gone"}]), r"\[0\]\.state"),
    (_with(roles=[{"name": "x"}, {"name": "x"}]), "declared twice"),
    (
        _with(roles=[{"name": "x", "settings": {"statement_timeout": "30 seconds"}}]),
        r"postgresql_access_roles\[0\]\.settings\['statement_timeout'\]",
    ),
    (_with(roles=[{"name": "x", "settings": {"search_path": ["a", "b"]}}]), "lists cannot be set"),
    (_with(databases=[{"name": "db", "owner": "nobody"}]), r"databases\[0\]\.owner"),
    (_with(databases=[{"name": "db", "owner": "migrator", "state": "absent"}]), "never dropped"),
    (
        _with(
            databases=[
                {"name": "db", "owner": "migrator", "grants": [{"role": "app", "access": "admin"}]}
            ]
        ),
        r"grants\[0\]\.access",
    ),
    (
        _with(databases=[{"name": "db", "owner": "migrator", "grants": [{"role": "ghost"}]}]),
        r"grants\[0\]\.role.*not a present role",
    ),
    (
        _with(
            databases=[
                {
                    "name": "db",
                    "owner": "migrator",
                    "grants": [{"role": "app", "access": "readonly"}],
                }
            ]
        ),
        r"grants\[0\]\.schemas",
    ),
    (
        _with(
            databases=[
                {
                    "name": "db",
                    "owner": "migrator",
                    "grants": [{"role": "app", "access": "select", "tables": ["OptimizationLog"]}],
                }
            ]
        ),
        r"grants\[0\]\.tables\[0\].*schema\.table",
    ),
    (
        _with(databases=[{"name": "db", "owner": "migrator", "settings": {"lock_timeout": "5 s"}}]),
        None,
    ),
    (
        _with(databases=[{"name": "db", "owner": "migrator", "extensions": ["Vector"]}]),
        r"\.extensions",
    ),
]


@pytest.mark.parametrize(("args", "message"), INVALID)
def test_invalid(args, message):
    databases, roles = args
    if message is None:  # '5 s' is accepted by PostgreSQL and normalised
        assert pg_access_validate(databases, roles) is True
        return
    with pytest.raises(AnsibleFilterError, match=message):
        pg_access_validate(databases, roles)


def test_rewind_role_is_nologin_audited_and_granted_the_pg_rewind_functions():
    roles = [{"name": "rewinder", "password": "x" * 20}, {"name": "app", "password": "y" * 20}]
    sql = pg_access_roles_sql(roles, {}, rewind_user="rewinder", rewind_login=False)
    assert (
        'ALTER ROLE "rewinder" WITH NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS INHERIT '
        "NOLOGIN NOREPLICATION CONNECTION LIMIT -1"
    ) in sql
    assert "ALTER ROLE \"rewinder\" SET pgaudit.log = 'read, function'" in sql
    assert (
        "GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean), "
        "pg_catalog.pg_stat_file(text, boolean), pg_catalog.pg_read_binary_file(text), "
        'pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO "rewinder"'
    ) in sql
    # Other roles keep their declared login and get none of it.
    assert any(s.startswith('ALTER ROLE "app" WITH') and " LOGIN " in s for s in sql)
    assert not any('"app"' in s and ("pgaudit" in s or "pg_read_binary_file" in s) for s in sql)


def test_rewind_role_logs_in_under_patroni_whatever_it_declares():
    roles = [{"name": "rewinder", "password": "x" * 20, "login": False}]
    sql = pg_access_roles_sql(roles, {}, rewind_user="rewinder", rewind_login=True)
    assert any(s.startswith('ALTER ROLE "rewinder" WITH') and " LOGIN " in s for s in sql)
