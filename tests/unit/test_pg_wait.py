"""library/pg_wait.py: the query for each condition, reading psql's answer, and the wait
with its deadline and its last-seen message (a fake clock, no server)."""

import pytest
from conftest import load_module

from pgfleet import waiting


@pytest.fixture(scope="module")
def mod():
    return load_module("pg_wait")


def test_sql_condition_is_passed_as_is(mod):
    query, what = mod.condition({"sql": "SELECT true"})
    assert query == "SELECT true" and what == "the condition"


@pytest.mark.parametrize(
    ("params", "op", "position"),
    [
        ({"lsn": "0/5000028"}, ">=", "pg_last_wal_replay_lsn()"),
        ({"lsn": "0/5000028", "past": True}, ">", "pg_last_wal_replay_lsn()"),
        ({"lsn": "0/5000028", "lsn_kind": "flush"}, ">=", "pg_current_wal_flush_lsn() END"),
    ],
)
def test_lsn_conditions(mod, params, op, position):
    query, what = mod.condition(params)
    assert f"{position} {op} '0/5000028'::pg_lsn" in query
    assert "0/5000028" in what


def test_lsn_is_checked_and_normalised(mod):
    query, _ = mod.condition({"lsn": "0/0500abc"})
    assert "'0/500ABC'::pg_lsn" in query
    with pytest.raises(ValueError, match="lsn"):
        mod.condition({"lsn": "0/5000028'; DROP TABLE x; --"})


def test_streaming_with_sender_and_timeline(mod):
    query, what = mod.condition({"streaming": True, "sender": "10.0.0.1", "timeline": 3})
    assert "status = 'streaming'" in query
    assert "sender_host = '10.0.0.1'" in query
    assert "received_tli = 3" in query
    assert what == "streaming from 10.0.0.1 on timeline 3"


def test_a_quote_in_the_sender_is_quoted(mod):
    query, _ = mod.condition({"streaming": True, "sender": "a'b"})
    assert "sender_host = 'a''b'" in query


@pytest.mark.parametrize(
    "params", [{}, {"sql": "SELECT true", "streaming": True}, {"streaming": False}]
)
def test_exactly_one_condition(mod, params):
    with pytest.raises(ValueError, match="exactly one of sql, lsn, streaming"):
        mod.condition(params)


@pytest.mark.parametrize(
    ("rc", "out", "err", "expected"),
    [
        (0, [["t", "replayed 0/5000028"]], "", (True, "replayed 0/5000028")),
        (0, [["f", "receiver streaming from x"]], "", (False, "receiver streaming from x")),
        (0, [["f"]], "", (False, "f")),
        (0, [[""]], "", (False, "null")),
        (0, [], "", (False, "no row")),
        (
            2,
            [],
            'psql: error: connection to server on socket "/run/x" failed: No such file\n',
            (
                False,
                'error: psql: error: connection to server on socket "/run/x" failed: No such file',
            ),
        ),
        (1, [], "", (False, "error: psql exited with 1")),
    ],
)
def test_interpret(mod, rc, out, err, expected):
    assert waiting.interpret(rc, out, err) == expected


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_wait_returns_when_the_condition_holds(mod):
    clock = Clock()
    answers = iter([(False, "a"), (False, "b"), (True, "c")])
    result = mod.wait(lambda: next(answers), 10, 0.5, clock, clock.sleep)
    assert result == {"met": True, "seen": "c", "elapsed": 1.0, "polls": 3}


def test_wait_gives_up_at_the_deadline_with_what_it_saw_last(mod):
    clock = Clock()
    seen = iter(f"receiver {i}" for i in range(100))
    result = mod.wait(lambda: (False, next(seen)), 2, 0.5, clock, clock.sleep)
    assert result["met"] is False
    assert result["elapsed"] <= 2
    assert result["polls"] == 5  # at 0, 0.5, 1, 1.5 and 2 s
    assert result["seen"] == "receiver 4"
    text = mod.message("streaming", result, 2)
    assert text.startswith("no streaming within 2 s")
    assert text.endswith("last seen: receiver 4")


def test_check_mode_polls_once(mod):
    clock = Clock()
    result = mod.wait(lambda: (False, "x"), 60, 1, clock, clock.sleep, once=True)
    assert result["polls"] == 1 and clock.now == 0
