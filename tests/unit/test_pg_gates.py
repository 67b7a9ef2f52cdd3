"""pg_gates: the on-call request checks, the switchover gates, the failover and rejoin
refusals, the restore checks and the patroni/etcd settings checks, and the one boolean."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from pg_gates import (
    FilterModule,
    pg_bool,
    pg_etcd_input_problems,
    pg_failover_refusals,
    pg_ha_request_problems,
    pg_patroni_input_problems,
    pg_rejoin_refusals,
    pg_restore_input_problems,
    pg_restore_refusals,
    pg_restore_request_problems,
    pg_switchover_gates,
)

ROOT = Path(__file__).resolve().parents[2]
M = ["pg1", "pg2", "pg3"]
ACCEPTED = [True, False, "true", "false", "yes", "no", "on", "off", "1", "0", 1, 0, "True", "NO"]
REFUSED = ["ture", "", 2, None, "maybe", "y", 1.0, ["true"]]


def test_filters_exported():
    assert sorted(FilterModule().filters()) == [
        "pg_bool",
        "pg_etcd_input_problems",
        "pg_failover_refusals",
        "pg_ha_request_problems",
        "pg_patroni_input_problems",
        "pg_rejoin_refusals",
        "pg_restore_input_problems",
        "pg_restore_refusals",
        "pg_restore_request_problems",
        "pg_switchover_gates",
    ]


# pg_bool ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *[("yes", True), ("on", True), (" TRUE ", True), (1, True), (True, True)],
        *[("no", False), ("off", False), ("0", False), (0, False), (False, False)],
    ],
)
def test_pg_bool_accepted(value, expected):
    assert pg_bool(value, "failover_force") is expected


@pytest.mark.parametrize("value", REFUSED)
def test_pg_bool_refused_is_a_filter_error_naming_the_variable(value):
    with pytest.raises(AnsibleFilterError, match=r"^restore_side_drop: .* is not a true/false"):
        pg_bool(value, "restore_side_drop")


# The HA request -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "name"),
    [("switchover", "switchover_to"), ("failover", "failover_from"), ("rejoin", "rejoin_host")],
)
@pytest.mark.parametrize("missing", [None, ""])
def test_request_names_the_required_variable(action, name, missing):
    assert pg_ha_request_problems({name: missing}, action, M) == [
        f"{name} is required: the inventory name of a PostgreSQL host, one of pg1, pg2, pg3 "
        f"(e.g. -e {name}=pg3)."
    ]


@pytest.mark.parametrize("value", ["pg9", "PG1", "db1; rm -rf /", ["pg1"], 5])
def test_request_host_must_be_a_member(value):
    assert pg_ha_request_problems({"switchover_to": value}, "switchover", M) == [
        f"switchover_to={value} is not a host of the postgresql group; "
        "expected one of pg1, pg2, pg3."
    ]


def test_request_valid():
    assert pg_ha_request_problems({"switchover_to": "pg2"}, "switchover", M) == []
    assert pg_ha_request_problems({"rejoin_host": "pg1"}, "rejoin", M) == []
    request = {"failover_from": "pg1", "failover_to": None}
    assert pg_ha_request_problems(request, "failover", M) == []


def test_request_optional_failover_to_is_checked_when_given():
    request = {"failover_from": "pg1", "failover_to": "pg9"}
    assert pg_ha_request_problems(request, "failover", M) == [
        "failover_to=pg9 is not a host of the postgresql group; expected one of pg1, pg2, pg3."
    ]


def test_request_failover_to_the_failed_primary():
    request = {"failover_from": "pg1", "failover_to": "pg1"}
    assert pg_ha_request_problems(request, "failover", M) == [
        "failover_to=pg1 is the failed primary itself; name a survivor."
    ]


def test_request_both_null_is_only_the_missing_failover_from():
    request = {"failover_from": None, "failover_to": None}
    assert pg_ha_request_problems(request, "failover", M) == [
        "failover_from is required: the inventory name of a PostgreSQL host, one of pg1, pg2, "
        "pg3 (e.g. -e failover_from=pg3)."
    ]


@pytest.mark.parametrize("force", ACCEPTED)
def test_request_failover_force_accepted(force):
    request = {"failover_from": "pg1", "failover_to": "pg2"}
    assert pg_ha_request_problems(request, "failover", M, force) == []


@pytest.mark.parametrize("force", REFUSED)
def test_request_failover_force_refused(force):
    request = {"failover_from": "pg1", "failover_to": None}
    assert pg_ha_request_problems(request, "failover", M, force) == [
        f"failover_force must be true or false; got {force}."
    ]


def test_request_failover_force_is_only_read_for_a_failover():
    assert pg_ha_request_problems({"rejoin_host": "pg1"}, "rejoin", M, "ture") == []


def test_request_problems_keep_their_order():
    request = {"failover_from": "pg9", "failover_to": "pg9"}
    assert pg_ha_request_problems(request, "failover", M, "ture") == [
        "failover_from=pg9 is not a host of the postgresql group; expected one of pg1, pg2, pg3.",
        "failover_to=pg9 is not a host of the postgresql group; expected one of pg1, pg2, pg3.",
        "failover_to=pg9 is the failed primary itself; name a survivor.",
        "failover_force must be true or false; got ture.",
    ]


def test_request_unknown_action_and_bad_request():
    with pytest.raises(AnsibleFilterError, match="not switchover, failover or rejoin"):
        pg_ha_request_problems({}, "restore", M)
    with pytest.raises(AnsibleFilterError, match="not a mapping"):
        pg_ha_request_problems(["pg1"], "rejoin", M)


# The switchover gates -----------------------------------------------------------------

STATE = {"sanctioned": "pg1", "fenced": [], "live_primary": "pg1"}
STREAMING = {"running": True, "in_recovery": True, "receiver": "streaming"}
QUIET = {"failing": False, "last_failed_wal": None}


def gates(replica=None, transactions=(), archiver=QUIET, state="streaming", lag=0):
    if replica is None:
        replica = {"state": state, "sync": "async", "lag": lag}
    return {"replica": replica, "transactions": list(transactions), "archiver": archiver}


def switchover(g=None, old="pg1", state=STATE, target=STREAMING, max_lag=16777216):
    return pg_switchover_gates(gates() if g is None else g, old, "pg2", state, target, max_lag, 300)


def test_switchover_gates_pass():
    assert switchover() == []
    assert switchover(gates(lag=16777216)) == []
    assert switchover(gates(lag=None)) == []  # | int reads null as 0
    assert switchover(max_lag="16777216") == []


def test_switchover_without_a_live_primary_is_a_failover():
    assert switchover({}, old=None) == [
        "no node is the live primary: this is a failover (playbooks/failover.yml "
        "-e failover_from=pg1)."
    ]


def test_switchover_to_a_fenced_node():
    assert switchover(state={**STATE, "fenced": ["pg2"]}) == [
        "pg2 is fenced; run playbooks/rejoin.yml -e rejoin_host=pg2 first."
    ]


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ({"running": False, "unreachable": True}, "unreachable"),
        ({"running": False}, "down"),
        ({}, "down"),
        ({"running": True, "in_recovery": False, "receiver": ""}, "WAL receiver: none"),
        ({"running": True, "in_recovery": True, "receiver": None}, "WAL receiver: none"),
        ({"running": True, "in_recovery": True, "receiver": "catchup"}, "WAL receiver: catchup"),
    ],
)
def test_switchover_target_must_stream(target, why):
    assert switchover(target=target) == [f"switchover_to=pg2 is not a streaming standby ({why})."]


def test_switchover_target_must_stream_from_the_primary():
    assert switchover({"replica": None, "transactions": [], "archiver": QUIET}) == [
        "pg1 has no replication connection from pg2 (it may stream from another standby)."
    ]


@pytest.mark.parametrize(("state", "lag"), [("streaming", 16777217), ("catchup", 0)])
def test_switchover_target_behind(state, lag):
    assert switchover(gates(state=state, lag=lag)) == [
        f"pg2 is {state} and {lag} bytes behind (postgresql_ha_switchover_max_lag_bytes is "
        "16777216); wait for it to catch up."
    ]


def test_switchover_long_transactions_and_failing_archiver_add_up():
    failing = {"failing": True, "last_failed_wal": "000000010000000000000003"}
    assert switchover(
        gates(state="catchup", transactions=["pid 1", "pid 2"], archiver=failing)
    ) == [
        "pg2 is catchup and 0 bytes behind (postgresql_ha_switchover_max_lag_bytes is "
        "16777216); wait for it to catch up.",
        "transactions open longer than 300 s would be ended: pid 1; pid 2 "
        "(postgresql_ha_switchover_max_transaction_seconds).",
        "WAL archiving is failing on pg1 (last failed 000000010000000000000003); "
        "fix it first (status.yml).",
    ]


def test_switchover_bad_replica_row():
    with pytest.raises(AnsibleFilterError, match="not a mapping"):
        switchover({"replica": "streaming"})


# The failover refusals ----------------------------------------------------------------


def failover(old="pg1", writable=(), fenced=(), sanctioned="pg1"):
    state = {"sanctioned": sanctioned, "writable": list(writable), "fenced": list(fenced)}
    return pg_failover_refusals(state, old)


def test_failover_accepted():
    assert failover() == []


def test_failover_from_must_be_the_sanctioned_primary():
    assert failover(old="pg2") == [
        "failover_from=pg2 does not name the primary: the sanctioned primary is pg1. "
        "The confirmation is the failed primary's name, typed exactly."
    ]


def test_failover_of_a_writable_primary_is_a_switchover():
    assert failover(writable=["pg1"]) == [
        "pg1 is running and accepts writes: this is a switchover "
        "(playbooks/switchover.yml -e switchover_to=NAME), not a failover."
    ]


def test_failover_never_makes_a_second_primary():
    assert failover(writable=["pg2", "pg3"]) == [
        "pg2, pg3 already accepts writes: a second primary is never made. "
        "Stop all but one writable node first."
    ]


def test_failover_already_done():
    assert failover(fenced=["pg1"]) == [
        "pg1 is already fenced: the failover was done (status.yml shows the primary)."
    ]


def test_failover_refusals_add_up():
    assert len(failover(old="pg2", writable=["pg2", "pg3"], fenced=["pg2"])) == 3


# The rejoin refusals ------------------------------------------------------------------


def rejoin(node="pg2", writable=("pg1",), answering=M, sanctioned="pg1"):
    state = {"sanctioned": sanctioned, "writable": list(writable), "summary": "SUMMARY"}
    return pg_rejoin_refusals(state, node, answering)


def test_rejoin_accepted():
    assert rejoin() == []
    # The node itself may still accept writes (an old primary that came back).
    assert rejoin(writable=["pg1", "pg2"]) == []


def test_rejoin_needs_the_sanctioned_primary_running():
    assert rejoin(writable=[]) == [
        "the sanctioned primary pg1 is not running as a primary (SUMMARY)."
    ]


def test_rejoin_refuses_other_writable_nodes():
    assert rejoin(writable=["pg1", "pg2", "pg3"]) == ["other writable nodes: pg2, pg3."]


def test_rejoin_never_rewinds_the_primary():
    assert rejoin(node="pg1") == ["rejoin_host=pg1 is the sanctioned primary; it is never rewound."]


def test_rejoin_node_must_answer():
    assert rejoin(answering=["pg1", "pg3"]) == ["rejoin_host=pg2 does not answer over SSH."]


# The restore request ------------------------------------------------------------------

REQUEST = {"problems": [], "host": "", "mode": "in-place", "timeline": None}


def restore_request(request=REQUEST, **kwargs):
    return pg_restore_request_problems(request, M, **kwargs)


def test_restore_request_accepted():
    assert restore_request() == []
    assert restore_request(confirm="pg1", hosts_down=" pg2 ,, pg3", drill_host="pg3") == []
    side = {**REQUEST, "mode": "side", "host": "pg3"}
    assert restore_request(side, side_drop="yes", verify_sql="SELECT 1") == []


def test_restore_request_problems_come_first():
    request = {**REQUEST, "problems": ["restore_mode=side needs restore_host=NAME."]}
    assert (
        restore_request(request, confirm="pg9")[0] == "restore_mode=side needs restore_host=NAME."
    )


def test_restore_request_hosts_must_be_members():
    assert restore_request(
        {**REQUEST, "host": "pg9"}, confirm="pg8", hosts_down="pg1, pg7", drill_host="pg6"
    ) == [
        "restore_host=pg9 is not a host of the postgresql group; expected one of pg1, pg2, pg3.",
        "restore_confirm=pg8 is not a host of the postgresql group; type the name of the "
        "primary being restored.",
        "restore_hosts_down=pg1, pg7: pg7 is not a host of the postgresql group; expected the "
        "members that do not answer, comma-separated, from pg1, pg2, pg3.",
        "drill_host=pg6 is not a host of the postgresql group; expected one of pg1, pg2, pg3.",
    ]


@pytest.mark.parametrize("name", ["side_drop", "accept_loss"])
@pytest.mark.parametrize("value", REFUSED)
def test_restore_request_switch_refused(name, value):
    assert restore_request(**{name: value}) == [
        f"restore_{name} must be true or false; got {value}."
    ]


@pytest.mark.parametrize("value", ACCEPTED)
def test_restore_request_accept_loss_accepted(value):
    assert restore_request(accept_loss=value) == []


@pytest.mark.parametrize("value", [v for v in ACCEPTED if v in (True, "true", "yes", "on", "1")])
def test_restore_side_drop_needs_side_mode(value):
    assert restore_request(side_drop=value) == [
        "restore_side_drop=true needs restore_mode=side and restore_host=NAME "
        "(the host of the side cluster)."
    ]


@pytest.mark.parametrize("value", [False, "false", "no", "off", "0", 0])
def test_restore_side_drop_false_needs_nothing(value):
    assert restore_request(side_drop=value) == []


@pytest.mark.parametrize("sql", [5, ["SELECT 1"], None])
def test_restore_verify_sql_must_be_a_string(sql):
    assert restore_request(verify_sql=sql) == [
        "restore_verify_sql must be one SQL statement as a string, "
        'e.g. "SELECT count(*) > 0 FROM app.orders".'
    ]


# The restore role's settings ----------------------------------------------------------

CLUSTER = {"port": 5432, "name": "main"}
SETTINGS = {
    "postgresql_restore_side_port": 5433,
    "postgresql_restore_drill_port": 5434,
    "postgresql_restore_side_name": "restore",
    "postgresql_restore_drill_name": "drill",
    "postgresql_restore_drill_host": "",
}


def restore_inputs(**changes):
    return pg_restore_input_problems({**SETTINGS, **changes}, CLUSTER, M)


def test_restore_inputs_accepted():
    assert restore_inputs() == []
    assert restore_inputs(postgresql_restore_drill_host="pg2") == []


@pytest.mark.parametrize("name", ["postgresql_restore_side_port", "postgresql_restore_drill_port"])
def test_restore_inputs_production_port(name):
    assert restore_inputs(**{name: "5432"}) == [
        f"{name}=5432 is the production port (postgresql_cluster_port); "
        "a separate cluster needs a port of its own."
    ]


def test_restore_inputs_same_port():
    assert restore_inputs(postgresql_restore_drill_port=5433) == [
        "postgresql_restore_side_port and postgresql_restore_drill_port are both 5433; "
        "give each its own port."
    ]


@pytest.mark.parametrize("value", ["main", "Restore", "9r", "a" * 32, "r-1", "r\n\n"])
def test_restore_inputs_cluster_name(value):
    assert restore_inputs(postgresql_restore_side_name=value) == [
        f"postgresql_restore_side_name={value}: expected a Debian cluster name of lowercase "
        "letters, digits and _, other than the production cluster main."
    ]


def test_restore_inputs_drill_host():
    assert restore_inputs(postgresql_restore_drill_host="pg9") == [
        "postgresql_restore_drill_host=pg9 is not a host of the postgresql group; "
        "expected one of pg1, pg2, pg3 or empty."
    ]


# The restore refusals -----------------------------------------------------------------

PLAN = {"problems": [], "backup": {"size": 1024**3}}
ROOM = {"avail": 5 * 1024**3, "data": 2 * 1024**3, "side_exists": False}
ONE_PRIMARY = {"sanctioned": "pg1", "writable": ["pg1"], "summary": "pg1 primary"}
SIDE = {"mode": "side", "timeline": None}
IN_PLACE = {"mode": "in-place", "timeline": None}


def refusals(plan=PLAN, request=IN_PLACE, room=ROOM, state=ONE_PRIMARY, **kwargs):
    kwargs = {
        "safety": "backup",
        "target_host": "pg3",
        "side_cluster": "17/restore",
        "members": M,
        "answering": M,
        **kwargs,
    }
    return pg_restore_refusals(plan, request, room, state, "pg1", **kwargs)


def test_restore_refusals_none():
    assert refusals() == []
    assert refusals(request=SIDE, safety="none") == []
    assert refusals(confirm="pg1") == []


def test_restore_refusals_plan_first():
    assert refusals({**PLAN, "problems": ["HOLE."]}, confirm="pg2")[0] == "HOLE."


def test_restore_side_cluster_exists():
    assert refusals(request=SIDE, room={**ROOM, "side_exists": True}) == [
        "cluster 17/restore exists on pg3 from an earlier side restore; "
        "remove it first with -e restore_side_drop=true."
    ]


def test_restore_side_needs_room():
    room = {**ROOM, "avail": 1024**3}
    assert refusals(request=SIDE, room=room) == ["pg3 has 1.0 GiB free; the backup needs 1.2 GiB."]
    assert refusals({"problems": [], "backup": None}, request=SIDE, room=room) == []


def test_restore_in_place_needs_something_kept():
    room = {"avail": 1024**3 // 2, "data": 3 * 1024**3}
    assert refusals(room=room, safety="no-room") == [
        "the primary pg1 is down, so no last backup can be taken, and 0.5 GiB free cannot hold "
        "a copy of its 3.0 GiB data directory. Free space, or accept losing what it holds "
        "beyond the archive with -e restore_accept_loss=true."
    ]


def test_restore_in_place_one_writable_node():
    state = {**ONE_PRIMARY, "writable": ["pg1", "pg2"], "summary": "two"}
    assert refusals(state=state) == [
        "more than one node accepts writes (two); settle the topology first."
    ]


def test_restore_confirm_names_the_primary():
    assert refusals(confirm="pg2") == [
        "restore_confirm=pg2 does not name the primary being restored, pg1."
    ]


PATRONI_INTRO = (
    "under Patroni an in-place restore removes the cluster from etcd, and a member the "
    "controller cannot reach may still run its Patroni agent, reach etcd and claim the empty "
    "cluster as a second primary. "
)


def test_restore_under_patroni_members_down_must_be_named():
    assert refusals(patroni=True, answering=["pg1", "pg2"], hosts_down=" pg3 , pg3 ") == []
    assert refusals(patroni=False, answering=["pg1"]) == []
    assert refusals(patroni=True, answering=["pg1"], hosts_down="pg3") == [
        PATRONI_INTRO + "Members that do not answer: pg2, pg3. Make sure they are down "
        "(powered off, or their Patroni stopped), then confirm with "
        "-e restore_hosts_down=pg2,pg3. restore_hosts_down=pg3 must name exactly the members "
        "that do not answer."
    ]
    assert refusals(patroni=True, hosts_down="pg2") == [
        PATRONI_INTRO + "Every member answers: drop restore_hosts_down. restore_hosts_down=pg2 "
        "must name exactly the members that do not answer."
    ]


def test_restore_primary_on_another_timeline():
    nodes = {"pg1": {"timeline": 3}}
    assert refusals(live=True, nodes=nodes, repo={"timeline": "3"}) == []
    assert refusals(live=False, nodes=nodes, repo={"timeline": 2}) == []
    asked = {**IN_PLACE, "timeline": 2}
    assert refusals(request=asked, live=True, nodes=nodes, repo={"timeline": 2}) == []
    assert refusals(live=True, nodes=nodes, repo={"timeline": 2}) == [
        "the repository newest timeline is 2 but the primary is on timeline 3 (a node was "
        "promoted outside these playbooks?); say which history to restore along with "
        "-e restore_target_timeline=N."
    ]


def test_restore_refusals_switches_are_real_booleans():
    with pytest.raises(AnsibleFilterError, match=r"postgresql_cluster\.patroni"):
        refusals(patroni="ture")


# The patroni and etcd settings --------------------------------------------------------

PATRONI = {
    "patroni_restapi_user": "patroni",
    "patroni_ttl": 30,
    "patroni_loop_wait": 10,
    "patroni_retry_timeout": 10,
    "patroni_synchronous_mode": "off",
    "patroni_synchronous_node_count": 1,
    "postgresql_server_synchronous_standbys": [],
    "patroni_restapi_port": 8008,
    "patroni_haproxy_primary_port": 5000,
    "patroni_haproxy_replica_port": 5001,
    "patroni_haproxy_direct_port": 5002,
    "patroni_maximum_lag_on_failover": 1048576,
    "patroni_haproxy_bind_address": "10.0.0.11",
    "patroni_restapi_allowlist": ["10.0.0.0/24", "192.0.2.1", "2001:db8::/32"],
}


def patroni(length=24, sources=(), **changes):
    return pg_patroni_input_problems({**PATRONI, **changes}, M, length, 5432, list(sources))


def test_patroni_accepted():
    assert patroni() == []
    assert patroni(patroni_synchronous_mode="quorum", patroni_synchronous_node_count=2) == []


def test_patroni_password_length_only():
    assert patroni(length=11) == [
        "patroni_restapi_password is required with postgresql_ha_engine patroni: "
        "at least 12 characters (from the vault)."
    ]


def test_patroni_user():
    assert patroni(patroni_restapi_user="bad user") == [
        'patroni_restapi_user: letters, digits, _ . and -; got "bad user".'
    ]


@pytest.mark.parametrize(
    "timing",
    [
        {"patroni_ttl": 19},
        {"patroni_loop_wait": 0},
        {"patroni_retry_timeout": 2},
        {"patroni_loop_wait": 11},
    ],
)
def test_patroni_timing(timing):
    [problem] = patroni(**timing)
    assert problem.startswith("patroni_ttl, patroni_loop_wait, patroni_retry_timeout: ")


@pytest.mark.parametrize("mode", ["maybe", False, "Off"])
def test_patroni_synchronous_mode(mode):
    assert patroni(patroni_synchronous_mode=mode) == [
        f'patroni_synchronous_mode: off, on or quorum; got "{mode}".'
    ]


@pytest.mark.parametrize("count", [0, 3])
def test_patroni_synchronous_node_count(count):
    assert patroni(patroni_synchronous_mode="on", patroni_synchronous_node_count=count) == [
        f"patroni_synchronous_node_count: from 1 to the number of replicas (2); got {count}."
    ]


def test_patroni_no_synchronous_standbys_of_our_own():
    [problem] = patroni(postgresql_server_synchronous_standbys=["pg2"])
    assert problem.startswith("postgresql_server_synchronous_standbys must be empty")
    assert problem.endswith('got ["pg2"].')


def test_patroni_ports_differ():
    assert patroni(patroni_haproxy_replica_port=5432) == [
        "patroni_restapi_port, patroni_haproxy_primary_port, patroni_haproxy_replica_port, "
        "patroni_haproxy_direct_port and postgresql_cluster_port must all differ; "
        "got 8008, 5000, 5432, 5002, 5432."
    ]
    [problem] = patroni(patroni_haproxy_direct_port=5000)
    assert problem.endswith("got 8008, 5000, 5001, 5000, 5432.")


def test_patroni_lag():
    assert patroni(patroni_maximum_lag_on_failover=-1) == [
        "patroni_maximum_lag_on_failover: bytes, 0 or more; got -1."
    ]


@pytest.mark.parametrize("bind", ["", "*", "0.0.0.0", " :: ", "a b"])
def test_patroni_bind_address(bind):
    [problem] = patroni(patroni_haproxy_bind_address=bind)
    assert problem.startswith("patroni_haproxy_bind_address: ")
    assert "never every interface" in problem


def test_patroni_allowlist():
    # A network with host bits set is refused, as the ansible.utils.ip test refuses it.
    assert patroni(patroni_restapi_allowlist=["10.0.0.1/8", "host", "::1"]) == [
        "patroni_restapi_allowlist: IP addresses or CIDR networks (the controller's); "
        'got ["10.0.0.1/8", "host"].'
    ]


def test_patroni_source_problems_last():
    assert patroni(length=0, sources=["pg_hba admits 0.0.0.0/0"])[-1] == (
        "pg_hba admits 0.0.0.0/0."
    )


ETCD = {
    "etcd_client_port": 2379,
    "etcd_peer_port": 2380,
    "etcd_heartbeat_interval_ms": 100,
    "etcd_election_timeout_ms": 1000,
    "etcd_data_dir": "/var/lib/etcd",
}


def test_etcd_accepted():
    assert pg_etcd_input_problems(ETCD, M) == []
    assert pg_etcd_input_problems(ETCD, [f"e{i}" for i in range(5)]) == []


@pytest.mark.parametrize("count", [1, 2, 4, 6])
def test_etcd_members(count):
    [problem] = pg_etcd_input_problems(ETCD, [f"e{i}" for i in range(count)])
    assert problem.startswith("etcd (postgresql_ha_engine patroni) needs 3, 5 or 7 members: ")
    assert f"got {count} (" in problem


def test_etcd_ports():
    assert pg_etcd_input_problems({**ETCD, "etcd_peer_port": "2379"}, M) == [
        "etcd_client_port and etcd_peer_port must differ; got 2379 for both."
    ]


@pytest.mark.parametrize(("heartbeat", "election"), [(49, 1000), (100, 499)])
def test_etcd_timing(heartbeat, election):
    settings = {
        **ETCD,
        "etcd_heartbeat_interval_ms": heartbeat,
        "etcd_election_timeout_ms": election,
    }
    assert pg_etcd_input_problems(settings, M) == [
        "etcd_election_timeout_ms must be at least 5 x etcd_heartbeat_interval_ms, the "
        f"heartbeat at least 50; got {election} and {heartbeat}."
    ]


@pytest.mark.parametrize("data_dir", ["var/lib/etcd", "/var/lib/my etcd", "/"])
def test_etcd_data_dir(data_dir):
    assert pg_etcd_input_problems({**ETCD, "etcd_data_dir": data_dir}, M) == [
        f'etcd_data_dir: an absolute path without spaces; got "{data_dir}".'
    ]


# One parser, no decisions in Jinja ----------------------------------------------------

# A list of true/false spellings: 'true', 'yes' ... written out anywhere but pgfleet/boolean.py.
_BOOL_LIST = re.compile(
    r"""['"](?:true|yes|on)['"]\s*,\s*['"](?:false|no|off|true|yes|on|1)['"]""", re.IGNORECASE
)
# A validator built in Jinja: {%- set out = [] -%} ... out.append(...).
_JINJA_VALIDATOR = re.compile(r"out\.append\(")
# The operator's switches, read by Ansible's own bool (which takes 'ture' for false).
_SWITCH_BY_ANSIBLE_BOOL = re.compile(
    r"(?:failover_force|restore_side_drop|restore_accept_loss)[^\n|]*(?:\|[^\n|]*)*?\|\s*bool\b"
)


def _files(root: Path, *patterns: str) -> list[Path]:
    found: list[Path] = []
    for folder in ("roles", "playbooks", "filter_plugins", "library", "module_utils"):
        for pattern in patterns:
            found += sorted((root / folder).rglob(pattern))
    return found


def offences(root: Path) -> list[str]:
    """Decisions in Jinja, copies of the true/false list, switches read by Ansible's bool."""
    out: list[str] = []
    for path in _files(root, "*.yml", "*.py", "*.j2") + sorted(root.glob("roles/*/files/*")):
        if not path.is_file() or path.name == "boolean.py":
            continue
        text = path.read_text(errors="replace")
        name = path.relative_to(root)
        out += [f"{name}: a true/false list" for _ in _BOOL_LIST.finditer(text)]
        if path.suffix == ".yml":
            out += [f"{name}: a Jinja validator" for _ in _JINJA_VALIDATOR.finditer(text)]
            out += [f"{name}: {m.group(0)}" for m in _SWITCH_BY_ANSIBLE_BOOL.finditer(text)]
    return out


def test_one_boolean_parser_and_no_jinja_validators():
    assert offences(ROOT) == []
