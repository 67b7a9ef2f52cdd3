"""What the project trusts from Patroni and etcd, and who reaches Patroni's endpoints:

- a leader name read from etcd is used (promotion hook, reports, topology) only when it is
  an inventory member (pg_patroni_leader, pg_patroni_status, pg_topology);
- HAProxy admits the client networks of pg_hba, and pg_hba must admit the members for
  the users who reach PostgreSQL through HAProxy (pg_haproxy_sources);
- a forced reinitialise keeps a forensic copy when there is room (pg_forensic_copy).
"""

import pytest
from ansible.errors import AnsibleFilterError

from pg_patroni import (
    FilterModule,
    pg_forensic_copy,
    pg_haproxy_sources,
    pg_patroni_leader,
    pg_patroni_status,
)
from pg_topology import pg_topology

INVENTORY = ["pg1", "pg2", "pg3"]
MEMBERS = {"pg1": "10.0.0.11", "pg2": "10.0.0.12", "pg3": "10.0.0.13"}


def member(name, role="replica", state="streaming", lag=0, tl=3):
    return {"name": name, "role": role, "state": state, "timeline": tl, "lag": lag}


# ---- the leader name ----------------------------------------------------------------


def test_an_inventory_leader_is_accepted():
    members = [member("pg1"), member("pg2", "leader", "running"), member("pg3")]
    assert pg_patroni_leader(members, INVENTORY) == {"leader": "pg2", "problems": []}


def test_a_leader_that_is_not_an_inventory_member_is_refused():
    """Anything holding an etcd client certificate can write the leader key: a name that
    is not a member must never reach the promotion hook (it would point clients at it)."""
    members = [member("pg1"), member("evil.example.com", "leader", "running")]
    result = pg_patroni_leader(members, INVENTORY)
    assert result["leader"] is None
    assert "'evil.example.com'" in result["problems"][0]
    assert "not a member of the inventory's postgresql group" in result["problems"][0]


def test_the_leader_is_read_from_patronictl_rows_and_the_cluster_document():
    rows = [{"Member": "pg3", "Role": "Leader"}, {"Member": "pg1", "Role": "Sync Standby"}]
    assert pg_patroni_leader(rows, INVENTORY)["leader"] == "pg3"
    cluster = {"members": [member("pg1", "leader", "running")]}
    assert pg_patroni_leader(cluster, INVENTORY)["leader"] == "pg1"


def test_no_leader_and_two_leaders_give_none():
    assert pg_patroni_leader([member("pg1")], INVENTORY)["leader"] is None
    two = [member("pg1", "leader"), member("pg2", "leader")]
    result = pg_patroni_leader(two, INVENTORY)
    assert result["leader"] is None and "more than one leader" in result["problems"][0]


def test_the_inventory_must_be_a_list():
    with pytest.raises(AnsibleFilterError, match="inventory members"):
        pg_patroni_leader([], "pg1,pg2")


def test_status_names_no_foreign_leader_and_reports_it():
    cluster = {"members": [member("pg1"), member("intruder", "leader", "running")]}
    etcd = [{"endpoint": "https://10.0.0.11:2379", "health": True}]
    result = pg_patroni_status(cluster, {}, etcd, {}, None, INVENTORY)
    assert result["leader"] is None
    assert "intruder" not in result["lines"][0] and "intruder" not in result["lines"][1]
    assert any("'intruder'" in p and "not in the inventory" in p for p in result["problems"])
    assert any("no leader" in p for p in result["problems"])


def test_status_without_an_inventory_is_unchanged():
    cluster = {"members": [member("pg1", "leader", "running"), member("pg2")]}
    result = pg_patroni_status(cluster, {}, [], {})
    assert result["leader"] == "pg1"


def node(recovery=False):
    return {"running": True, "data": True, "in_recovery": recovery, "timeline": 3, "lsn": "0/1"}


def test_topology_refuses_a_leader_that_is_not_an_inventory_member():
    nodes = {
        "pg1": {**node(), "patroni": {"leader": "intruder"}},
        "pg2": {**node(recovery=True), "patroni": {"leader": "intruder"}},
    }
    result = pg_topology(nodes, "pg1", engine="patroni")
    assert not result["ok"]
    assert result["patroni_leader"] is None
    assert any("'intruder'" in p and "not a member" in p for p in result["problems"])
    assert result["sanctioned"] == "pg1"  # the live primary, never the foreign name


def test_topology_refuses_a_foreign_leader_while_no_node_is_writable():
    """Mid-failover (no writable node yet) nothing else would stop the play: the foreign
    name alone must."""
    nodes = {
        "pg1": {"running": False, "data": True, "patroni": {"leader": "intruder"}},
        "pg2": {**node(recovery=True), "patroni": {"leader": "intruder"}},
        "pg3": {**node(recovery=True), "patroni": {"leader": "intruder"}},
    }
    result = pg_topology(nodes, "pg1", engine="patroni")
    assert not result["ok"]
    assert result["patroni_leader"] is None


# ---- HAProxy's client networks ------------------------------------------------------

LAB = [
    {"databases": ["all"], "users": ["all"], "address": "10.0.0.0/28"},
    {"databases": ["replication"], "users": ["replicator"], "address": "10.0.0.0/16"},
]


def test_client_networks_are_the_hba_entries_but_replication_only_ones():
    result = pg_haproxy_sources(LAB, MEMBERS)
    assert result == {"networks": ["10.0.0.0/28"], "problems": []}


def test_mixed_entries_count_for_their_client_databases():
    entries = [
        {"databases": ["all", "replication"], "users": ["monitoring"], "address": "10.0.0.0/24"},
        {"databases": ["learning"], "users": ["app"], "address": "10.0.1.0/24"},
        {"databases": ["learning"], "users": ["app"], "address": "10.0.0.0/24"},
        {"databases": ["replication"], "users": ["replicator"], "address": "10.0.9.0/24"},
    ]
    result = pg_haproxy_sources(entries, MEMBERS)
    assert result["networks"] == ["10.0.0.0/24", "10.0.1.0/24"]
    assert result["problems"] == []


def test_users_not_admitted_from_the_members_are_a_problem():
    """PostgreSQL sees the member's address for a session HAProxy forwards: app from
    10.0.1.0/24 must also be admitted from every member, or it can pass HAProxy and
    still be refused by pg_hba."""
    entries = [
        {"databases": ["learning"], "users": ["app"], "address": "10.0.1.0/24"},
        {"databases": ["all"], "users": ["monitoring"], "address": "10.0.0.0/24"},
    ]
    result = pg_haproxy_sources(entries, MEMBERS)
    assert result["networks"] == ["10.0.1.0/24", "10.0.0.0/24"]
    assert len(result["problems"]) == 3
    assert "postgresql_server_hba_entries[0]" in result["problems"][0]
    assert "from pg1 (10.0.0.11)" in result["problems"][0]
    assert "address: 10.0.0.11/32" in result["problems"][0]


def test_no_client_entry_means_no_client_network():
    only_replication = [LAB[1]]
    assert pg_haproxy_sources(only_replication, MEMBERS) == {"networks": [], "problems": []}


def test_samehost_is_the_member_and_samenet_is_refused():
    entries = [{"databases": ["all"], "users": ["all"], "address": "samehost"}]
    assert pg_haproxy_sources(entries, {}, own="10.0.0.12")["networks"] == ["10.0.0.12/32"]
    entries = [{"databases": ["all"], "users": ["all"], "address": "samenet"}]
    result = pg_haproxy_sources(entries, {})
    assert result["networks"] == []
    assert "samenet cannot be expressed at HAProxy" in result["problems"][0]


def test_ipv6_networks_and_host_names():
    entries = [{"databases": ["all"], "users": ["all"], "address": "2001:db8::/64"}]
    result = pg_haproxy_sources(entries, {"pg1": "2001:db8::11", "pg2": "db2.example"})
    assert result == {"networks": ["2001:db8::/64"], "problems": []}


def test_a_bad_network_names_the_variable():
    with pytest.raises(AnsibleFilterError, match=r"postgresql_server_hba_entries\[0\].address"):
        pg_haproxy_sources([{"databases": ["all"], "users": ["all"], "address": "10.0/x"}], {})


# ---- forensic copy before a forced reinitialise --------------------------------------

GIB = 1024**3


def test_a_copy_is_kept_when_there_is_room():
    result = pg_forensic_copy({"avail": 10 * GIB, "data": 2 * GIB})
    assert result["keep"] is True


def test_no_copy_without_room_and_the_report_says_why():
    result = pg_forensic_copy({"avail": str(2 * GIB), "data": str(2 * GIB)})
    assert result["keep"] is False
    assert result["why"].startswith("no room for a forensic copy: 2.0 GiB free")


def test_the_margin_counts():
    room = {"avail": 3 * GIB, "data": 2 * GIB}
    assert pg_forensic_copy(room, 0)["keep"] is True
    assert pg_forensic_copy(room, GIB)["keep"] is False


def test_a_room_without_numbers_is_an_error():
    with pytest.raises(AnsibleFilterError, match="avail, data"):
        pg_forensic_copy({"avail": "?"})


def test_the_filters_are_exported():
    filters = FilterModule().filters()
    for name in ("pg_patroni_leader", "pg_haproxy_sources", "pg_forensic_copy"):
        assert name in filters
