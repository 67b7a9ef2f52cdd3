"""library/pg_fence.py: the steps of a fence and of a release, the marker, and the clean
stop a switchover requires."""

import datetime as dt

import pytest
from conftest import load_module


@pytest.fixture(scope="module")
def mod():
    return load_module("pg_fence")


def test_a_fence_stops_masks_and_stops_pgbackrest(mod):
    steps = mod.fence_steps("postgresql@17-main", "main")
    assert [argv for argv, _ in steps] == [
        ["systemctl", "stop", "postgresql@17-main"],
        ["systemctl", "mask", "postgresql@17-main"],
        ["runuser", "-u", "postgres", "--", "pgbackrest", "--stanza=main",
         "--log-level-console=warn", "stop"],
    ]  # fmt: skip
    # none has to succeed by itself: the unit being inactive at the end decides
    assert not any(must for _, must in steps)


def test_a_release_unmasks_starts_pgbackrest_then_postgresql(mod):
    steps = mod.standby_steps("postgresql@17-main", "main")
    assert [argv[-1] for argv, _ in steps] == ["postgresql@17-main", "start", "postgresql@17-main"]
    assert steps[0][0][1] == "unmask" and steps[2][0][1] == "start"
    assert all(must for _, must in steps)


def test_the_marker_says_why_and_when(mod):
    now = dt.datetime(2026, 12, 6, 10, 15, 0, tzinfo=dt.UTC)
    text = mod.marker("fenced by failover.yml: pg2 was promoted", now)
    assert text == "fenced by failover.yml: pg2 was promoted at 2026-12-06T10:15:00Z\n"


@pytest.mark.parametrize(
    ("control", "why"),
    [
        ({"state": "shut down", "checkpoint_lsn": "0/5000028"}, ""),
        ({"state": "in production", "checkpoint_lsn": "0/5000028"}, "'in production'"),
        ({"state": "shut down in recovery", "checkpoint_lsn": "0/5000028"}, "not 'shut down'"),
        ({"state": "shut down", "checkpoint_lsn": None}, "no checkpoint"),
    ],
)
def test_only_a_clean_primary_shutdown_lets_a_switchover_go_on(mod, control, why):
    got = mod.stopped_cleanly(control)
    assert (got == "") if why == "" else (why in got)


@pytest.mark.parametrize(
    ("show", "pid"),
    [
        ("1234\n", 1234),
        ("MainPID=987\n", 987),
        ("0\n", 0),
        ("", 0),
        ("MainPID=\n", 0),
        ("[not set]", 0),
    ],
)
def test_the_main_pid_is_read_from_systemd(mod, show, pid):
    assert mod.main_pid(show) == pid


def _stat(tmp_path, pid, state):
    d = tmp_path / str(pid)
    d.mkdir()
    # The command name may hold spaces and parentheses: the state follows the last ')'.
    (d / "stat").write_text(f"{pid} (postgres: (x) y) {state} 1 {pid} {pid} 0 -1\n")


def test_a_running_process_is_alive_an_exited_or_unreaped_one_is_not(mod, tmp_path):
    _stat(tmp_path, 10, "S")
    _stat(tmp_path, 11, "Z")
    _stat(tmp_path, 12, "R")
    assert mod.process_alive(10, proc=str(tmp_path))
    assert mod.process_alive(12, proc=str(tmp_path))
    assert not mod.process_alive(11, proc=str(tmp_path))  # a zombie has exited
    assert not mod.process_alive(13, proc=str(tmp_path))  # no entry at all


def test_the_wait_ends_when_the_postmaster_is_gone(mod):
    clock = [0.0]
    looks = iter([True, True, True, False])
    sleeps = []

    def sleep(s):
        sleeps.append(s)
        clock[0] += s

    assert mod.wait_gone(
        7, 5, 0.01, alive=lambda pid: next(looks), clock=lambda: clock[0], sleep=sleep
    )
    assert sleeps == [0.01, 0.01, 0.01]


def test_the_wait_gives_up_after_its_timeout_while_the_postmaster_runs(mod):
    clock = [0.0]

    def sleep(s):
        clock[0] += s

    assert not mod.wait_gone(
        7, 1.0, 0.25, alive=lambda pid: True, clock=lambda: clock[0], sleep=sleep
    )
    assert clock[0] == pytest.approx(1.0)


def test_the_switchover_stop_signals_the_main_process_through_systemd(mod):
    # SIGINT is PostgreSQL's fast shutdown; systemd picks the process (its main PID).
    assert mod.stop_argv(3777, "postgresql@17-main") == [
        "systemctl", "kill", "--kill-whom=main", "--signal=SIGINT", "postgresql@17-main",
    ]  # fmt: skip
    # No main process: the unit is not running, and systemctl stop is the old, safe path.
    assert mod.stop_argv(0, "postgresql@17-main") == ["systemctl", "stop", "postgresql@17-main"]
