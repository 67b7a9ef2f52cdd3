"""library/pg_access_apply.py: the scripts it sends, and what never leaves it."""

import pytest
from conftest import load_module

from pgfleet import scram

PASSWORD = "a-long-lab-password-0123456789"
ROLES = [
    {"name": "migrator", "password": PASSWORD, "connection_limit": 5},
    {"name": "app", "password": PASSWORD},
    {"name": "gone", "state": "absent"},
]
DATABASES = [
    {
        "name": "learning",
        "owner": "migrator",
        "schemas": ["app"],
        "extensions": ["vector"],
        "grants": [
            {"role": "app", "access": "readwrite", "schemas": ["app"]},
            {"role": "migrator", "access": "select", "tables": ["app.lessons"]},
        ],
    },
    {"name": "reports", "owner": "migrator", "extensions": ["pg_trgm"]},
]


@pytest.fixture(scope="module")
def mod():
    return load_module("pg_access_apply")


def lines(script: str) -> list[str]:
    return script.strip().splitlines()


def test_the_roles_step_is_one_transaction_framed_by_the_fingerprint(mod):
    script = lines(mod.roles_script(ROLES, {"roles": {}}, "rewinder", False, commit=True))
    assert script[:2] == ["\\set VERBOSITY terse", "BEGIN;"]
    assert "set_config('pgfleet.before'" in script[2] and mod.CLUSTER_SNAPSHOT in script[2]
    assert script[-2] == f"SELECT {mod.moved(mod.CLUSTER_SNAPSHOT)};"
    assert script[-1] == "COMMIT;"
    assert 'CREATE ROLE "migrator";' in script and 'CREATE ROLE "app";' in script


def test_check_mode_rolls_every_transaction_back(mod):
    assert (
        lines(mod.roles_script(ROLES, {"roles": {}}, None, True, commit=False))[-1] == "ROLLBACK;"
    )
    script = mod.database_script("learning", DATABASES, ROLES, {}, commit=False)
    assert lines(script)[-1] == "ROLLBACK;"


def test_verifiers_come_only_after_every_statement_log_is_off(mod):
    script = lines(mod.roles_script(ROLES, {"roles": {}}, None, True, commit=True))
    first_verifier = next(i for i, line in enumerate(script) if "SCRAM-SHA-256$" in line)
    quiet = next(i for i, line in enumerate(script) if "SET LOCAL log_statement = 'none'" in line)
    assert quiet < first_verifier
    # each statement on its own line: psql sends it on its own, after the settings apply
    assert all(line.count("PASSWORD") <= 1 for line in script)
    assert PASSWORD not in "\n".join(script)


def test_a_matching_stored_verifier_sends_no_password(mod):
    stored = scram.verifier(PASSWORD)
    current = {"migrator": stored, "app": stored}
    script = mod.roles_script(ROLES, {"roles": current}, None, True, commit=True)
    assert "PASSWORD" not in script and "CREATE ROLE" not in script


def test_the_database_step_answers_changed_and_the_missing_tables(mod):
    script = mod.database_script("learning", DATABASES, ROLES, {"hnsw.iterative_scan": "off"}, True)
    assert mod.DATABASE_SNAPSHOT in script
    assert 'unnest(ARRAY[\'"app"."lessons"\']::text[])' in script
    assert "t IS NOT NULL AND to_regclass(t) IS NULL" in script
    assert "ALTER DATABASE \"learning\" SET hnsw.iterative_scan = 'off';" in script


def test_a_database_without_table_grants_reports_none_missing(mod):
    script = mod.database_script("learning", [{**DATABASES[0], "grants": []}], ROLES, {}, True)
    assert "unnest(ARRAY[NULL]::text[])" in script and "t IS NOT NULL" in script


def test_the_mitigation_goes_only_to_databases_that_use_pgvector(mod):
    settings = {"hnsw.iterative_scan": "off"}
    assert mod.mitigation_for(DATABASES[0], settings) == settings
    assert mod.mitigation_for({"name": "x", "extensions": ["pg_trgm"]}, settings) == {}


def test_the_extensions_in_use_are_those_of_the_declared_databases(mod):
    assert [d["name"] for d in mod.present(DATABASES)] == ["learning", "reports"]
    assert mod.extensions_in_use(DATABASES) == {"vector", "pg_trgm"}
    assert mod.present([{"name": "x", "state": "absent"}]) == []


def test_create_database_quotes_its_names(mod):
    assert mod.create_database_sql({"name": "learning", "owner": "migrator"}) == (
        'CREATE DATABASE "learning" OWNER "migrator" ENCODING \'UTF8\''
    )


def test_an_error_never_shows_a_verifier(mod):
    verifier = scram.verifier(PASSWORD)
    message = f"psql failed: ERROR: syntax error at or near \"'{verifier}'\""
    assert verifier not in mod.redact(message)
    assert "SCRAM-SHA-256$<redacted>" in mod.redact(message)


def test_the_fingerprints_are_the_ones_the_role_took(mod):
    # What each step can change: roles, memberships, role settings, the postgres database's
    # ACL and the rewind functions; in a database its objects' ACLs, defaults, extensions.
    for part in ("pg_authid", "pg_auth_members", "pg_db_role_setting", "pg_read_binary_file"):
        assert part in mod.CLUSTER_SNAPSHOT
    for part in ("pg_namespace", "pg_class", "pg_proc", "pg_default_acl", "pg_extension"):
        assert part in mod.DATABASE_SNAPSHOT


def test_every_declared_role_key_is_accepted_and_only_the_passwords_are_secret():
    import ast
    from pathlib import Path

    from pgfleet import access

    source = Path(__file__).parents[2] / "library" / "pg_access_apply.py"
    tree = ast.parse(source.read_text())
    spec = next(
        ast.literal_eval(k.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for k in node.keywords
        if k.arg == "argument_spec"
    )
    options = spec["roles"]["options"]
    assert set(options) == access.ROLE_KEYS
    assert {k for k, v in options.items() if v.get("no_log")} == {"password", "password_next"}


def test_a_rotation_script_is_one_transaction_whose_verifier_comes_after_the_quiet_settings(mod):
    roles = [{"name": "app", "password": PASSWORD, "password_next": "the-next-password-0123456"}]
    state = {"roles": {"app": scram.verifier(PASSWORD)}, "logins": {"app": True}}
    script, info = mod.rotation_script(roles, state, "app", "start", None, commit=True)
    body = lines(script)
    assert body[1] == "BEGIN;" and body[-1] == "COMMIT;"
    quiet = next(i for i, line in enumerate(body) if line.startswith("SET LOCAL log_statement"))
    verifier = next(i for i, line in enumerate(body) if "PASSWORD 'SCRAM" in line)
    assert quiet < verifier and "the-next-password" not in script
    assert info == {"old_login": "app", "new_login": "app_alt", "changed": True}
