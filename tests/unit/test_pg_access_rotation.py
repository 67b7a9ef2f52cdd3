"""An application role's password rotated without an outage: two logins used in turns
(NAME and NAME_alt), what site.yml keeps of them, and each phase of a rotation."""

import pytest

from pgfleet import access, scram
from pgfleet.errors import InputError

OLD = "the-old-password-0123456789"
NEW = "the-new-password-9876543210"
OLD_V, NEW_V = scram.verifier(OLD), scram.verifier(NEW)
ROLES = [
    {"name": "migrator", "password": OLD, "connection_limit": 5},
    {
        "name": "app",
        "password": OLD,
        "password_next": NEW,
        "connection_limit": 50,
        "settings": {"statement_timeout": "30s"},
    },
    {"name": "replicator", "password": OLD, "replication": True},
    {"name": "rewinder", "password": OLD},
    {"name": "auditor", "login": False},
]


def roles_sql(current, logins):
    return access.pg_access_roles_sql(ROLES, current, rewind_user="rewinder", logins=logins)


def passwords(current, logins):
    return access.pg_access_password_sql(ROLES, current, logins=logins, rewind_user="rewinder")


def rotation(phase, current, logins):
    return access.pg_access_rotation_sql(
        ROLES, "app", phase, current, logins, rewind_user="rewinder"
    )


def test_the_alternates_are_the_application_login_roles_only():
    assert access.pg_access_alternates(ROLES, "rewinder") == {
        "migrator": "migrator_alt",
        "app": "app_alt",
    }


def test_a_name_too_long_for_its_alternate_has_none():
    roles = [{"name": "a" * 60, "password": OLD}, {"name": "b" * 59, "password": OLD}]
    assert access.pg_access_alternates(roles) == {"b" * 59: "b" * 59 + "_alt"}


def test_a_declared_role_named_like_an_alternate_is_refused():
    with pytest.raises(InputError, match=r"roles\[1\]\.name: 'app_alt' is the alternate login"):
        access.pg_access_validate([], [{"name": "app", "password": OLD}, {"name": "app_alt"}])


def test_a_short_password_next_is_refused_naming_it():
    with pytest.raises(InputError, match=r"roles\[0\]\.password_next: expected a string"):
        access.pg_access_validate([], [{"name": "app", "password": OLD, "password_next": "x"}])


@pytest.mark.parametrize(
    ("logins", "expected"),
    [
        ({"app": True}, "base"),
        ({"app": True, "app_alt": False}, "base"),
        ({"app": False, "app_alt": True}, "alternate"),
        ({"app": True, "app_alt": True}, "both"),
    ],
)
def test_the_login_in_use_comes_from_the_catalog(logins, expected):
    assert access.turn("app", logins) == expected


def test_a_role_never_rotated_has_no_alternate_created_by_site_yml():
    sql = roles_sql({}, {})
    assert not any("app_alt" in s for s in sql)


def test_site_yml_keeps_the_retired_login_retired_and_aligns_the_alternate():
    current = {"app": None, "app_alt": NEW_V}
    sql = roles_sql(current, {"app": False, "app_alt": True})
    assert any(s.startswith('ALTER ROLE "app" WITH') and " NOLOGIN " in s for s in sql)
    alt = [s for s in sql if '"app_alt"' in s]
    assert any("WITH" in s and " LOGIN " in s and "CONNECTION LIMIT 50" in s for s in alt)
    assert "ALTER ROLE \"app_alt\" SET statement_timeout = '30s'" in alt
    assert 'GRANT "app" TO "app_alt"' in alt
    assert "ALTER ROLE \"app_alt\" SET role = 'app'" in alt
    # the retired base's alternate, back in turn: app logs in, app_alt does not
    sql = roles_sql({"app": OLD_V, "app_alt": None}, {"app": True, "app_alt": False})
    assert any(s.startswith('ALTER ROLE "app_alt" WITH') and " NOLOGIN " in s for s in sql)


def test_the_password_goes_to_the_login_in_use():
    sql = passwords({"app": None, "app_alt": OLD_V, "migrator": OLD_V, "replicator": OLD_V,
                     "rewinder": OLD_V}, {"app": False, "app_alt": True})  # fmt: skip
    assert sql == []
    current = {"app": None, "app_alt": None, "migrator": OLD_V, "replicator": OLD_V,
               "rewinder": OLD_V}  # fmt: skip
    sql = passwords(current, {"app": False, "app_alt": True})
    assert any(s.startswith('ALTER ROLE "app_alt" PASSWORD') for s in sql)
    assert not any(s.startswith('ALTER ROLE "app" PASSWORD') for s in sql)


def test_an_open_rotation_leaves_both_passwords_alone():
    current = {"app": OLD_V, "app_alt": NEW_V, "migrator": OLD_V, "replicator": OLD_V,
               "rewinder": OLD_V}  # fmt: skip
    assert passwords(current, {"app": True, "app_alt": True}) == []


def test_a_finished_rotation_the_vault_missed_is_refused_not_reverted():
    current = {"app": None, "app_alt": NEW_V}
    with pytest.raises(InputError, match=r"the vault was not updated.*no role was changed"):
        passwords(current, {"app": False, "app_alt": True})


def test_the_start_gives_the_idle_login_the_new_password():
    sql, info = rotation("start", {"app": OLD_V}, {"app": True})
    assert info == {"old_login": "app", "new_login": "app_alt", "changed": True}
    assert sql[0] == 'CREATE ROLE "app_alt"'
    assert any(s.startswith('ALTER ROLE "app_alt" WITH') and " LOGIN " in s for s in sql)
    quiet = next(i for i, s in enumerate(sql) if s.startswith("SET LOCAL log_statement"))
    setting = next(i for i, s in enumerate(sql) if "PASSWORD 'SCRAM" in s)
    assert quiet < setting and sql[setting].startswith('ALTER ROLE "app_alt" PASSWORD')
    assert scram.matches(NEW, sql[setting].split("'")[1])
    assert NEW not in " ".join(sql) and OLD not in " ".join(sql)


def test_the_next_start_alternates_back_to_the_base_name():
    current = {"app": None, "app_alt": OLD_V}
    sql, info = rotation("start", current, {"app": False, "app_alt": True})
    assert info["new_login"] == "app" and info["old_login"] == "app_alt"
    assert 'ALTER ROLE "app" WITH LOGIN' in sql and 'CREATE ROLE "app_alt"' not in sql


def test_a_start_run_again_changes_nothing():
    sql, info = rotation("start", {"app": OLD_V, "app_alt": NEW_V}, {"app": True, "app_alt": True})
    assert sql == [] and info == {"old_login": "app", "new_login": "app_alt", "changed": False}


def test_a_second_start_while_another_is_open_is_refused():
    other = scram.verifier("a-third-password-000000000")
    with pytest.raises(InputError, match="a rotation is open; finish it first"):
        rotation("start", {"app": OLD_V, "app_alt": other}, {"app": True, "app_alt": True})


def test_the_finish_retires_the_old_login():
    sql, info = rotation("finish", {"app": OLD_V, "app_alt": NEW_V}, {"app": True, "app_alt": True})
    assert info == {"old_login": "app", "new_login": "app_alt", "changed": True}
    assert sql[0] == 'ALTER ROLE "app" WITH NOLOGIN PASSWORD NULL'


def test_a_finish_run_again_changes_nothing_and_one_without_a_start_is_refused():
    sql, info = rotation("finish", {"app": None, "app_alt": NEW_V}, {"app": False, "app_alt": True})
    assert sql == [] and info["changed"] is False and info["new_login"] == "app_alt"
    with pytest.raises(InputError, match="no rotation of role:app is open"):
        rotation("finish", {"app": OLD_V}, {"app": True})


def test_a_finish_after_the_vault_changed_password_next_is_refused():
    other = scram.verifier("a-third-password-000000000")
    with pytest.raises(InputError, match="neither app nor app_alt has it"):
        rotation("finish", {"app": OLD_V, "app_alt": other}, {"app": True, "app_alt": True})


@pytest.mark.parametrize("role", ["replicator", "rewinder", "auditor", "nobody"])
def test_only_an_application_login_role_alternates(role):
    with pytest.raises(InputError, match="not an application login role"):
        access.pg_access_rotation_sql(ROLES, role, "start", {}, {}, rewind_user="rewinder")
