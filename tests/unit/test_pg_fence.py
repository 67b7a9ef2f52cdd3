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
