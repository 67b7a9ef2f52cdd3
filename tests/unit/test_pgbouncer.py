"""pgbouncer_pools and pgbouncer_input_problems: pools that fit the primary, bad values named."""

import pytest

from pgbouncer import FilterModule, pgbouncer_input_problems, pgbouncer_pools

SETTINGS = {
    "pgbouncer_port": 6432,
    "pgbouncer_default_pool_mode": "transaction",
    "pgbouncer_default_pool_size": 20,
    "pgbouncer_reserve_pool_size": 5,
    "pgbouncer_direct_connections": 20,
    "pgbouncer_max_client_conn": 2000,
    "pgbouncer_max_prepared_statements": 200,
    "pgbouncer_query_wait_timeout": 120,
    "pgbouncer_auth_user": "pgbouncer_auth",
    "pgbouncer_ignore_startup_parameters": ["extra_float_digits"],
    "pgbouncer_track_extra_parameters": ["IntervalStyle"],
    "pgbouncer_databases": {},
}
CONTEXT = {
    "databases": ["learning"],
    "bouncers": 3,
    "max_connections": 200,
    "superuser_reserved_connections": 3,
    "reserved_connections": 0,
    "ports": {
        "postgresql_cluster_port": 5432,
        "postgresql_restore_side_port": 5433,
        "postgresql_restore_drill_port": 5434,
    },
    "reserved_roles": ["postgres", "replicator", "rewinder"],
}


def settings(**changes):
    return {**SETTINGS, **changes}


def context(**changes):
    return {**CONTEXT, **changes}


def test_filters_are_exported():
    assert set(FilterModule().filters()) == {
        "pgbouncer_pools",
        "pgbouncer_input_problems",
        "pgbouncer_status_report",
        "pgbouncer_not_paused",
    }


def test_the_lab_defaults_are_accepted_and_sized():
    assert pgbouncer_input_problems(SETTINGS, CONTEXT) == []
    plan = pgbouncer_pools(SETTINGS, CONTEXT)
    # 200 - 3 - 0 - 20 - 2 (auth pool) = 175; 175 // 3 = 58.
    assert plan["usable"] == 175
    assert plan["per_bouncer"] == 58
    assert plan["databases"] == {
        "learning": {
            "pool_mode": "transaction",
            "max_db_connections": 58,
            "pool_size": 20,
            "reserve_pool_size": 5,
        }
    }


def test_databases_share_what_is_left_after_explicit_caps():
    plan = pgbouncer_pools(
        settings(pgbouncer_databases={"a": {"max_db_connections": 18, "pool_mode": "session"}}),
        context(databases=["a", "b", "c"]),
    )
    assert plan["databases"]["a"] == {
        "pool_mode": "session",
        "max_db_connections": 18,
        "pool_size": 18,
        "reserve_pool_size": 0,
    }
    # (58 - 18) // 2 = 20 each.
    assert plan["databases"]["b"]["max_db_connections"] == 20
    assert plan["databases"]["c"]["pool_size"] == 20
    assert plan["databases"]["c"]["reserve_pool_size"] == 0
    assert plan["databases"]["b"]["pool_mode"] == "transaction"


def test_the_pools_never_exceed_the_primary():
    for bouncers in range(1, 8):
        for names in (["a"], ["a", "b"], ["a", "b", "c", "d", "e"]):
            ctx = context(databases=names, bouncers=bouncers)
            if pgbouncer_input_problems(SETTINGS, ctx):
                continue
            plan = pgbouncer_pools(SETTINGS, ctx)
            per = sum(pool["max_db_connections"] for pool in plan["databases"].values())
            assert per * bouncers <= plan["usable"]
            for pool in plan["databases"].values():
                assert pool["pool_size"] + pool["reserve_pool_size"] <= pool["max_db_connections"]


def test_pools_larger_than_the_server_allows_are_refused_with_the_variables():
    problems = pgbouncer_input_problems(
        settings(pgbouncer_databases={"learning": {"max_db_connections": 60}}), CONTEXT
    )
    assert len(problems) == 1
    assert "pgbouncer_databases" in problems[0]
    assert "(learning 60) x 3 PgBouncer(s) = 180" in problems[0]
    assert "postgresql_server_max_connections" in problems[0]
    assert "= 175" in problems[0]


def test_too_few_connections_for_the_databases_is_refused():
    problems = pgbouncer_input_problems(
        SETTINGS, context(max_connections=30, databases=["a", "b", "c"])
    )
    # 30 - 3 - 20 - 2 = 5; 5 // 3 = 1 per PgBouncer for three databases.
    assert len(problems) == 1
    assert "leaves 1 for 3 database(s)" in problems[0]
    assert "pgbouncer_direct_connections" in problems[0]


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"pgbouncer_default_pool_mode": "transactions"}, "pgbouncer_default_pool_mode: one of"),
        ({"pgbouncer_port": 5432}, "already postgresql_cluster_port's port"),
        ({"pgbouncer_port": 5434}, "already postgresql_restore_drill_port's port"),
        ({"pgbouncer_port": 70000}, "pgbouncer_port: a TCP port"),
        ({"pgbouncer_port": "6432x"}, "pgbouncer_port: a TCP port"),
        (
            {"pgbouncer_default_pool_size": 0},
            "pgbouncer_default_pool_size: a whole number of at least 1",
        ),
        ({"pgbouncer_reserve_pool_size": -1}, "pgbouncer_reserve_pool_size: a whole number"),
        ({"pgbouncer_direct_connections": True}, "pgbouncer_direct_connections: a whole number"),
        ({"pgbouncer_max_client_conn": 0}, "pgbouncer_max_client_conn"),
        ({"pgbouncer_query_wait_timeout": 0}, "pgbouncer_query_wait_timeout"),
        ({"pgbouncer_auth_user": "Bouncer Auth"}, "pgbouncer_auth_user: a lower-case role name"),
        ({"pgbouncer_auth_user": "replicator"}, "pgbouncer_auth_user: replicator is a role"),
        (
            {"pgbouncer_ignore_startup_parameters": "extra_float_digits"},
            "pgbouncer_ignore_startup_parameters: a list",
        ),
        (
            {"pgbouncer_ignore_startup_parameters": ["a b"]},
            "pgbouncer_ignore_startup_parameters: a list",
        ),
        ({"pgbouncer_track_extra_parameters": ["search_path"]}, "CVE-2025-12819"),
        ({"pgbouncer_track_extra_parameters": ["Search_Path"]}, "CVE-2025-12819"),
        ({"pgbouncer_databases": ["learning"]}, "pgbouncer_databases: a mapping"),
        (
            {"pgbouncer_databases": {"other": {}}},
            "pgbouncer_databases.other: other is not a database",
        ),
        (
            {"pgbouncer_databases": {"learning": "session"}},
            "pgbouncer_databases.learning: a mapping",
        ),
        (
            {"pgbouncer_databases": {"learning": {"mode": "session"}}},
            "pgbouncer_databases.learning.mode: unknown",
        ),
        (
            {"pgbouncer_databases": {"learning": {"pool_mode": "tx"}}},
            "pgbouncer_databases.learning.pool_mode: one of",
        ),
        (
            {"pgbouncer_databases": {"learning": {"pool_size": 0}}},
            "pgbouncer_databases.learning.pool_size",
        ),
        (
            {"pgbouncer_databases": {"learning": {"max_db_connections": "many"}}},
            "learning.max_db_connections",
        ),
    ],
)
def test_bad_values_are_named(changes, named):
    problems = pgbouncer_input_problems(settings(**changes), CONTEXT)
    assert any(named in problem for problem in problems), problems


def test_null_databases_mean_none_set():
    assert pgbouncer_input_problems(settings(pgbouncer_databases=None), CONTEXT) == []


def test_no_pooled_database_is_accepted():
    assert pgbouncer_input_problems(SETTINGS, context(databases=[])) == []
    assert pgbouncer_pools(SETTINGS, context(databases=[]))["databases"] == {}


# --- The login lookup's SQL (the pgbouncer_auth module) ---

from pgfleet import pgbouncer as core  # noqa: E402


def test_the_lookup_refuses_what_pgbouncer_must_never_admit():
    body = core.LOOKUP_BODY
    for clause in (
        "a.rolcanlogin",
        "NOT a.rolsuper",
        "NOT a.rolreplication",
        "NOT a.rolbypassrls",
        "pg_catalog.starts_with(a.rolpassword, pg_catalog.concat('SCRAM-SHA-256', '$'))",
        # VALID UNTIL passed: NULL, so the login fails (CVE-2025-2291).
        "a.rolvaliduntil OPERATOR(pg_catalog.<) pg_catalog.now()",
    ):
        assert clause in body
    # Every operator and function is schema-qualified: nothing a client creates resolves.
    assert " = " not in body and " < " not in body and " LIKE " not in body.upper()
    # The logs are searched for leaked verifiers by this prefix: the DDL must not hold it.
    assert "SCRAM-SHA-256$" not in core.auth_apply_sql("pgbouncer_auth") + body


def test_the_function_is_the_superusers_and_only_the_auth_role_may_call_it():
    sql = core.auth_apply_sql("pgbouncer_auth")
    assert "CREATE SCHEMA IF NOT EXISTS pgbouncer AUTHORIZATION postgres;" in sql
    assert "REVOKE ALL ON SCHEMA pgbouncer FROM PUBLIC;" in sql
    assert "REVOKE ALL ON FUNCTION pgbouncer.user_lookup(pg_catalog.text) FROM PUBLIC;" in sql
    assert (
        "GRANT EXECUTE ON FUNCTION pgbouncer.user_lookup(pg_catalog.text) TO pgbouncer_auth;" in sql
    )
    assert "SECURITY DEFINER" in sql and "SET search_path = pg_catalog, pg_temp" in sql
    assert "PASSWORD NULL" in sql and "NOSUPERUSER NOREPLICATION NOBYPASSRLS" in sql
    assert sql.startswith("BEGIN;") and sql.rstrip().endswith("COMMIT;")


def test_the_state_check_compares_the_exact_rights():
    sql = core.auth_state_sql("pgbouncer_auth")
    assert "'{postgres=UC/postgres,pgbouncer_auth=U/postgres}'" in sql
    assert "'{postgres=X/postgres,pgbouncer_auth=X/postgres}'" in sql
    assert "p.prosrc = :'body'" in sql
    assert "a.rolpassword IS NULL" in sql


@pytest.mark.parametrize("name", ["Auth", "auth;drop", "auth role", "", "1auth", "a" * 64])
def test_only_plain_role_names_reach_the_sql(name):
    with pytest.raises(ValueError):
        core.auth_apply_sql(name)
    with pytest.raises(ValueError):
        core.auth_state_sql(name)


# --- The admin console (the pgbouncer_admin module) ---

SHOW_POOLS = (
    "database,user,cl_active,cl_waiting,cl_active_cancel_req,cl_waiting_cancel_req,sv_active,"
    "sv_active_cancel,sv_being_canceled,sv_idle,sv_used,sv_tested,sv_login,maxwait,maxwait_us,"
    "pool_mode,load_balance_hosts\n"
    "learning,app,40,12,0,0,16,0,0,0,0,0,0,7,250000,transaction,\n"
    "learning,analytics,1,0,0,0,0,0,0,2,0,0,0,0,0,transaction,\n"
    "pgbouncer,pgbouncer,1,0,0,0,0,0,0,0,0,0,0,0,0,statement,\n"
    "pgbouncer_auth,pgbouncer_auth,0,0,0,0,0,0,0,1,0,0,0,0,0,session,\n"
)
SHOW_DATABASES = (
    "name,host,port,database,force_user,pool_size,min_pool_size,reserve_pool_size,"
    "server_lifetime,pool_mode,load_balance_hosts,max_connections,current_connections,"
    "max_client_connections,current_client_connections,paused,disabled\n"
    "learning,10.0.0.11,5432,learning,,20,0,5,3600,transaction,,58,18,0,53,0,0\n"
    "reports,10.0.0.11,5432,reports,,10,0,0,3600,session,,10,0,0,0,1,0\n"
    "pgbouncer,,6432,pgbouncer,pgbouncer,2,0,0,0,statement,,0,0,0,1,0,0\n"
)


def test_the_console_is_reached_without_options_or_passwords():
    argv = core.admin_argv(6432)
    assert argv[:4] == ["runuser", "-u", "postgres", "--"]
    assert argv[argv.index("-U") + 1] == "pgbouncer"
    assert argv[argv.index("-d") + 1] == "pgbouncer"
    assert argv[argv.index("-h") + 1] == "/var/run/postgresql"
    env = core.admin_env(
        {"PGOPTIONS": "-c search_path=x", "PGPASSWORD": "s", "PATH": "/bin", "PGPASSFILE": "/p"}
    )
    assert env == {"PATH": "/bin", "LC_MESSAGES": "C", "PGCONNECT_TIMEOUT": "5"}
    with pytest.raises(ValueError):
        core.admin_argv(0)


def test_who_holds_the_connections():
    report = core.pool_report(
        core.parse_show(SHOW_POOLS), core.parse_show(SHOW_DATABASES), max_wait_seconds=5
    )
    assert [(p["database"], p["user"]) for p in report["pools"]] == [
        ("learning", "app"),
        ("learning", "analytics"),
    ]
    app = report["pools"][0]
    assert app["clients_waiting"] == 12
    assert app["longest_wait_seconds"] == 7.25
    assert (app["servers"], app["pool_size"], app["used_percent"]) == (16, 20, 80.0)
    assert len(report["problems"]) == 2
    assert "learning/app: 16 of 20 server connections busy (80.0 %" in report["problems"][0]
    assert "waited 7.2 s" in report["problems"][1]
    assert "pgbouncer_status_max_wait_seconds" in report["problems"][1]


def test_a_quiet_pool_is_no_problem():
    """Twenty idle server connections of a pool of 20: kept for the next burst, not busy."""
    quiet = SHOW_POOLS.replace(
        "learning,app,40,12,0,0,16,0,0,0,0,0,0,7,250000", "learning,app,0,0,0,0,0,0,0,20,0,0,0,0,0"
    )
    report = core.pool_report(core.parse_show(quiet), core.parse_show(SHOW_DATABASES), 5)
    assert report["problems"] == []


def test_paused_databases():
    assert core.paused_databases(core.parse_show(SHOW_DATABASES)) == ["reports"]


def test_not_paused_trusts_only_the_modules_own_word():
    # failed_when false clears `failed`: a pause given up on looks like this when registered.
    given_up = {"failed": False, "failed_when_result": False, "paused": False, "msg": "timed out"}
    results = {
        "pg1": {"changed": True, "paused": True, "changed_databases": ["learning"]},
        "pg2": given_up,
        "pg3": {"skipped": True, "changed": False},
        "pg4": {"failed": False, "msg": "MODULE FAILURE"},  # no word from the module
        "pg5": {"unreachable": True, "msg": "ssh"},
        "pg6": {"changed": False, "paused": True, "installed": False},
    }
    assert core.not_paused(results) == ["pg2", "pg4", "pg5"]
    assert FilterModule().filters()["pgbouncer_not_paused"](results) == ["pg2", "pg4", "pg5"]
    assert core.not_paused({"pg1": {"paused": True}, "pg3": {"skipped": True}}) == []


def test_the_status_report_names_who_holds_the_connections():
    show = core.pool_report(core.parse_show(SHOW_POOLS), core.parse_show(SHOW_DATABASES), 5)
    report = core.status_report(
        {
            "pg1": {"changed": False, **show},
            "pg2": {"failed": True, "msg": "could not connect"},
            "pg3": {"skipped": True},
        },
        [{"database": "learning", "user": "app", "sessions": 16, "idle_in_transaction": 2}],
    )
    assert list(report["nodes"]) == ["pg1"]
    assert report["lines"][0].startswith("pg1 learning/app (transaction): 16/20 server connections")
    assert report["lines"][-1] == "primary learning/app: 16 sessions, 2 idle in a transaction"
    assert "PgBouncer on pg2 did not answer: could not connect" in report["problems"]
    assert any(p.startswith("PgBouncer on pg1: pool learning/app") for p in report["problems"])


def test_a_roles_connection_limit_is_shared_by_the_pgbouncers():
    plan = pgbouncer_pools(SETTINGS, context(role_limits={"app": 50, "monitoring": 2, "free": -1}))
    assert plan["users"] == {
        "app": {"max_user_connections": 16},
        "monitoring": {"max_user_connections": 1},
    }


def test_a_roles_alternate_login_has_the_roles_limit():
    limits = {"app": 50, "free": -1}
    plan = pgbouncer_pools(
        SETTINGS, context(role_limits=limits, alternates={"app": "app_alt", "free": "free_alt"})
    )
    assert plan["users"] == {
        "app": {"max_user_connections": 16},
        "app_alt": {"max_user_connections": 16},
    }


INI = """[databases]
; comment host=10.0.0.1
learning = host=10.0.0.11 port=5432 dbname=learning pool_size=20
reports = host=10.0.0.11 port=5432 dbname=reports
pgbouncer_auth = host=/var/run/postgresql port=5432 dbname=postgres

[pgbouncer]
listen_addr = 10.0.0.13,127.0.0.1
"""


def test_repoint_moves_only_the_pooled_databases():
    text = core.repoint_text(INI, "10.0.0.12")
    assert "learning = host=10.0.0.12 port=5432 dbname=learning pool_size=20" in text
    assert "reports = host=10.0.0.12 port=5432" in text
    assert "pgbouncer_auth = host=/var/run/postgresql" in text
    assert "; comment host=10.0.0.1\n" in text
    assert "listen_addr = 10.0.0.13,127.0.0.1" in text
    assert core.repoint_text(text, "10.0.0.12") == text


@pytest.mark.parametrize("host", ["", "a b", "x;rm", "-h"])
def test_repoint_refuses_what_is_not_a_host(host):
    with pytest.raises(ValueError):
        core.repoint_text(INI, host)
