"""library/pg_promote.py: what it waits for before promoting and what it reports after."""

import json

import pytest
from conftest import load_module


@pytest.fixture(scope="module")
def mod():
    return load_module("pg_promote")


def test_a_switchover_waits_for_replay_strictly_past_the_checkpoint(mod):
    query, what = mod.awaited("0/5000028", False)
    assert "pg_last_wal_replay_lsn() > '0/5000028'::pg_lsn" in query
    assert what == "replay past 0/5000028"


def test_a_failover_waits_for_everything_received(mod):
    query, what = mod.awaited(None, True)
    assert "pg_last_wal_receive_lsn()" in query and what == "replay of everything received"


def test_a_record_that_never_completes_does_not_block_the_failover(mod):
    # The receive position can stay past the replay position for good after a crash of the
    # primary; the startup process then waits for WAL with all it can replay replayed.
    query, _ = mod.awaited(None, True)
    assert (
        "OR coalesce(s.wait_event IN ('RecoveryWalStream', 'RecoveryRetrieveRetryInterval')"
        in query
    )
    assert "backend_type = 'startup'" in query


def test_nothing_awaited(mod):
    assert mod.awaited(None, False) is None


def test_both_is_an_error(mod):
    with pytest.raises(ValueError, match="exclude each other"):
        mod.awaited("0/1", True)


def test_a_bad_checkpoint_is_refused_before_anything(mod):
    with pytest.raises(ValueError, match="lsn"):
        mod.awaited("'; SELECT pg_promote(); --", False)


def test_the_result_after_the_promotion(mod):
    answer = json.dumps({"timeline": 3, "history": "1\t0/3000000\tno recovery target\n"})
    out = mod.promoted(answer, 1700000000.5, "0/5000110")
    assert out == {
        "t1": 1700000000.5,
        "replayed": "0/5000110",
        "timeline": 3,
        "history": "1\t0/3000000\tno recovery target\n",
    }


def test_the_history_file_name_is_upper_case_hex(mod):
    assert "upper(lpad(to_hex(tl), 8, '0'))" in mod.AFTER


def test_the_promotion_script_reads_the_position_asks_and_waits_in_the_server(mod):
    assert mod.promotion([["0/6000028", "t"], ["t"]]) == ("0/6000028", "")
    # The request is sent without waiting; the wait is the server's own loop, 10 ms steps.
    script = mod.promote_script(60)
    assert "pg_promote(false)" in script and "pg_sleep(0.01)" in script and "1..6000 LOOP" in script
    assert script.index("pg_last_wal_replay_lsn()") < script.index("pg_promote(false)")


def test_the_server_side_wait_follows_the_wait_option(mod):
    assert "1..150 LOOP" in mod.promote_script(1.5)
    # 0 asks only: nothing waits, and the outcome is left to the caller.
    assert mod.promote_script(0) == mod.ASK
    assert mod.promotion([["0/6000028", "t"]], 0) == (
        "0/6000028",
        "the promotion was asked for and not awaited (wait 0)",
    )
    assert "still in recovery 1.5 s after" in mod.promotion([["0/6000028", "t"], ["f"]], 1.5)[1]


@pytest.mark.parametrize("wait", [-1, 3601])
def test_a_wait_out_of_range_is_refused(mod, wait):
    with pytest.raises(mod.InputError, match="wait must be from 0 to 3600 seconds"):
        mod.promote_script(wait)


@pytest.mark.parametrize(
    ("rows", "why"),
    [
        ([["0/6000028", "f"], ["f"]], "could not signal"),
        ([["0/6000028", "t"], ["f"]], "still in recovery"),
        ([["0/6000028", "t"]], "unexpected answer"),
        ([], "unexpected answer"),
    ],
)
def test_a_promotion_that_did_not_happen_says_why(mod, rows, why):
    assert why in mod.promotion(rows)[1]
