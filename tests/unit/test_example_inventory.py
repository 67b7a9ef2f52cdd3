"""inventory/example is what operators copy: its declarations must pass the same checks
site.yml runs, and it must show the least-privilege shape (the replication role reaches
the replication database only; pg_rewind's role needs no rule of its own)."""

from pathlib import Path

import yaml

from pg_access import pg_access_validate
from pg_hba import pg_hba_lines

VARS = Path(__file__).resolve().parents[2] / "inventory/example/group_vars/all"


def _load(name: str) -> dict:
    return yaml.safe_load((VARS / name).read_text())


def test_the_example_declarations_pass_the_checks():
    access = _load("access.yml")
    assert pg_access_validate(
        access["postgresql_access_databases"], access["postgresql_access_roles"]
    )
    assert pg_hba_lines(_load("postgresql.yml")["postgresql_server_hba_entries"])


def test_the_replication_role_reaches_the_replication_database_only():
    entries = _load("postgresql.yml")["postgresql_server_hba_entries"]
    for entry in entries:
        if "replicator" in entry["users"]:
            assert entry["databases"] == ["replication"], entry
        assert "rewinder" not in entry["users"], entry
    roles = {r["name"]: r for r in _load("access.yml")["postgresql_access_roles"]}
    assert roles["replicator"]["replication"] is True
    assert "rewinder" in roles
