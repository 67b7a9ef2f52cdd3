"""pgfleet.rotation: rotate.yml's refusals, its record of every secret, and the ages
status.yml reports."""

from __future__ import annotations

import pytest

from pgfleet import rotation
from pgfleet.errors import InputError

DAY = 86400.0
T0 = 1796600000.0
ROLES = ["migrator", "app", "analytics"]
GOOD = {"current": "old-password-0123456789", "next": "new-password-9876543210"}


def problems(what, secrets=GOOD, record=None, finish=False):
    request = {"what": what, "finish": finish}
    return rotation.request_problems(request, secrets, record or {}, ROLES)


@pytest.mark.parametrize("what", ["replication", "rewind", "r2_keys", "role:app"])
def test_a_built_one_phase_rotation_with_a_new_secret_may_go_on(what):
    assert problems(what) == []


@pytest.mark.parametrize(
    ("what", "says"),
    [
        (None, "rotate is not set: playbooks/rotate.yml -e rotate=WHAT"),
        ("", "rotate is not set"),
        ("replicator", "'replicator' is not something rotate.yml rotates"),
        ("role", "'role' is not something"),
        ("role:", "'role:' is not something"),
        ("ROLE:app", "is not something"),
        ("role:nobody", "names no application login role of postgresql_access_roles"),
        (3, "3 is not something"),
    ],
)
def test_an_unknown_what_is_refused_naming_the_allowed_ones(what, says):
    found = problems(what)
    assert len(found) == 1 and says in found[0], found
    if what not in (None, ""):
        assert "role:app" in found[0] or "the roles are" in found[0]


def test_the_rest_api_password_under_the_streaming_engine_is_refused():
    found = problems("patroni_restapi")
    assert len(found) == 1 and "there is no REST API to rotate" in found[0]
    request = {"what": "patroni_restapi", "patroni": True}
    assert rotation.request_problems(request, GOOD, {}, ROLES) == []


def test_under_patroni_what_is_not_built_yet_says_so():
    found = rotation.request_problems({"what": "r2_keys", "patroni": True}, GOOD, {}, ROLES)
    assert found == [
        "rotate: r2_keys (the store's access key pair (pgbackrest_s3_key,"
        " pgbackrest_s3_key_secret)) is not built yet under Patroni; this version rotates"
        " under Patroni role:NAME, replication, rewind, patroni_restapi, tls_ca. Until then,"
        " change it as the credential-rotation runbook says"
    ]
    for what in ("replication", "rewind"):
        assert rotation.request_problems({"what": what, "patroni": True}, GOOD, {}, ROLES) == []
    assert rotation.request_problems({"what": "role:app", "patroni": True}, GOOD, {}, ROLES) == []


def test_a_role_finish_without_a_start_and_a_second_start_are_refused():
    assert "no rotation of role:app was started" in problems("role:app", finish=True)[0]
    opened = {"open": {"started_at": T0}}
    assert problems("role:app", record=opened, finish=True) == []
    again = problems("role:app", record=opened)
    assert "a rotation of role:app is open since 2026-12-06" in again[0]
    assert "-e rotate_finish=role:app" in again[0]


def test_a_role_without_password_next_is_refused_naming_the_role():
    found = problems("role:app", {"current": "x" * 20, "next": None})
    assert found[0].startswith("postgresql_access_roles[app].password_next: missing")


def test_a_missing_new_secret_names_its_vault_variable():
    found = problems("replication", {"current": "x", "next": None})
    assert found == [
        "postgresql_replica_password_next: missing; put the new secret in the vault under"
        " this name (rotate.yml never takes a secret from -e), then run it again"
    ]
    assert problems("rewind", {"current": "x", "next": ""})[0].startswith(
        "postgresql_ha_rewind_password_next: missing"
    )


def test_a_new_secret_equal_to_the_old_one_is_refused_without_showing_it():
    found = problems("replication", {"current": "same-secret", "next": "same-secret"})
    assert found == [
        "postgresql_replica_password_next: the same as the current secret; put a new one"
        " in the vault"
    ]
    assert "same-secret" not in found[0]


def test_a_new_key_pair_needs_a_new_key_id():
    pair = {**GOOD, "current_id": "KEYID0001", "next_id": "KEYID0001"}
    found = problems("r2_keys", pair)
    assert found == [
        "pgbackrest_s3_key_next: the same access key id as pgbackrest_s3_key; a new R2 API"
        " token has a new id and secret: put both in the vault"
    ]
    assert problems("r2_keys", {**GOOD, "current_id": "KEYID0001", "next_id": "KEYID0002"}) == []
    missing = problems("r2_keys", {"current": "s", "next": None})
    assert missing[0].startswith("pgbackrest_s3_key_next, pgbackrest_s3_key_secret_next: missing")


def test_a_finish_of_a_one_phase_rotation_is_refused():
    found = problems("replication", finish=True)
    assert "ends in one run and has nothing to finish" in found[0]


@pytest.mark.parametrize(
    ("request_", "ok"),
    [
        ({"what": "replication", "confirm": "replication"}, True),
        ({"what": "replication", "confirm": "yes"}, False),
        ({"what": "replication"}, False),
        ({"what": "", "confirm": ""}, False),
    ],
)
def test_only_the_what_typed_again_confirms(request_, ok):
    assert rotation.confirmed(request_) is ok


def test_the_record_keeps_first_seen_and_the_last_rotation():
    record = rotation.updated(None, "replication", "seen", T0)
    assert record == {
        "secrets": {"replication": {"first_seen": T0, "rotated_at": None, "open": None}}
    }
    record = rotation.updated(record, "replication", "seen", T0 + DAY)  # nothing moves
    assert record["secrets"]["replication"]["first_seen"] == T0
    record = rotation.updated(record, "replication", "done", T0 + 2 * DAY)
    assert record["secrets"]["replication"] == {
        "first_seen": T0, "rotated_at": T0 + 2 * DAY, "open": None,
    }  # fmt: skip
    record = rotation.updated(record, "rewind", "started", T0 + 3 * DAY)
    assert record["secrets"]["rewind"]["open"] == {"started_at": T0 + 3 * DAY}
    assert record["secrets"]["replication"]["rotated_at"] == T0 + 2 * DAY
    with pytest.raises(InputError, match="phase"):
        rotation.updated(record, "rewind", "finished", T0)


def test_ages_older_than_their_policy_are_problems():
    record = rotation.updated(None, "replication", "seen", T0)
    record = rotation.updated(record, "repo_cipher", "seen", T0)
    record = rotation.updated(record, "rewind", "done", T0 + 100 * DAY)
    out = rotation.ages(record, ["replication", "rewind", "repo_cipher", "r2_keys"], T0 + 120 * DAY)
    assert out["lines"] == [
        "replication 120 d (never rotated; at least)",
        "rewind 20 d",
        "repo_cipher 120 d (never rotated; at least)",
        "r2_keys unknown",
    ]
    assert len(out["problems"]) == 1
    assert out["problems"][0].startswith("repo_cipher is 120 days old, older than its policy of 90")
    assert "playbooks/rotate.yml -e rotate=repo_cipher" in out["problems"][0]
    assert out["warnings"] == ["r2_keys: no rotation record yet (site.yml writes one)"]


def test_a_policy_per_secret_and_per_role_overrides_the_default():
    record = rotation.updated(None, "role:app", "seen", T0)
    record = rotation.updated(record, "replication", "seen", T0)
    out = rotation.ages(
        record, ["role:app", "replication"], T0 + 40 * DAY, {"role:app": 30, "replication": 60}
    )
    assert [p.split(" is ")[0] for p in out["problems"]] == ["role:app"]


def test_an_open_rotation_is_a_warning():
    record = rotation.updated(None, "tls_ca", "started", T0)
    out = rotation.ages(record, ["tls_ca"], T0 + DAY)
    assert out["lines"] == ["tls_ca 1 d (never rotated; at least), rotation open"]
    assert "finish it with playbooks/rotate.yml -e rotate_finish=tls_ca" in out["warnings"][0]


# --- the host's record (library/pg_rotation_record.py) ----------------------------------------


@pytest.fixture(scope="module")
def record_module():
    from conftest import load_module

    return load_module("pg_rotation_record")


def test_the_record_file_is_written_whole_readable_and_holds_no_secret(record_module, tmp_path):
    import json

    path = str(tmp_path / "pgfleet" / "rotations.json")
    assert record_module.read(path) == {}
    record = rotation.updated({}, "replication", "done", T0)
    record_module.write(path, record)
    assert record_module.read(path) == record
    assert oct((tmp_path / "pgfleet" / "rotations.json").stat().st_mode & 0o777) == "0o644"
    assert not list((tmp_path / "pgfleet").glob(".rotations.*"))
    assert json.loads((tmp_path / "pgfleet" / "rotations.json").read_text()) == record


@pytest.mark.parametrize("text", ["[1, 2]", '{"secrets": [1]}'])
def test_a_file_that_is_not_a_record_is_refused(record_module, tmp_path, text):
    path = tmp_path / "rotations.json"
    path.write_text(text)
    with pytest.raises(InputError, match="not a rotation record"):
        record_module.read(str(path))


def test_the_tracked_secrets_and_the_login_roles():
    pw = "x" * 16
    roles = [
        {"name": "migrator", "password": pw},
        {"name": "app", "password": pw},
        {"name": "auditor", "login": False},
        {"name": "gone", "password": pw, "state": "absent"},
        {"name": "replicator", "password": pw, "replication": True},
        {"name": "rewinder", "password": pw},
    ]
    assert rotation.login_roles(roles, "replicator", "rewinder") == ["migrator", "app"]
    assert rotation.tracked(roles, "replicator", "rewinder", False) == [
        "role:migrator", "role:app", "replication", "rewind", "r2_keys", "repo_cipher", "tls_ca",
    ]  # fmt: skip
    assert "patroni_restapi" in rotation.tracked(roles, "replicator", "rewinder", True)


def test_the_new_password_replaces_only_that_role():
    roles = [{"name": "app", "password": "a"}, {"name": "replicator", "password": "r"}]
    out = rotation.with_password(roles, "replicator", "r2")
    assert out == [{"name": "app", "password": "a"}, {"name": "replicator", "password": "r2"}]
    assert roles[1]["password"] == "r"
    with pytest.raises(InputError, match="no role 'nobody'"):
        rotation.with_password(roles, "nobody", "x")


def test_the_filter_takes_the_whats_entry_from_the_whole_record():
    import pg_rotation

    record = {"secrets": {"replication": {"open": None, "rotated_at": T0}}}
    roles = [{"name": "app", "password": "x" * 16}, {"name": "replicator", "password": "x" * 16}]
    args = (GOOD, record, roles, "replicator", "rewinder")
    assert pg_rotation.pg_rotation_refusals({"what": "replication", "finish": False}, *args) == []
    refused = pg_rotation.pg_rotation_refusals({"what": "role:replicator"}, *args)
    assert "names no application login role" in refused[0] and "the roles are app" in refused[0]


def test_the_login_check_connects_where_the_role_may():
    import pg_rotation

    databases = [
        {"name": "reports", "owner": "migrator", "grants": [{"role": "app", "state": "absent"}]},
        {
            "name": "learning",
            "owner": "migrator",
            "grants": [{"role": "app", "access": "readwrite"}],
        },
    ]
    assert pg_rotation.pg_rotation_login_database(databases, "app") == "learning"
    assert pg_rotation.pg_rotation_login_database(databases, "migrator") == "reports"
    assert pg_rotation.pg_rotation_login_database(databases, "ai_readonly") == "postgres"


def test_before_the_record_is_read_only_what_does_not_depend_on_it_is_refused():
    request = {"what": "role:app", "finish": True}
    assert rotation.request_problems(request, GOOD, None, ROLES) == []
    request = {"what": "replication", "finish": True}
    assert "ends in one run" in rotation.request_problems(request, GOOD, None, ROLES)[0]


REPO = GOOD | {"current_path": "/pgbackrest/learning", "next_path": "/pgbackrest/learning-2"}


def test_a_repo_cipher_rotation_needs_a_new_path_too():
    assert problems("repo_cipher", REPO) == []
    missing = problems("repo_cipher", REPO | {"next_path": ""})
    assert missing[0].startswith("pgbackrest_repo_path_next: missing")
    same = problems("repo_cipher", REPO | {"next_path": "/pgbackrest/learning/"})
    assert "is the current repository's path" in same[0]


def info(*backups):
    return [
        {
            "backup": [
                {"database": {"repo-key": key}, "timestamp": {"stop": stop}, "error": err}
                for key, stop, err in backups
            ]
        }
    ]


def test_the_backups_of_each_repository():
    got = rotation.repo_backups(info((1, T0, False), (2, T0 + 20, False), (1, T0 + 9, True)))
    assert got == {1: [T0], 2: [T0 + 20]}
    assert rotation.repo_backups([]) == {} and rotation.repo_backups(None) == {}


def test_repo1_is_retired_only_once_repo2_covers_the_restore_window_or_when_forced():
    first = T0 + DAY
    both = info((1, T0, False), (2, first, False))
    early = rotation.repo_cipher_finish_problems(both, first + 3 * DAY, 7)
    assert "repo1 is still needed" in early[0] and "until 2026-12-14 23:33 UTC" in early[0]
    assert "-e rotate_force=true" in early[0]
    assert rotation.repo_cipher_finish_problems(both, first + 3 * DAY, 7, force=True) == []
    assert rotation.repo_cipher_finish_problems(both, first + 7 * DAY + 1, 7) == []


def test_repo1_is_never_retired_before_repo2_has_a_backup_even_when_forced():
    only1 = info((1, T0, False))
    found = rotation.repo_cipher_finish_problems(only1, T0 + 30 * DAY, 7, force=True)
    assert "repo2) has no backup yet" in found[0]


CA = {"mode": "managed", "ca_dir": "/pki/lab", "current_exists": True, "next_exists": False}


@pytest.mark.parametrize("patroni", [False, True])
def test_a_ca_rotation_may_start_under_either_engine(patroni):
    request = {"what": "tls_ca", "patroni": patroni}
    assert rotation.request_problems(request, CA, {}, ROLES) == []


def test_a_ca_rotation_is_refused_for_a_provided_ca_naming_the_variables():
    found = problems("tls_ca", {**CA, "mode": "provided"})
    assert len(found) == 1 and "postgresql_server_tls_mode: managed" in found[0]
    assert "postgresql_server_tls_ca_file" in found[0]


def test_a_ca_rotation_is_refused_on_a_controller_without_the_ca():
    found = problems("tls_ca", {**CA, "current_exists": False})
    assert found == [
        "rotate: tls_ca: there is no project CA in /pki/lab (ca.crt and ca.key) on this"
        " controller; run rotate.yml from the controller that keeps it"
        " (postgresql_server_tls_ca_dir)"
    ]


def test_a_ca_finish_needs_the_start_and_the_new_ca_on_the_controller():
    opened = {"open": {"started_at": T0}}
    assert "no rotation of tls_ca was started" in problems("tls_ca", CA, finish=True)[0]
    found = problems("tls_ca", CA, record=opened, finish=True)
    assert len(found) == 1 and "/pki/lab/ca-next.crt and ca-next.key) is not on this" in found[0]
    assert problems("tls_ca", {**CA, "next_exists": True}, record=opened, finish=True) == []
    assert "a rotation of tls_ca is open since" in problems("tls_ca", CA, record=opened)[0]
