"""library/pg_service.py: which engine restarts PostgreSQL, and the wait after it (up,
down for good as soon as the unit stops, or a deadline with what was last seen)."""

import pytest
from conftest import load_module


@pytest.fixture(scope="module")
def mod():
    return load_module("pg_service")


PARAMS = {
    "service": "postgresql@17-learning",
    "patroni_service": "patroni",
    "patroni_config": "/etc/patroni/patroni.yml",
    "scope": "main",
    "member": "pg1",
}


def test_patroni_restarts_when_its_unit_is_active(mod):
    engine, unit, argv = mod.restart_argv(lambda u: u == "patroni", PARAMS)
    assert (engine, unit) == ("patroni", "patroni")
    assert argv == [
        "runuser", "-u", "postgres", "--", "patronictl", "-c", "/etc/patroni/patroni.yml",
        "restart", "--force", "main", "pg1",
    ]  # fmt: skip


@pytest.mark.parametrize("patroni_service", ["patroni", ""])
def test_systemd_restarts_the_debian_unit_otherwise(mod, patroni_service):
    asked = []

    def active(unit):
        asked.append(unit)
        return False

    params = dict(PARAMS, patroni_service=patroni_service)
    assert mod.restart_argv(active, params) == (
        "systemd",
        "postgresql@17-learning",
        ["systemctl", "restart", "postgresql@17-learning"],
    )
    assert asked == ([patroni_service] if patroni_service else [])


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def _answers(*seq):
    it = iter(seq)
    return lambda: next(it)


def test_up_once_pg_isready_accepts(mod):
    clock = Clock()
    ready = _answers(
        (False, "/run/postgresql:5433 - rejecting connections"),
        (False, "/run/postgresql:5433 - no response"),
        (True, "/run/postgresql:5433 - accepting connections"),
    )
    result = mod.wait_up(ready, lambda: True, "u", 300, 1, clock, clock.sleep)
    assert result == {
        "up": True,
        "seen": "/run/postgresql:5433 - accepting connections",
        "elapsed": 2.0,
    }
    assert mod.restart_message(result, "u", 300) == "PostgreSQL accepts connections again after 2 s"


def test_down_as_soon_as_the_unit_stops(mod):
    clock = Clock()
    active = _answers(True, False)
    result = mod.wait_up(
        lambda: (False, "s:5433 - no response"),
        active,
        "postgresql@17-learning",
        300,
        1,
        clock,
        clock.sleep,
    )
    assert result["up"] is False and result["stopped"] is True and result["elapsed"] == 1.0
    assert mod.restart_message(result, "postgresql@17-learning", 300) == (
        "PostgreSQL did not come back: the unit postgresql@17-learning stopped; last seen: "
        "s:5433 - no response; unit postgresql@17-learning is no longer active"
    )


def test_deadline_says_what_was_last_seen(mod):
    clock = Clock()
    result = mod.wait_up(
        lambda: (False, "s:5433 - rejecting connections"),
        lambda: True,
        "u",
        5,
        1,
        clock,
        clock.sleep,
    )
    assert result == {
        "up": False,
        "seen": "s:5433 - rejecting connections",
        "elapsed": 5.0,
        "stopped": False,
    }
    assert mod.restart_message(result, "u", 5) == (
        "PostgreSQL did not accept connections within 5 s; "
        "last seen: s:5433 - rejecting connections"
    )


def test_at_least_one_poll_even_with_no_time(mod):
    clock = Clock()
    result = mod.wait_up(lambda: (True, "accepting"), lambda: False, "u", 0, 1, clock, clock.sleep)
    assert result["up"] is True


class FakeOps:
    """The takeover's steps, recorded; each answer as given."""

    def __init__(
        self, clock=None, debian=(True, False), roles=True, restart=(0, ""), writable=True
    ):
        self.calls, self.clock = [], clock
        self.debian, self.roles, self.restart, self.ok = list(debian), roles, restart, writable

    def start(self, unit):
        self.calls.append(f"start {unit}")
        return True

    def stop_debian(self):
        self.calls.append("stop debian")
        return True

    def remove_dropin(self):
        self.calls.append("remove dropin")

    def wait_role(self, role, seconds):
        self.calls.append(f"wait {role} {seconds:g}")
        return self.roles

    def debian_active(self):
        self.calls.append("debian?")
        return self.debian.pop(0)

    def patroni_restart(self):
        self.calls.append("patronictl restart")
        return self.restart

    def writable(self, seconds):
        self.calls.append(f"writable {seconds:g}")
        if self.clock:
            self.clock.sleep(1.37)
        return (True, "a primary") if self.ok else (False, "in recovery")


def test_takeover_primary_leader_key_first_then_one_timed_restart(mod):
    clock = Clock()
    ops = FakeOps(clock)
    result = mod.takeover_primary(ops, clock)
    assert ops.calls == [
        "start patroni",
        "wait primary 120",
        "debian?",
        "patronictl restart",
        "writable 60",
        "debian?",
    ]
    assert result == {"write_unavailable_s": 1.37, "msg": "write-unavailable 1.3 s"}


def test_takeover_primary_when_postgresql_was_not_running(mod):
    ops = FakeOps(debian=[False])
    assert mod.takeover_primary(ops)["msg"] == (
        "write-unavailable 0.0 s (PostgreSQL was not running)"
    )
    assert "patronictl restart" not in ops.calls


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        (FakeOps(roles=False), "Patroni did not become the leader"),
        (FakeOps(restart=(1, "no such member")), "patronictl restart failed: no such member"),
        (FakeOps(debian=[True, True]), "the Debian unit still runs PostgreSQL"),
    ],
)
def test_takeover_primary_stops_with_the_step_that_failed(mod, ops, message):
    with pytest.raises(mod.TakeoverError, match=message):
        mod.takeover_primary(ops)


def test_takeover_primary_says_when_writes_never_came_back(mod):
    result = mod.takeover_primary(FakeOps(writable=False), Clock())
    assert result["msg"] == (
        "write-unavailable 0.0 s (no write accepted within 60 s; last seen: in recovery)"
    )


def test_takeover_replica_in_order(mod):
    ops = FakeOps()
    assert mod.takeover_replica(ops) == {"msg": "Patroni runs this replica"}
    assert ops.calls == ["stop debian", "remove dropin", "start patroni", "wait replica 300"]
    with pytest.raises(mod.TakeoverError, match="not report this member as a streaming replica"):
        mod.takeover_replica(FakeOps(roles=False))


class FakeSession:
    def __init__(self, *answers):
        self.answers = list(answers)

    def value(self, _sql):
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_wait_writable_through_errors_and_recovery(mod):
    clock = Clock()
    error = mod.SessionError("psql: error: connection refused\nthe server is starting up")
    session = FakeSession(error, "t", "f")
    assert mod.wait_writable(session, 60, 0.1, clock, clock.sleep) == (True, "a primary")
    clock = Clock()
    session = FakeSession(*([error] * 5))
    assert mod.wait_writable(session, 0.3, 0.1, clock, clock.sleep) == (
        False,
        "the server is starting up",
    )


def test_last_line_of_a_failed_command(mod):
    said = 'Job failed.\nSee "systemctl status x" and "journalctl -xeu x" for details.\n'
    assert mod.last_line(said, 1) == 'See "systemctl status x" and "journalctl -xeu x" for details'
    assert mod.last_line("", 5) == "exit 5"
