#!/usr/bin/python3
"""Ansible module: reload or restart the local PostgreSQL, under its Debian unit or Patroni."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_service
short_description: Reload, restart or hand over the local PostgreSQL under either engine
description:
  - O(action=reload) reloads the configuration, with C(systemctl reload) when the Debian
    unit O(service) is active, else (under Patroni, whose postmaster the unit did not
    start) with C(SELECT pg_reload_conf()) through the project's session (postgres user,
    local socket, safe search_path).
  - O(action=restart) restarts it, through C(patronictl restart --force) when the unit
    O(patroni_service) is active (a leader stays the leader), else with C(systemctl
    restart) of O(service). Then it waits until the server accepts connections
    (C(pg_isready) on O(socket_dir)) and gives up as soon as the unit is no longer active
    (the postmaster could not start with a value) or after O(timeout) seconds.
  - >-
    Does not fail when the restart does not come back: RV(up) is false and RV(msg) says
    what was last seen, so the task after it can put the previous settings back.
  - O(action=takeover) hands a member that runs under the Debian unit over to Patroni.
    With O(primary=true) Patroni starts (it takes the leader key without a restart), the
    module waits up to 120 s for the REST API to answer C(GET /primary) with 200, then,
    when the Debian unit still runs PostgreSQL, has Patroni restart it once and measures
    the seconds writes are refused (RV(write_unavailable_s)), until C(pg_is_in_recovery())
    answers false (at most 60 s); the Debian unit must then be inactive. With
    O(primary=false) the Debian unit stops, O(dropin) is removed (Patroni writes the
    recovery settings itself), Patroni starts and the module waits up to 300 s for
    C(GET /replica) to answer 200 (a streaming replica). Fails with what it last saw.
  - Not in check mode (it always acts).
options:
  action:
    description: What to do.
    type: str
    choices: [reload, restart, takeover]
    required: true
  primary:
    description: For O(action=takeover), whether this member is the primary.
    type: bool
    default: false
  dropin:
    description: For O(action=takeover) of a replica, the recovery settings drop-in to remove.
    type: str
    default: ""
  service:
    description: The Debian unit of the cluster (postgresql@17-main).
    type: str
    required: true
  patroni_service:
    description: Patroni's unit; empty when Patroni is not used.
    type: str
    default: ""
  patroni_config:
    description: Patroni's configuration file, for patronictl.
    type: str
    default: /etc/patroni/patroni.yml
  scope:
    description: The Patroni cluster (scope) name.
    type: str
    default: ""
  member:
    description: This node's Patroni member name.
    type: str
    default: ""
  port:
    description: PostgreSQL's port.
    type: int
    default: 5432
  socket_dir:
    description: The directory of PostgreSQL's Unix socket.
    type: str
    default: /var/run/postgresql
  timeout:
    description: Seconds to wait for the restarted server to accept connections.
    type: float
    default: 300
  interval:
    description: Seconds between two checks.
    type: float
    default: 1
author: pgfleet
"""

EXAMPLES = r"""
- name: Reload PostgreSQL
  pg_service:
    action: reload
    service: postgresql@17-main
    port: 5432

- name: Restart PostgreSQL
  pg_service:
    action: restart
    service: postgresql@17-main
    patroni_service: patroni
    patroni_config: /etc/patroni/patroni.yml
    scope: main
    member: "{{ inventory_hostname }}"
  register: restarted
"""

RETURN = r"""
engine:
  description: How it acted - systemd (the Debian unit), sql (pg_reload_conf) or patroni.
  returned: always
  type: str
up:
  description: For a restart, whether the server accepts connections again; true for a reload.
  returned: always
  type: bool
seen:
  description: What was last seen (pg_isready's answer, the unit's state, the command's error).
  returned: always
  type: str
elapsed:
  description: Seconds waited after the restart command (0 for a reload).
  returned: always
  type: float
msg:
  description: What happened, in one sentence.
  returned: always
  type: str
write_unavailable_s:
  description: For the takeover of a primary, the seconds writes were refused (0.0 when
    PostgreSQL was not running under the Debian unit).
  returned: when action is takeover and primary is true
  type: float
"""

import os
import time
from collections.abc import Callable
from contextlib import suppress

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pgfleet.patroni_rest import Client
from ansible.module_utils.pgfleet.session import Session, SessionError

RELOAD_SQL = "SELECT pg_reload_conf()"


def restart_argv(unit_active: Callable[[str], bool], params: dict) -> tuple[str, str, list[str]]:
    """(engine, unit to watch, argv of the restart): Patroni restarts its postmaster when
    its unit is active, else systemd restarts the Debian unit."""
    patroni = params.get("patroni_service") or ""
    if patroni and unit_active(patroni):
        argv = ["runuser", "-u", "postgres", "--", "patronictl", "-c", params["patroni_config"]]
        return "patroni", patroni, [*argv, "restart", "--force", params["scope"], params["member"]]
    return "systemd", params["service"], ["systemctl", "restart", params["service"]]


def wait_up(
    ready: Callable[[], tuple[bool, str]],
    active: Callable[[], bool],
    unit: str,
    timeout: float,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Poll until the server accepts connections (up), the unit is no longer active (down
    for good) or timeout seconds have passed; at least one poll."""
    start = clock()
    while True:
        ok, seen = ready()
        elapsed = round(clock() - start, 2)
        if ok:
            return {"up": True, "seen": seen, "elapsed": elapsed}
        if not active():
            seen = f"{seen}; unit {unit} is no longer active"
            return {"up": False, "seen": seen, "elapsed": elapsed, "stopped": True}
        if elapsed + interval > timeout:
            return {"up": False, "seen": seen, "elapsed": elapsed, "stopped": False}
        sleep(interval)


def last_line(text: str, rc: int) -> str:
    """The last line a command printed, without its final period; its exit code if none."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1].rstrip(".") if lines else f"exit {rc}"


def restart_message(result: dict, unit: str, timeout: float) -> str:
    if result["up"]:
        return f"PostgreSQL accepts connections again after {result['elapsed']:g} s"
    if result.get("stopped"):
        return f"PostgreSQL did not come back: the unit {unit} stopped; last seen: {result['seen']}"
    return (
        f"PostgreSQL did not accept connections within {timeout:g} s; last seen: {result['seen']}"
    )


class TakeoverError(Exception):
    """The takeover stopped: the message says at which step and what was seen."""


def takeover_primary(ops, clock: Callable[[], float] = time.monotonic) -> dict:
    """Patroni takes over the primary: start it, wait for the leader key, then one restart
    under Patroni, timed from the restart request to the first answer as a primary.

    ops: start(unit), wait_role(role, seconds) -> bool, debian_active() -> bool,
    patroni_restart() -> (rc, said), writable(seconds) -> (bool, seen)."""
    if not ops.start("patroni"):
        raise TakeoverError("Patroni did not start")
    if not ops.wait_role("primary", 120):
        raise TakeoverError("Patroni did not become the leader")
    if not ops.debian_active():
        return {
            "write_unavailable_s": 0.0,
            "msg": "write-unavailable 0.0 s (PostgreSQL was not running)",
        }
    t0 = clock()
    rc, said = ops.patroni_restart()
    if rc != 0:
        raise TakeoverError(f"patronictl restart failed: {said}")
    writable, seen = ops.writable(60)
    gap = clock() - t0
    if ops.debian_active():
        raise TakeoverError("the Debian unit still runs PostgreSQL")
    msg = f"write-unavailable {int(gap * 10) / 10:.1f} s"
    if not writable:
        msg += f" (no write accepted within 60 s; last seen: {seen})"
    return {"write_unavailable_s": round(gap, 2), "msg": msg}


def takeover_replica(ops) -> dict:
    """Patroni takes over a replica: stop the Debian unit, remove the recovery drop-in,
    start Patroni, wait for it to report a streaming replica.

    ops: stop_debian() -> bool, remove_dropin(), start(unit), wait_role(role, seconds)."""
    if not ops.stop_debian():
        raise TakeoverError("the Debian unit did not stop")
    ops.remove_dropin()
    if not ops.start("patroni"):
        raise TakeoverError("Patroni did not start")
    if not ops.wait_role("replica", 300):
        raise TakeoverError("Patroni did not report this member as a streaming replica")
    return {"msg": "Patroni runs this replica"}


def wait_writable(
    session, seconds: float, interval: float = 0.1, clock=time.monotonic, sleep=time.sleep
):
    """(the server answers pg_is_in_recovery() = false within seconds, what it last said)."""
    deadline = clock() + seconds
    seen = "no answer"
    while True:
        try:
            answer = session.value("SELECT pg_is_in_recovery()")
            if answer == "f":
                return True, "a primary"
            seen = "in recovery" if answer == "t" else repr(answer)
        except SessionError as exc:
            seen = str(exc).strip().splitlines()[-1] if str(exc).strip() else "psql failed"
        if clock() > deadline:
            return False, seen
        sleep(interval)


class HostOps:
    """The takeover's steps on this host (systemctl, patronictl, the REST API, psql)."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module, self.p = module, module.params

    def _ok(self, argv: list[str]) -> bool:
        return self.module.run_command(argv)[0] == 0

    def start(self, _unit: str) -> bool:
        return self._ok(["systemctl", "start", self.p["patroni_service"]])

    def stop_debian(self) -> bool:
        return self._ok(["systemctl", "stop", self.p["service"]])

    def debian_active(self) -> bool:
        return self._ok(["systemctl", "is-active", "--quiet", self.p["service"]])

    def remove_dropin(self) -> None:
        if self.p["dropin"]:
            with suppress(FileNotFoundError):
                os.unlink(self.p["dropin"])

    def wait_role(self, role: str, seconds: float) -> bool:
        return Client.from_config(self.p["patroni_config"]).wait(role, seconds)

    def patroni_restart(self) -> tuple[int, str]:
        _engine, _unit, argv = restart_argv(lambda _u: True, self.p)
        rc, out, err = self.module.run_command(argv)
        return rc, (err or out).strip()

    def writable(self, seconds: float) -> tuple[bool, str]:
        return wait_writable(Session(self.p["port"], timeout=2), seconds)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {
                "type": "str",
                "choices": ["reload", "restart", "takeover"],
                "required": True,
            },
            "primary": {"type": "bool", "default": False},
            "dropin": {"type": "str", "default": ""},
            "service": {"type": "str", "required": True},
            "patroni_service": {"type": "str", "default": ""},
            "patroni_config": {"type": "str", "default": "/etc/patroni/patroni.yml"},
            "scope": {"type": "str", "default": ""},
            "member": {"type": "str", "default": ""},
            "port": {"type": "int", "default": 5432},
            "socket_dir": {"type": "str", "default": "/var/run/postgresql"},
            "timeout": {"type": "float", "default": 300},
            "interval": {"type": "float", "default": 1},
        },
        supports_check_mode=False,
    )
    p = module.params

    def unit_active(unit: str) -> bool:
        return module.run_command(["systemctl", "is-active", "--quiet", unit])[0] == 0

    if p["action"] == "reload":
        if unit_active(p["service"]):
            rc, out, err = module.run_command(["systemctl", "reload", p["service"]])
            if rc != 0:
                module.fail_json(msg=f"systemctl reload {p['service']}: {(err or out).strip()}")
            module.exit_json(
                changed=True, engine="systemd", up=True, seen="", elapsed=0.0, msg="reloaded"
            )
        try:
            Session(p["port"], timeout=30).run(RELOAD_SQL)
        except SessionError as exc:
            module.fail_json(msg=f"{RELOAD_SQL}: {exc}")
        module.exit_json(changed=True, engine="sql", up=True, seen="", elapsed=0.0, msg="reloaded")

    if p["action"] == "takeover":
        if not (p["patroni_service"] and p["scope"] and p["member"]):
            module.fail_json(msg="patroni_service, scope and member: required for takeover")
        ops = HostOps(module)
        try:
            result = takeover_primary(ops) if p["primary"] else takeover_replica(ops)
        except (TakeoverError, OSError, ValueError) as exc:
            module.fail_json(msg=f"{p['member']}: {exc}")
        module.exit_json(changed=True, engine="patroni", up=True, seen="", elapsed=0.0, **result)

    engine, unit, argv = restart_argv(unit_active, p)
    if engine == "patroni" and not (p["scope"] and p["member"]):
        module.fail_json(msg="scope and member: required when Patroni runs PostgreSQL")
    start = time.monotonic()
    rc, out, err = module.run_command(argv)
    if rc != 0:
        seen = last_line(err or out, rc)
        module.exit_json(
            changed=True,
            engine=engine,
            up=False,
            seen=seen,
            elapsed=round(time.monotonic() - start, 2),
            msg=f"{' '.join(argv)} failed: {seen}",
        )

    def ready() -> tuple[bool, str]:
        argv = ["pg_isready", "-h", p["socket_dir"], "-p", str(p["port"])]
        rc, out, err = module.run_command(argv)
        return rc == 0, (out or err).strip() or f"pg_isready exited with {rc}"

    result = wait_up(ready, lambda: unit_active(unit), unit, p["timeout"], p["interval"])
    msg = restart_message(result, unit, p["timeout"])
    result.pop("stopped", None)
    module.exit_json(changed=True, engine=engine, msg=msg, **result)


if __name__ == "__main__":
    main()
