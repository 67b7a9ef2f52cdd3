"""pg_failover: the candidate of a failover, the data-loss bound, where a timeline ended
and the newest timeline in the repository."""

import pytest
from ansible.errors import AnsibleFilterError

from pg_failover import (
    FilterModule,
    pg_data_loss,
    pg_failover_choice,
)


def standby(receive, replay=None, tl=1):
    return {
        "running": True,
        "in_recovery": True,
        "timeline": tl,
        "receive_lsn": receive,
        "replay_lsn": replay or receive,
    }


LOST = {"running": False, "unreachable": True}
DOWN = {"running": False}
PRIMARY = {
    "running": True,
    "in_recovery": False,
    "timeline": 1,
    "receive_lsn": None,
    "replay_lsn": None,
}


def test_filters_exported():
    assert sorted(FilterModule().filters()) == [
        "pg_data_loss",
        "pg_failover_choice",
    ]


# pg_failover_choice: the ranking


def test_most_wal_received_wins_over_replayed():
    nodes = {"pg1": LOST, "pg2": standby("0/3000100"), "pg3": standby("0/3000200", "0/3000000")}
    result = pg_failover_choice(nodes, "pg1")
    assert result["ok"] and result["candidate"] == "pg3" and result["problems"] == []
    assert result["ranking"] == [
        {
            "host": "pg3",
            "timeline": 1,
            "received": "0/3000200",
            "replayed": "0/3000000",
            "behind_bytes": 0,
        },
        {
            "host": "pg2",
            "timeline": 1,
            "received": "0/3000100",
            "replayed": "0/3000100",
            "behind_bytes": 256,
        },
    ]
    assert result["summary"] == (
        "pg3: timeline 1, received 0/3000200, replayed 0/3000000 (most advanced, chosen); "
        "pg2: timeline 1, received 0/3000100, replayed 0/3000100 (256 bytes behind pg3)"
    )


def test_higher_timeline_first_then_name_for_ties():
    nodes = {
        "pg2": standby("0/5000000"),
        "pg4": standby("0/4000000", tl=2),
        "pg3": standby("0/4000000", tl=2),
    }
    result = pg_failover_choice(nodes, "pg1")
    assert result["candidate"] == "pg3"
    assert [r["host"] for r in result["ranking"]] == ["pg3", "pg4", "pg2"]
    # on an older timeline, it has written past the newer one's position
    assert result["ranking"][2]["behind_bytes"] == -0x1000000
    assert (
        "pg2: timeline 1, received 0/5000000, replayed 0/5000000 (on an older timeline"
        in (result["summary"])
    )


def test_replayed_breaks_a_tie_in_received():
    nodes = {"pg2": standby("0/3000200", "0/3000000"), "pg3": standby("0/3000200", "0/3000100")}
    result = pg_failover_choice(nodes, "pg1")
    assert result["candidate"] == "pg3"
    assert [r["behind_bytes"] for r in result["ranking"]] == [0, 0]
    assert (
        "pg2: timeline 1, received 0/3000200, replayed 0/3000000 (0 bytes behind pg3)"
        in (result["summary"])
    )


def test_the_order_of_the_nodes_does_not_matter():
    a = {"pg3": standby("0/10"), "pg2": standby("0/10")}
    b = {"pg2": standby("0/10"), "pg3": standby("0/10")}
    assert pg_failover_choice(a, "pg1") == pg_failover_choice(b, "pg1")
    assert pg_failover_choice(a, "pg1")["candidate"] == "pg2"


def test_across_the_32_bit_boundary():
    # compared as strings '0/FFFFFF00' > '1/10'; as positions it is 0x110 bytes behind
    nodes = {"pg2": standby("0/FFFFFF00"), "pg3": standby("1/10")}
    result = pg_failover_choice(nodes, "pg1")
    assert result["candidate"] == "pg3"
    assert result["ranking"][1]["behind_bytes"] == 0x110


def test_replay_ahead_of_receive_counts_as_received():
    # restored from the archive: replayed WAL it never received by streaming
    nodes = {"pg2": standby("0/3000000", "0/5000000"), "pg3": standby("0/4000000")}
    result = pg_failover_choice(nodes, "pg1")
    assert result["candidate"] == "pg2"
    assert result["ranking"][0]["received"] == "0/5000000"
    assert result["ranking"][1]["behind_bytes"] == 0x1000000


def test_no_receive_lsn_uses_the_replay_lsn():
    nodes = {"pg2": standby(None, "0/3000000"), "pg3": standby("0/2000000")}
    nodes["pg2"]["receive_lsn"] = None
    result = pg_failover_choice(nodes, "pg1")
    assert result["candidate"] == "pg2"
    assert result["ranking"][0]["received"] == "0/3000000"
    assert result["ranking"][0]["replayed"] == "0/3000000"


def test_no_replay_lsn():
    node = standby("0/3000000")
    node["replay_lsn"] = ""
    result = pg_failover_choice({"pg2": node, "pg3": standby("0/3000000")}, "pg1")
    # equal received: the one that also replayed it comes first
    assert [r["host"] for r in result["ranking"]] == ["pg3", "pg2"]
    assert result["ranking"][1]["replayed"] is None
    assert "pg2: timeline 1, received 0/3000000, replayed None" in result["summary"]


def test_unknown_timeline_ranks_last():
    nodes = {"pg2": standby("0/9000000", tl=None), "pg3": standby("0/1000000")}
    result = pg_failover_choice(nodes, "pg1")
    assert result["candidate"] == "pg3"
    assert result["ranking"][1]["timeline"] is None


def test_timeline_as_a_string():
    nodes = {"pg2": standby("0/9000000", tl="1"), "pg3": standby("0/1000000", tl="2")}
    result = pg_failover_choice(nodes, "pg1")
    assert result["candidate"] == "pg3" and result["ranking"][0]["timeline"] == 2


def test_the_failed_primary_is_never_a_candidate_even_if_running_as_standby():
    nodes = {"pg1": standby("0/9000000"), "pg2": standby("0/1000000")}
    result = pg_failover_choice(nodes, "pg1")
    assert result["candidate"] == "pg2" and [r["host"] for r in result["ranking"]] == ["pg2"]


def test_the_failed_primary_still_writable_is_not_a_second_primary():
    # failover.yml refuses that case itself (a switchover); the choice ignores it
    result = pg_failover_choice({"pg1": PRIMARY, "pg2": standby("0/1")}, "pg1")
    assert result["ok"] and result["candidate"] == "pg2"


def test_the_failed_primary_need_not_be_probed():
    assert pg_failover_choice({"pg2": standby("0/1")}, "pg1")["candidate"] == "pg2"


def test_down_unreachable_and_positionless_nodes_are_no_candidates():
    nodes = {
        "pg1": LOST,
        "pg2": DOWN,
        "pg3": LOST,
        "pg4": standby(None),
        "pg5": standby("0/1"),
    }
    result = pg_failover_choice(nodes, "pg1")
    assert result["ok"] and result["candidate"] == "pg5"
    assert [r["host"] for r in result["ranking"]] == ["pg5"]


def test_an_unreachable_node_is_not_trusted_even_if_its_probe_says_running():
    nodes = {"pg2": {**standby("0/9000000"), "unreachable": True}, "pg3": standby("0/1")}
    assert pg_failover_choice(nodes, "pg1")["candidate"] == "pg3"


# pg_failover_choice: failover_to and failover_force


def test_requested_behind_is_refused_unless_forced():
    nodes = {"pg1": LOST, "pg2": standby("0/3000200"), "pg3": standby("0/3000100")}
    refused = pg_failover_choice(nodes, "pg1", "pg3")
    assert not refused["ok"] and refused["candidate"] is None
    assert refused["problems"] == [
        "failover_to=pg3 is 256 bytes behind pg2 (received 0/3000100 vs 0/3000200): promoting "
        "it would lose those bytes and pg2 could not follow it; choose pg2 or add "
        "failover_force=true"
    ]
    assert "chosen" not in refused["summary"]
    forced = pg_failover_choice(nodes, "pg1", "pg3", True)
    assert forced["ok"] and forced["candidate"] == "pg3" and forced["problems"] == []
    assert (
        "pg3: timeline 1, received 0/3000100, replayed 0/3000100 (256 bytes behind pg2, "
        in (forced["summary"])
    )
    assert "chosen with failover_force" in forced["summary"]
    assert "(most advanced)" in forced["summary"]


def test_requested_on_an_older_timeline_is_refused_unless_forced():
    # more bytes, but on the old timeline: it forked from the newer history
    nodes = {"pg2": standby("0/3000000", tl=2), "pg3": standby("0/5000000", tl=1)}
    refused = pg_failover_choice(nodes, "pg1", "pg3")
    assert not refused["ok"] and refused["candidate"] is None
    assert (
        "failover_to=pg3 is on timeline 1, older than pg2's timeline 2" in (refused["problems"][0])
    )
    assert "choose pg2 or add failover_force=true" in refused["problems"][0]
    forced = pg_failover_choice(nodes, "pg1", "pg3", True)
    assert forced["candidate"] == "pg3" and "chosen with failover_force" in forced["summary"]


def test_requested_equal_to_the_best_is_taken():
    nodes = {"pg2": standby("0/3000200"), "pg3": standby("0/3000200")}
    result = pg_failover_choice(nodes, "pg1", "pg3")
    assert result["ok"] and result["candidate"] == "pg3"
    assert (
        "pg3: timeline 1, received 0/3000200, replayed 0/3000200 (0 bytes behind pg2, chosen)"
        in (result["summary"])
    )
    assert "failover_force" not in pg_failover_choice(nodes, "pg1", "pg3", True)["summary"]


def test_requested_equal_in_received_but_less_replayed_is_taken():
    # it replays what it received before it is promoted
    nodes = {"pg2": standby("0/3000200"), "pg3": standby("0/3000200", "0/3000000")}
    assert pg_failover_choice(nodes, "pg1", "pg3")["candidate"] == "pg3"


def test_requested_best_is_taken():
    nodes = {"pg2": standby("0/3000200"), "pg3": standby("0/3000100")}
    result = pg_failover_choice(nodes, "pg1", "pg2")
    assert result["ok"] and result["candidate"] == "pg2"


@pytest.mark.parametrize("requested", [None, ""])
def test_no_request(requested):
    nodes = {"pg2": standby("0/3000200"), "pg3": standby("0/3000100")}
    assert pg_failover_choice(nodes, "pg1", requested)["candidate"] == "pg2"


@pytest.mark.parametrize(
    ("requested", "reason"),
    [
        ("pg3", "failover_to=pg3 cannot be promoted: it is down"),
        ("pg4", "failover_to=pg4 cannot be promoted: it is unreachable"),
        ("pg5", "failover_to=pg5 cannot be promoted: it is not a standby (it accepts writes)"),
        ("pg6", "failover_to=pg6 cannot be promoted: it reports no WAL position"),
        ("pg1", "failover_to=pg1 cannot be promoted: it is the failed primary"),
        (
            "pg9",
            "failover_to=pg9 cannot be promoted: it is not in the inventory's postgresql group",
        ),
    ],
)
def test_requested_that_cannot_be_promoted(requested, reason):
    nodes = {
        "pg1": LOST,
        "pg2": standby("0/3000200"),
        "pg3": DOWN,
        "pg4": LOST,
        "pg5": PRIMARY,
        "pg6": standby(None),
    }
    result = pg_failover_choice(nodes, "pg1", requested, True)
    assert not result["ok"] and result["candidate"] is None
    assert any(p.startswith(reason) for p in result["problems"]), result["problems"]


def test_a_writable_survivor_refuses_the_failover():
    nodes = {"pg1": LOST, "pg2": PRIMARY, "pg3": standby("0/1")}
    result = pg_failover_choice(nodes, "pg1")
    assert not result["ok"] and result["candidate"] is None
    assert result["problems"] == [
        "pg2 is already writable (running and not in recovery): a second primary is never "
        "made, so nothing was promoted"
    ]
    # the standby is still ranked, for the report
    assert [r["host"] for r in result["ranking"]] == ["pg3"]


def test_two_writable_survivors_are_both_named():
    nodes = {"pg2": PRIMARY, "pg3": PRIMARY}
    problems = pg_failover_choice(nodes, "pg1")["problems"]
    assert [p.split()[0] for p in problems[:2]] == ["pg2", "pg3"]
    assert problems[2].startswith("no running standby can be promoted")


def test_no_candidate():
    nodes = {"pg1": LOST, "pg2": LOST, "pg3": DOWN, "pg4": standby(None)}
    result = pg_failover_choice(nodes, "pg1")
    assert not result["ok"] and result["candidate"] is None and result["ranking"] == []
    assert result["problems"] == [
        "no running standby can be promoted: pg2: it is unreachable; pg3: it is down; "
        "pg4: it reports no WAL position (neither received nor replayed)"
    ]
    assert result["summary"] == "no candidate"


def test_no_survivor_probed():
    result = pg_failover_choice({"pg1": LOST}, "pg1")
    assert result["problems"] == ["no running standby can be promoted: no host but pg1 was probed"]
    assert pg_failover_choice({}, "pg1")["candidate"] is None


def test_no_candidate_and_a_request():
    result = pg_failover_choice({"pg2": DOWN}, "pg1", "pg2")
    assert len(result["problems"]) == 2
    assert result["problems"][1] == "failover_to=pg2 cannot be promoted: it is down"


def test_the_input_is_not_changed():
    nodes = {"pg2": standby("0/3000200"), "pg3": standby("0/3000100")}
    before = {h: dict(n) for h, n in nodes.items()}
    pg_failover_choice(nodes, "pg1", "pg3", True)
    assert nodes == before


@pytest.mark.parametrize(
    ("nodes", "failed", "requested", "force", "match"),
    [
        ([], "pg1", None, False, "not a mapping; expected host -> probe result"),
        (None, "pg1", None, False, "not a mapping"),
        ({}, "", None, False, "failover_from: '' is not a host name"),
        ({}, None, None, False, "failover_from: None"),
        ({}, ["pg1"], None, False, "failover_from"),
        ({}, "pg1", 3, False, "failover_to: 3 is not a host name"),
        ({}, "pg1", ["pg2"], False, "failover_to"),
        ({}, "pg1", None, "false", "failover_force: 'false' is not a boolean"),
        ({}, "pg1", None, None, "failover_force"),
        ({"pg2": "running"}, "pg1", None, False, "pg2: the probe result 'running'"),
    ],
)
def test_bad_input(nodes, failed, requested, force, match):
    with pytest.raises(AnsibleFilterError, match=match):
        pg_failover_choice(nodes, failed, requested, force)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("receive_lsn", "nope", "pg2.receive_lsn: 'nope' is not an LSN"),
        ("replay_lsn", "0/", "pg2.replay_lsn"),
        ("receive_lsn", 3000, "pg2.receive_lsn"),
        ("timeline", "two", "pg2.timeline: 'two' is not a timeline"),
        ("timeline", 0, "pg2.timeline"),
        ("timeline", True, "pg2.timeline"),
    ],
)
def test_bad_probe_names_the_host(field, value, match):
    with pytest.raises(AnsibleFilterError, match=match):
        pg_failover_choice({"pg2": {**standby("0/1"), field: value}}, "pg1")


def test_bad_lsn_of_a_node_that_is_no_candidate_is_not_read():
    nodes = {"pg2": {**DOWN, "receive_lsn": "garbage"}, "pg3": standby("0/1")}
    assert pg_failover_choice(nodes, "pg1")["candidate"] == "pg3"


# pg_data_loss


def test_data_loss_async_known():
    loss = pg_data_loss("0/3000000", "0/3000100")
    assert loss == {
        "bytes": 256,
        "acknowledged_lost": None,
        "text": "up to 256 bytes of WAL written on the old primary after 0/3000000 were not "
        "replicated (asynchronous replication)",
    }


def test_data_loss_async_across_the_32_bit_boundary():
    assert pg_data_loss("0/FFFFFFFF", "1/1")["bytes"] == 2


@pytest.mark.parametrize("end", ["0/3000100", "0/3000000"])
def test_data_loss_async_nothing_written_after_the_fork(end):
    # an end before the fork (the old primary had not even written that far) is 0 too
    loss = pg_data_loss("0/3000100", end)
    assert loss == {
        "bytes": 0,
        "acknowledged_lost": 0,
        "text": "0 bytes: the new primary had everything the old primary wrote",
    }


@pytest.mark.parametrize("end", [None, ""])
def test_data_loss_async_unknown(end):
    loss = pg_data_loss("0/3000000", end)
    assert loss["bytes"] is None and loss["acknowledged_lost"] is None
    assert loss["text"].startswith("unknown until the old primary's WAL past 0/3000000 can be read")
    assert "rejoin.yml records the exact range" in loss["text"]


def test_data_loss_sync_unknown_end():
    loss = pg_data_loss("0/3000000", None, True)
    assert loss["bytes"] is None and loss["acknowledged_lost"] == 0
    assert loss["text"] == (
        "no acknowledged commit is lost (synchronous replication: every acknowledged commit "
        "reached a standby before the client was answered)"
    )


def test_data_loss_sync_known_end():
    loss = pg_data_loss("0/3000000", "0/3000040", True)
    assert loss["bytes"] == 64 and loss["acknowledged_lost"] == 0
    assert loss["text"].startswith("no acknowledged commit is lost")
    assert (
        "; 64 bytes of WAL the old primary wrote after 0/3000000 were never acknowledged"
        in (loss["text"])
    )


def test_data_loss_sync_nothing_written_after_the_fork():
    loss = pg_data_loss("0/3000040", "0/3000040", True)
    assert loss["bytes"] == 0 and loss["acknowledged_lost"] == 0
    assert "bytes of WAL" not in loss["text"]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("x",), "fork_lsn: 'x' is not an LSN"),
        ((None,), "fork_lsn"),
        (("0/1", "1/2/3"), "old_end_lsn: '1/2/3' is not an LSN"),
        (("0/1", None, "yes"), "synchronous: 'yes' is not a boolean"),
    ],
)
def test_data_loss_bad_input(args, match):
    with pytest.raises(AnsibleFilterError, match=match):
        pg_data_loss(*args)
