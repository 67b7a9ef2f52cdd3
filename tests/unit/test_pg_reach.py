"""action_plugins/pg_reach.py: a host's port tried from the controller, with a deadline."""

from pathlib import Path

import pytest
from conftest import load_script

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mod():
    return load_script("pg_reach_action", ROOT / "action_plugins" / "pg_reach.py")


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, s):
        self.now += s


def test_a_port_that_answers_is_reached_at_once(mod):
    clock = Clock()
    closed = []

    class Sock:
        def close(self):
            closed.append(True)

    ok, elapsed, error = mod.reach(
        "10.0.0.1", 22, 1, connect=lambda a, timeout: Sock(), clock=clock, sleep=clock.sleep
    )
    assert (ok, elapsed, error) == (True, 0.0, "")
    assert closed == [True]


def test_a_refused_port_is_tried_again_until_it_answers(mod):
    clock = Clock()
    answers = iter([ConnectionRefusedError(111, "Connection refused")] * 3 + [None])

    def connect(addr, timeout):
        a = next(answers)
        if a:
            raise a
        return object()

    ok, elapsed, _ = mod.reach("h", 22, 1, connect=connect, clock=clock, sleep=clock.sleep)
    assert ok and elapsed == pytest.approx(0.3)


def test_a_lost_host_fails_within_the_timeout_and_says_why(mod):
    clock = Clock()
    tries = []

    def connect(addr, timeout):
        tries.append(timeout)
        clock.now += timeout  # no answer: the try uses what is left
        raise TimeoutError("timed out")

    ok, elapsed, error = mod.reach("h", 22, 1, connect=connect, clock=clock, sleep=clock.sleep)
    assert not ok and error == "timed out"
    assert elapsed == pytest.approx(1.0) and tries == [1]


def test_each_try_gets_only_what_is_left_of_the_timeout(mod):
    clock = Clock()
    tries = []

    def connect(addr, timeout):
        tries.append(round(timeout, 3))
        clock.now += 0.25
        raise OSError(113, "No route to host")

    ok, elapsed, error = mod.reach(
        "h", 22, 1, connect=connect, clock=clock, sleep=clock.sleep, pause=0.1
    )
    assert not ok and "No route to host" in error
    assert tries == [1, 0.65, 0.3] and elapsed <= 1.0


def test_the_arguments_are_checked_and_a_bad_one_is_named(mod):
    assert mod.check_args({"host": "10.0.0.1"}) == ("10.0.0.1", 22, 1.0)
    assert mod.check_args({"host": "h", "port": "2222", "timeout": "0.5"}) == ("h", 2222, 0.5)
    for bad, says in [
        ({}, "needs host"),
        ({"host": "h", "delay": 1}, "needs host"),
        ({"host": "h", "port": 70000}, "port=70000"),
        ({"host": "h", "port": "ssh"}, "port='ssh'"),
        ({"host": "h", "timeout": 0}, "timeout=0"),
    ]:
        with pytest.raises(ValueError, match=says):
            mod.check_args(bad)
