"""patroni_config_diff: what of etcd's copy of the configuration the inventory changes."""

import pytest
from ansible.errors import AnsibleFilterError

from pg_patroni import patroni_config_diff

CURRENT = {
    "ttl": 20,
    "loop_wait": 5,
    "failsafe_mode": True,
    "synchronous_mode": "quorum",
    "postgresql": {
        "use_pg_rewind": True,
        "parameters": {"max_connections": "100", "hot_standby": "on", "wal_level": "replica"},
    },
    "slots": {"keep": {"type": "physical"}},
}


def test_in_step_is_empty():
    want = {
        "ttl": "20",
        "loop_wait": 5,
        "failsafe_mode": "on",
        "synchronous_mode": "quorum",
        "postgresql": {
            "use_pg_rewind": "true",
            "parameters": {"max_connections": 100, "hot_standby": True, "wal_level": "replica"},
        },
    }
    assert patroni_config_diff(want, CURRENT) == {}


def test_changed_values_are_the_patch():
    want = {
        "ttl": 30,
        "synchronous_mode": False,
        "postgresql": {"parameters": {"max_connections": 200, "wal_level": "replica"}},
    }
    assert patroni_config_diff(want, CURRENT) == {
        "ttl": 30,
        "synchronous_mode": False,
        "postgresql": {"parameters": {"max_connections": 200}},
    }


def test_missing_keys_are_added_and_unknown_ones_left_alone():
    want = {
        "maximum_lag_on_failover": 1048576,
        "postgresql": {"parameters": {"max_wal_senders": 10}},
    }
    assert patroni_config_diff(want, CURRENT) == want
    assert patroni_config_diff(want, {}) == want


def test_bool_against_words():
    assert patroni_config_diff({"a": True}, {"a": "off"}) == {"a": True}
    assert patroni_config_diff({"a": False}, {"a": "no"}) == {}
    assert patroni_config_diff({"a": None}, {"a": None}) == {}
    assert patroni_config_diff({"a": None}, {"a": 1}) == {"a": None}


def test_not_a_mapping_is_an_error():
    with pytest.raises(AnsibleFilterError, match="not a mapping"):
        patroni_config_diff(["ttl"], CURRENT)


# --- pg_patroni_status --------------------------------------------------------------------

from pg_patroni import pg_patroni_status  # noqa: E402

HEALTHY = {
    "members": [
        {"name": "pg1", "role": "leader", "state": "running", "timeline": 3},
        {"name": "pg2", "role": "quorum_standby", "state": "streaming", "timeline": 3, "lag": 0},
        {"name": "pg3", "role": "replica", "state": "streaming", "timeline": 3, "lag": 128},
    ]
}
CONFIG = {"failsafe_mode": True, "synchronous_mode": "quorum"}
ETCD = [{"endpoint": f"https://10.0.0.{i}:2379", "health": True} for i in (1, 2, 3)]
NO_DOG = {"pg1": False, "pg2": False, "pg3": False}


def test_healthy_cluster_has_no_problem_and_says_there_is_no_watchdog():
    r = pg_patroni_status(HEALTHY, CONFIG, ETCD, NO_DOG, {"max_lag_bytes": 1024})
    assert r["problems"] == []
    assert r["leader"] == "pg1" and r["timeline"] == 3 and r["synchronous"] == ["pg2"]
    assert (
        "leader pg1, timeline 3, not paused, failsafe on, synchronous mode quorum" in r["lines"][0]
    )
    assert "no /dev/watchdog on pg1, pg2, pg3" in r["watchdog"]
    assert r["etcd"] == {"healthy": 3, "members": 3, "endpoints": r["etcd"]["endpoints"]}


def test_json_text_is_read():
    import json

    r = pg_patroni_status(json.dumps(HEALTHY), json.dumps(CONFIG), json.dumps(ETCD), NO_DOG)
    assert r["problems"] == []


def test_no_leader_paused_lag_and_a_stopped_member_are_problems():
    cluster = {
        "pause": True,
        "members": [
            {"name": "pg2", "role": "replica", "state": "streaming", "lag": 5000},
            {"name": "pg3", "role": "replica", "state": "stopped"},
        ],
    }
    r = pg_patroni_status(cluster, CONFIG, ETCD, {}, {"max_lag_bytes": 1024})
    text = " | ".join(r["problems"])
    assert "no leader" in text and "paused" in text
    assert "pg2 is 5000 bytes behind" in text and "pg3 is stopped" in text


def test_etcd_one_member_down_and_quorum_lost():
    one = [*ETCD[:2], {"endpoint": "https://10.0.0.3:2379", "health": False, "error": "timeout"}]
    r = pg_patroni_status(HEALTHY, CONFIG, one, NO_DOG)
    assert r["problems"] == ["etcd: 1 of 3 members unhealthy (quorum kept)"]
    two = [{**e, "health": False} for e in ETCD[:2]] + ETCD[2:]
    r = pg_patroni_status(HEALTHY, CONFIG, two, NO_DOG)
    assert "etcd has lost its quorum (1 of 3 members healthy)" in r["problems"][0]


def test_synchronous_mode_without_a_synchronous_standby():
    cluster = {
        "members": [
            {**m, "role": "replica"} if m["name"] == "pg2" else m for m in HEALTHY["members"]
        ]
    }
    r = pg_patroni_status(cluster, CONFIG, ETCD, NO_DOG)
    assert r["problems"] == ["synchronous mode quorum but no standby is synchronous"]


def test_agent_not_answering_is_a_problem():
    r = pg_patroni_status("", CONFIG, ETCD, NO_DOG)
    assert r["leader"] is None and "does not answer" in r["problems"][0]


def test_watchdog_everywhere():
    r = pg_patroni_status(HEALTHY, CONFIG, ETCD, {"pg1": True, "pg2": True, "pg3": True})
    assert r["watchdog"].startswith("on every member")


from pg_patroni import pg_patroni_history  # noqa: E402


def test_history_leader_names_are_inventory_members_or_withheld():
    rows = [
        {"TL": 1, "LSN": 50331808, "Reason": "no recovery target specified", "New Leader": "pg2"},
        {"TL": 2, "LSN": 67109024, "New Leader": "evil; rm -rf /"},
        {"TL": 3, "New Leader": ""},
        {"TL": 4, "New Leader": None},
        {"TL": 5},
    ]
    assert pg_patroni_history(rows, ["pg1", "pg2", "pg3"]) == [
        rows[0],
        {"TL": 2, "LSN": 67109024, "New Leader": "NOT AN INVENTORY MEMBER"},
        {"TL": 3, "New Leader": ""},
        {"TL": 4, "New Leader": "NOT AN INVENTORY MEMBER"},
        {"TL": 5, "New Leader": ""},
    ]


@pytest.mark.parametrize(("rows", "inventory"), [("x", ["pg1"]), ([1], ["pg1"]), ([], "pg1")])
def test_history_bad_input(rows, inventory):
    with pytest.raises(AnsibleFilterError):
        pg_patroni_history(rows, inventory)
