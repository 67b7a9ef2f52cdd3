"""library/pg_slots.py: what it plans from the slots a server has, and the SQL it runs."""

import pytest
from conftest import load_module


@pytest.fixture(scope="module")
def mod():
    return load_module("pg_slots")


def slot(name, active=False, invalid=False, pid=None, kind="physical"):
    return {"name": name, "type": kind, "active": active, "pid": pid, "invalid": invalid}


def test_present_creates_only_the_missing(mod):
    todo = mod.plan([slot("pg2")], ["pg2", "pg3"], "present", False)
    assert todo["create"] == ["pg3"] and todo["recreate"] == [] and todo["drop"] == []


def test_invalidated_slots_are_recreated_only_when_asked(mod):
    existing = [slot("pg2", active=True, invalid=True, pid=42), slot("pg3")]
    assert mod.plan(existing, ["pg2", "pg3"], "present", False)["recreate"] == []
    todo = mod.plan(existing, ["pg2", "pg3"], "present", True)
    assert todo["recreate"] == ["pg2"] and todo["create"] == []
    sql = mod.statements(todo, {"pg2": 42, "pg3": None})
    lines = sql.splitlines()
    assert lines[0] == "SELECT pg_terminate_backend(42, 10000);"
    assert "pg_drop_replication_slot" in lines[1] and "NOT active" not in lines[1]
    assert "pg_create_physical_replication_slot('pg2', true)" in lines[2]


def test_absent_drops_unused_slots_and_leaves_busy_ones(mod):
    existing = [slot("pg1"), slot("pg2", active=True, pid=7), slot("other")]
    todo = mod.plan(existing, ["pg1", "pg2", "pg3"], "absent", False)
    assert todo["drop"] == ["pg1"] and todo["busy"] == ["pg2"] and todo["create"] == []
    sql = mod.statements(todo, {})
    assert "slot_name = 'pg1' AND NOT active" in sql
    assert "other" not in sql and "pg_terminate_backend" not in sql


def test_a_logical_slot_of_the_same_name_is_a_clash(mod):
    todo = mod.plan([slot("pg2", kind="logical")], ["pg2"], "present", True)
    assert todo["clash"] == ["pg2"] and todo["create"] == [] and todo["recreate"] == []


def test_nothing_to_do_means_no_sql(mod):
    todo = mod.plan([slot("pg2"), slot("pg3")], ["pg2", "pg3"], "present", True)
    assert mod.statements(todo, {}) == ""


def test_create_is_guarded(mod):
    sql = mod.statements(mod.plan([], ["pg3"], "present", False), {})
    assert "WHERE NOT EXISTS" in sql and "slot_name = 'pg3'" in sql


@pytest.mark.parametrize("bad", ["PG2", "pg-2", "a'b", "", "x" * 64, 3])
def test_names_are_checked(mod, bad):
    with pytest.raises(ValueError, match="slots:"):
        mod.check_names(["pg2", bad])


def test_names_keep_their_order_once(mod):
    assert mod.check_names(["pg3", "pg2", "pg3"]) == ["pg3", "pg2"]
