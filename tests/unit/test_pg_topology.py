"""pg_topology: the live state wins over the inventory, and the play stops when they differ."""

import pytest
from ansible.errors import AnsibleFilterError

from pg_topology import pg_topology

IDENT = "7442019581302325291"


def node(
    running=True, recovery=False, data=True, ident=IDENT, tl=1, lsn="0/3000000", upstream=None
):
    return {
        "running": running,
        "in_recovery": recovery,
        "data": data,
        "system_identifier": ident,
        "timeline": tl,
        "lsn": lsn,
        "upstream": upstream,
    }


def test_fresh_cluster():
    nodes = {h: {"running": False, "data": False} for h in ("pg1", "pg2", "pg3")}
    result = pg_topology(nodes, "pg1")
    assert result["ok"] and result["fresh"] and result["live_primary"] is None


def test_healthy():
    nodes = {
        "pg1": node(),
        "pg2": node(recovery=True, upstream="10.0.0.1"),
        "pg3": node(running=False, data=False),
    }
    result = pg_topology(nodes, "pg1")
    assert result["ok"], result["problems"]
    assert result["live_primary"] == "pg1"
    assert "pg2 (standby" in result["summary"] and "pg3 (down, no data)" in result["summary"]


def test_primary_down_is_not_a_reason_to_stop():
    # the legitimate primary restarting; replicas wait for it
    nodes = {"pg1": node(running=False), "pg2": node(recovery=True)}
    assert pg_topology(nodes, "pg1")["ok"]


def test_promoted_replica_stops_the_play():
    nodes = {
        "pg1": node(running=False),
        "pg2": node(tl=2, lsn="0/5000000"),
        "pg3": node(recovery=True),
    }
    result = pg_topology(nodes, "pg1")
    assert not result["ok"]
    (problem,) = result["problems"]
    assert "the inventory names pg1 as the primary, but pg2 is the live primary" in problem
    assert "timeline 2" in problem and "Nothing was changed" in problem
    assert "put pg2 in postgresql_primary" in problem


def test_two_primaries_are_refused():
    nodes = {"pg1": node(), "pg2": node(tl=2)}
    result = pg_topology(nodes, "pg1")
    assert not result["ok"]
    assert "more than one writable node: pg1, pg2" in result["problems"][0]


def test_foreign_cluster_is_never_reseeded():
    nodes = {"pg1": node(), "pg2": node(recovery=True, ident="1111")}
    result = pg_topology(nodes, "pg1")
    assert any("pg2 belongs to another cluster" in p for p in result["problems"])


def test_primary_without_data_while_others_have_it():
    nodes = {"pg1": node(running=False, data=False), "pg2": node(recovery=True)}
    result = pg_topology(nodes, "pg1")
    assert not result["ok"] and "has no data" in result["problems"][0]


def test_unknown_primary():
    with pytest.raises(AnsibleFilterError, match="no probe result"):
        pg_topology({"pg2": node()}, "pg1")


@pytest.mark.parametrize(
    ("host", "slot"),
    [("pg1", "pg1"), ("PG-2.example.com", "pg_2_example_com"), ("db_3", "db_3")],
)
def test_slot_name(host, slot):
    from pg_topology import pg_slot_name

    assert pg_slot_name(host) == slot


@pytest.mark.parametrize("bad", ["", None, 3, "x" * 64])
def test_slot_name_refuses(bad):
    from pg_topology import pg_slot_name

    with pytest.raises(AnsibleFilterError, match="inventory_hostname"):
        pg_slot_name(bad)


def test_primary_is_live_or_bootstrap_choice():
    fresh = {h: {"running": False, "data": False} for h in ("pg1", "pg2")}
    assert pg_topology(fresh, "pg1")["primary"] == "pg1"
    live = {"pg1": node(recovery=True), "pg2": node()}
    assert pg_topology(live, "pg1")["primary"] == "pg2"


def rec(epoch, primary, fenced=(), event="failover"):
    return {"epoch": epoch, "primary": primary, "fenced": list(fenced), "event": event, "at": "t"}


ROOTS = "root:root:644 root:root:755"  # the record's owner and mode, then its directory's


def with_record(n, r, owner=ROOTS, **probe):
    return {**n, "record": r, "record_owner": owner, **probe}


def test_sanctioned_failover_is_accepted_with_the_inventory_unchanged():
    r = rec(1, "pg2", fenced=["pg1"])
    nodes = {
        "pg1": node(running=False),
        "pg2": with_record(node(tl=2, lsn="0/5000000"), r),
        "pg3": with_record(node(recovery=True, tl=2), r),
    }
    result = pg_topology(nodes, "pg1")
    assert result["ok"], result["problems"]
    assert result["primary"] == "pg2" and result["sanctioned"] == "pg2"
    assert result["fenced"] == ["pg1"]
    assert "fenced: pg1" in result["summary"]


def test_the_newest_record_wins():
    old, new = rec(1, "pg2", fenced=["pg1"]), rec(2, "pg1", event="switchover")
    nodes = {
        "pg1": with_record(node(tl=3), new),
        "pg2": with_record(node(recovery=True, tl=3), new),
        "pg3": with_record(node(recovery=True, tl=3), old),  # was unreachable at the switchover
    }
    result = pg_topology(nodes, "pg1")
    assert result["ok"], result["problems"]
    assert result["record"]["epoch"] == 2 and result["fenced"] == []


def test_hand_promotion_against_a_record_is_refused():
    r = rec(1, "pg2", fenced=["pg1"])
    nodes = {
        "pg1": node(running=False),
        "pg2": with_record(node(recovery=True, tl=2), r),
        "pg3": with_record(node(tl=3), r),
    }
    result = pg_topology(nodes, "pg1")
    assert not result["ok"]
    assert "pg3 is writable" in result["problems"][0]
    assert "names pg2 as the primary" in result["problems"][0]


def test_fenced_old_primary_running_again_is_two_primaries():
    r = rec(1, "pg2", fenced=["pg1"])
    nodes = {"pg1": node(tl=1), "pg2": with_record(node(tl=2), r)}
    result = pg_topology(nodes, "pg1")
    assert not result["ok"] and "more than one writable node: pg1, pg2" in result["problems"][0]


def test_records_that_disagree_at_one_epoch_stop_the_play():
    nodes = {
        "pg1": with_record(node(running=False), rec(2, "pg1")),
        "pg2": with_record(node(recovery=True), rec(2, "pg3")),
        "pg3": node(running=False),
    }
    result = pg_topology(nodes, "pg1")
    assert not result["ok"] and "disagree at epoch 2" in result["problems"][0]


def test_a_malformed_record_is_ignored():
    nodes = {
        "pg1": with_record(node(), {"epoch": "x"}),
        "pg2": with_record(node(recovery=True), []),
    }
    assert pg_topology(nodes, "pg1")["ok"]


# --- Only a record root owns counts: code running as postgres cannot rewrite it ----------
FORGED = {"epoch": 999, "primary": "pg3", "fenced": [], "event": "forged", "at": "t"}


@pytest.mark.parametrize(
    "owner",
    [
        "postgres:postgres:644 root:root:755",  # planted by postgres (or chowned to it)
        "root:root:664 root:root:755",  # writable by the group
        "root:root:644 postgres:postgres:755",  # a directory postgres may write
        "root:root:644 root:root:777",
        None,  # a probe that could not tell
        "garbage",
    ],
)
def test_a_record_root_does_not_own_is_ignored_and_named(owner):
    good = rec(3, "pg1", event="switchover")
    nodes = {
        "pg1": with_record(node(tl=3), good),
        "pg2": with_record(node(recovery=True, tl=3), good),
        "pg3": with_record(node(recovery=True, tl=3), FORGED, owner=owner),
    }
    result = pg_topology(nodes, "pg1")
    assert result["ok"], result["problems"]
    assert result["record"]["epoch"] == 3 and result["sanctioned"] == "pg1"
    assert result["ignored_records"] == ["pg3"]
    assert "pg3's topology record ignored" in result["summary"]


def test_a_forged_record_alone_is_not_the_sanctioned_topology():
    nodes = {
        "pg1": node(tl=1),
        "pg2": with_record(
            node(recovery=True), FORGED, owner="postgres:postgres:644 root:root:755"
        ),
    }
    result = pg_topology(nodes, "pg1")
    assert result["ok"] and result["record"] is None and result["sanctioned"] == "pg1"


def test_a_record_at_the_old_place():
    # A host not converged by this version yet (no record directory): its record is at the
    # old, postgres-owned place, and counts (the upgrade carries it over).
    r = rec(1, "pg2", fenced=["pg1"])
    legacy = "postgres:postgres:644 postgres:postgres:755"
    nodes = {
        "pg1": node(running=False),
        "pg2": with_record(node(tl=2), r, owner=legacy, record_legacy=True),
    }
    result = pg_topology(nodes, "pg1")
    assert result["ok"] and result["sanctioned"] == "pg2" and result["ignored_records"] == []
    # Once the host has the record directory, one at the old place is ignored, and named.
    good = rec(3, "pg1", event="switchover")
    nodes = {
        "pg1": with_record(node(tl=3), good),
        "pg3": with_record(node(recovery=True, tl=3), good, record_stray="postgres:postgres:644"),
    }
    result = pg_topology(nodes, "pg1")
    assert result["ok"] and result["ignored_records"] == ["pg3"]
    assert "pg3's topology record at the old place ignored" in result["summary"]


def test_no_writable_node_boots_the_sanctioned_primary():
    r = rec(1, "pg2", fenced=["pg1"])
    nodes = {
        "pg1": node(running=False),
        "pg2": with_record(node(running=False), r),
        "pg3": with_record(node(recovery=True, tl=2), r),
    }
    result = pg_topology(nodes, "pg1")
    assert result["ok"] and result["primary"] == "pg2"


def test_replica_left_on_an_old_timeline_is_named():
    nodes = {"pg1": node(tl=3), "pg2": node(recovery=True, tl=3), "pg3": node(recovery=True, tl=2)}
    assert pg_topology(nodes, "pg1")["old_timeline"] == ["pg3"]


# --- Under Patroni, Patroni's leader is the sanctioned primary ---------------------------


def patroni(node_, leader):
    return {**node_, "patroni": {"leader": leader}}


def stale_record():
    return {"epoch": 3, "primary": "pg1", "event": "switchover", "at": "2026-11-28T10:00:00Z"}


def test_patroni_failover_is_accepted_although_the_record_names_the_old_primary():
    nodes = {
        "pg1": {
            **patroni(node(running=False), "pg2"),
            "record": stale_record(),
            "record_owner": ROOTS,
        },
        "pg2": {**patroni(node(tl=2), "pg2"), "record": stale_record(), "record_owner": ROOTS},
        "pg3": patroni(node(recovery=True, tl=2, upstream="10.0.0.2"), "pg2"),
    }
    result = pg_topology(nodes, "pg1", engine="patroni")
    assert result["ok"], result["problems"]
    assert result["primary"] == "pg2" and result["patroni_leader"] == "pg2"
    # The same probe under the streaming engine is a node promoted outside the playbooks.
    assert not pg_topology(nodes, "pg1")["ok"]


def test_patroni_a_writable_node_that_is_not_the_leader_is_refused():
    nodes = {
        "pg1": patroni(node(), "pg2"),
        "pg2": patroni(node(recovery=True), "pg2"),
    }
    result = pg_topology(nodes, "pg1", engine="patroni")
    assert not result["ok"]
    assert "pg1 is writable, but Patroni's leader is pg2" in result["problems"][0]


def test_patroni_agents_that_disagree_stop_the_play():
    nodes = {"pg1": patroni(node(), "pg1"), "pg2": patroni(node(recovery=True), "pg2")}
    result = pg_topology(nodes, "pg1", engine="patroni")
    assert not result["ok"] and "disagree on the leader" in result["problems"][0]


def test_patroni_two_writable_nodes_are_refused_even_without_a_leader():
    nodes = {"pg1": {**node(), "patroni": {"error": "etcd unreachable"}}, "pg2": node()}
    result = pg_topology(nodes, "pg1", engine="patroni")
    assert not result["ok"] and "more than one writable node" in result["problems"][0]


def test_patroni_store_unreadable_keeps_the_live_primary():
    nodes = {
        "pg1": {**node(recovery=True), "patroni": {"error": "etcd unreachable"}},
        "pg2": {
            **node(),
            "patroni": {"error": "etcd unreachable"},
            "record": stale_record(),
            "record_owner": ROOTS,
        },
    }
    result = pg_topology(nodes, "pg1", engine="patroni")
    assert result["ok"] and result["primary"] == "pg2"


def test_patroni_engine_before_the_handover_uses_the_records():
    # Patroni runs nowhere yet (the migration run): the streaming rules apply.
    nodes = {
        "pg1": {**node(), "record": {**stale_record(), "primary": "pg2"}, "record_owner": ROOTS},
        "pg2": node(recovery=True),
    }
    assert not pg_topology(nodes, "pg1", engine="patroni")["ok"]


def test_unknown_engine_is_refused():
    with pytest.raises(AnsibleFilterError, match="postgresql_ha_engine"):
        pg_topology({"pg1": node()}, "pg1", engine="repmgr")
