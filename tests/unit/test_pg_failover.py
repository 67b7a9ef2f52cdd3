"""pg_failover: the candidate of a failover and the data-loss bound."""

import pytest
from ansible.errors import AnsibleFilterError

from pg_failover import pg_data_loss, pg_failover_choice


def standby(receive, replay=None, tl=1):
    return {
        "running": True,
        "in_recovery": True,
        "timeline": tl,
        "receive_lsn": receive,
        "replay_lsn": replay or receive,
    }


LOST = {"running": False, "unreachable": True}


def test_most_wal_received_wins_over_replayed():
    nodes = {"pg1": LOST, "pg2": standby("0/3000100"), "pg3": standby("0/3000200", "0/3000000")}
    result = pg_failover_choice(nodes, "pg1")
    assert result["ok"] and result["candidate"] == "pg3"
    assert [r["host"] for r in result["ranking"]] == ["pg3", "pg2"]
    assert result["ranking"][1]["behind_bytes"] == 256
    assert "pg2: timeline 1" in result["summary"] and "256 bytes behind pg3" in result["summary"]


def test_higher_timeline_first_then_name_for_ties():
    nodes = {
        "pg2": standby("0/5000000"),
        "pg3": standby("0/4000000", tl=2),
        "pg4": standby("0/4000000", tl=2),
    }
    assert pg_failover_choice(nodes, "pg1")["candidate"] == "pg3"


def test_across_the_32_bit_boundary():
    nodes = {"pg2": standby("0/FFFFFF00"), "pg3": standby("1/10")}
    assert pg_failover_choice(nodes, "pg1")["candidate"] == "pg3"


def test_requested_behind_is_refused_unless_forced():
    nodes = {"pg1": LOST, "pg2": standby("0/3000200"), "pg3": standby("0/3000100")}
    refused = pg_failover_choice(nodes, "pg1", "pg3")
    assert not refused["ok"] and refused["candidate"] is None
    assert "failover_to=pg3 is 256 bytes behind pg2" in refused["problems"][0]
    assert "failover_force=true" in refused["problems"][0]
    forced = pg_failover_choice(nodes, "pg1", "pg3", True)
    assert forced["ok"] and forced["candidate"] == "pg3"
    assert "chosen with failover_force" in forced["summary"]


def test_requested_equal_to_the_best_is_taken():
    nodes = {"pg2": standby("0/3000200"), "pg3": standby("0/3000200")}
    assert pg_failover_choice(nodes, "pg1", "pg3")["candidate"] == "pg3"


def test_requested_that_is_down_or_unknown():
    nodes = {"pg1": LOST, "pg2": standby("0/3000200"), "pg3": {"running": False}}
    assert (
        "pg3 cannot be promoted: it is down"
        in pg_failover_choice(nodes, "pg1", "pg3")["problems"][0]
    )
    assert "not in the inventory" in pg_failover_choice(nodes, "pg1", "pg9")["problems"][0]


def test_a_writable_survivor_refuses_the_failover():
    nodes = {"pg1": LOST, "pg2": {"running": True, "in_recovery": False}, "pg3": standby("0/1")}
    result = pg_failover_choice(nodes, "pg1")
    assert not result["ok"] and "pg2 is already writable" in result["problems"][0]


def test_no_candidate():
    nodes = {"pg1": LOST, "pg2": {"running": False, "unreachable": True}}
    result = pg_failover_choice(nodes, "pg1")
    assert not result["ok"] and "pg2: it is unreachable" in result["problems"][0]


def test_the_failed_primary_is_never_a_candidate_even_if_running_as_standby():
    nodes = {"pg1": standby("0/9000000"), "pg2": standby("0/1000000")}
    assert pg_failover_choice(nodes, "pg1")["candidate"] == "pg2"


@pytest.mark.parametrize(
    ("nodes", "failed", "requested"),
    [([], "pg1", None), ({}, "", None), ({}, None, None), ({}, "pg1", 3)],
)
def test_bad_input(nodes, failed, requested):
    with pytest.raises(AnsibleFilterError):
        pg_failover_choice(nodes, failed, requested)


def test_bad_lsn_names_the_host():
    with pytest.raises(AnsibleFilterError, match="pg2 receive_lsn"):
        pg_failover_choice({"pg2": standby("nope")}, "pg1")


def test_data_loss_async_known():
    loss = pg_data_loss("0/3000000", "0/3000100")
    assert loss["bytes"] == 256 and loss["acknowledged_lost"] is None
    assert "up to 256 bytes" in loss["text"]


def test_data_loss_async_nothing_written_after_the_fork():
    loss = pg_data_loss("0/3000100", "0/3000100")
    assert (
        loss["bytes"] == 0 and loss["acknowledged_lost"] == 0 and loss["text"].startswith("0 bytes")
    )


def test_data_loss_async_unknown():
    loss = pg_data_loss("0/3000000")
    assert loss["bytes"] is None and "unknown" in loss["text"] and "rejoin.yml" in loss["text"]


def test_data_loss_sync():
    assert pg_data_loss("0/3000000", None, True)["acknowledged_lost"] == 0
    loss = pg_data_loss("0/3000000", "0/3000040", True)
    assert loss["bytes"] == 64 and "never acknowledged" in loss["text"]


def test_data_loss_bad_lsn():
    with pytest.raises(AnsibleFilterError, match="fork_lsn"):
        pg_data_loss("x")
