#!/usr/bin/python3
"""Ansible module: fence a node (it can never start writable or archive), or release it."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_fence
short_description: Fence an old primary, stop a primary to become a standby, or start a rejoined one
description:
  - >-
    V(fenced) is what a failover does to the old primary when its host answers: stop the
    PostgreSQL unit and mask it, write the fence marker (root's, 0644, in the record
    directory, which the start-up fence check reads), and stop pgBackRest for the stanza so
    it pushes no WAL and takes no backup. It fails unless the unit is inactive afterwards.
  - >-
    V(demoted) is a switchover's stop of the old primary: a clean fast stop, its control
    file read (it must say C(shut down); its last checkpoint is the shutdown checkpoint the
    target must replay before its promotion), C(standby.signal) written so that it starts
    as a standby. Nothing is masked or marked. Returns RV(t0) and RV(checkpoint).
  - >-
    The fast stop is C(systemctl kill --kill-whom=main --signal=SIGINT): systemd signals
    the unit's main process, the postmaster's PID as systemd tracks it (read from the
    unit's PID file, which systemd accepts only for a process inside the unit's cgroup).
    The module then looks every O(stop_interval) s until that process is gone. It spares
    the write-unavailable window the start of C(pg_ctlcluster) and the 100 ms steps of
    C(pg_ctl stop); systemd runs the unit's own stop commands when the postmaster has
    exited. A unit that is not running is stopped with C(systemctl stop), as before.
  - >-
    A postmaster still running O(stop_timeout) s after the signal fails the module with
    RV(changed) true: the shutdown goes on. A switchover's rescue then restarts the unit,
    which waits for that shutdown to end before it starts the old primary again.
  - >-
    V(standby) is the last step of a rejoin: C(standby.signal) in the data directory, the
    fence markers removed, the unit unmasked, pgBackRest started again, the unit started.
  - One round trip for what the node must do in order; each step's command is in
    RV(commands).
options:
  state:
    description: What the node becomes.
    type: str
    choices: [fenced, demoted, standby]
    required: true
  service:
    description: The PostgreSQL systemd unit.
    type: str
    required: true
  stanza:
    description: The pgBackRest stanza.
    type: str
    required: true
  fence_file:
    description: The fence marker.
    type: path
    required: true
  legacy_fence_files:
    description: Older marker paths, removed by V(standby) too.
    type: list
    elements: path
    default: []
  data_dir:
    description: >-
      The data directory (V(demoted) reads its control file; V(demoted) and V(standby) write
      standby.signal there).
    type: path
  bin_dir:
    description: The directory of PostgreSQL's programs (pg_controldata).
    type: path
    default: /usr/lib/postgresql/17/bin
  reason:
    description: The marker's text (V(fenced)).
    type: str
    default: fenced
  stop_timeout:
    description: >-
      Seconds V(demoted) waits for the postmaster to exit after the fast shutdown signal
      (it archives the last WAL segment first).
    type: float
    default: 3600
  stop_interval:
    description: Seconds between two looks at the postmaster while V(demoted) waits.
    type: float
    default: 0.01
author: pgfleet
"""

EXAMPLES = r"""
- name: Fence the old primary
  pg_fence:
    state: fenced
    service: postgresql@17-main
    stanza: main
    fence_file: /etc/pgfleet/17-main/FENCED
    reason: "fenced by failover.yml: pg2 was promoted"

- name: A standby again, started
  pg_fence:
    state: standby
    service: postgresql@17-main
    stanza: main
    fence_file: /etc/pgfleet/17-main/FENCED
    data_dir: /var/lib/postgresql/17/main
"""

RETURN = r"""
commands:
  description: The commands run, in order, each with its exit code.
  returned: always
  type: list
  elements: dict
t0:
  description: This host's clock (epoch seconds) right before the stop (V(demoted)).
  returned: state is demoted
  type: float
checkpoint:
  description: The shutdown checkpoint's position (V(demoted)).
  returned: state is demoted
  type: str
"""

import datetime as dt
import os
import pwd
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pgfleet.controldata import parse

PGBACKREST = ["runuser", "-u", "postgres", "--", "pgbackrest"]


def pgbackrest(stanza: str, action: str) -> list[str]:
    return [*PGBACKREST, f"--stanza={stanza}", "--log-level-console=warn", action]


def fence_steps(service: str, stanza: str) -> list[tuple[list[str], bool]]:
    """(argv, must succeed) for a fence, before and after the marker is written."""
    return [
        (["systemctl", "stop", service], False),
        (["systemctl", "mask", service], False),  # the is-active check below decides
        (pgbackrest(stanza, "stop"), False),  # already stopped is fine
    ]


def standby_steps(service: str, stanza: str) -> list[tuple[list[str], bool]]:
    return [
        (["systemctl", "unmask", service], True),
        (pgbackrest(stanza, "start"), True),
        (["systemctl", "start", service], True),
    ]


def marker(reason: str, now: dt.datetime) -> str:
    return f"{reason} at {now.strftime('%Y-%m-%dT%H:%M:%SZ')}\n"


def stopped_cleanly(control: dict) -> str:
    """'' when the control file says a primary's clean shutdown, else why not."""
    if control.get("state") != "shut down":
        return f"the old primary's state is {control.get('state')!r}, not 'shut down'"
    if not control.get("checkpoint_lsn"):
        return "the control file names no checkpoint"
    return ""


def stop_argv(pid: int, service: str) -> list[str]:
    """The fast stop: SIGINT from systemd to the main process (the postmaster) when the
    unit has one, else systemctl stop (which succeeds on a stopped unit)."""
    if pid > 0:
        return ["systemctl", "kill", "--kill-whom=main", "--signal=SIGINT", service]
    return ["systemctl", "stop", service]


def main_pid(show: str) -> int:
    """The unit's main PID from ``systemctl show --property=MainPID`` (0: not running)."""
    text = show.strip()
    if text.startswith("MainPID="):
        text = text[len("MainPID=") :]
    return int(text) if text.isdigit() else 0


def process_alive(pid: int, proc: str = "/proc") -> bool:
    """Whether the process runs: its /proc entry exists and it is not a zombie (an exited
    process systemd has not reaped yet has ended already)."""
    try:
        with open(os.path.join(proc, str(pid), "stat")) as fh:
            stat = fh.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rpartition(")")[2].split()
    return bool(state) and state[0] not in ("Z", "X")


def wait_gone(pid: int, timeout: float, interval: float, alive=process_alive,
              clock=time.monotonic, sleep=time.sleep) -> bool:  # fmt: skip
    """True once the process is gone; False when it still runs after ``timeout`` s."""
    end = clock() + timeout
    while alive(pid):
        if clock() >= end:
            return False
        sleep(interval)
    return True


def standby_signal(data_dir: str) -> None:
    """An empty standby.signal, postgres's, 0600."""
    path = os.path.join(data_dir, "standby.signal")
    with open(path, "w"):
        pass
    entry = pwd.getpwnam("postgres")
    os.chown(path, entry.pw_uid, entry.pw_gid)
    os.chmod(path, 0o600)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["fenced", "demoted", "standby"], "required": True},
            "service": {"type": "str", "required": True},
            "stanza": {"type": "str", "required": True},
            "fence_file": {"type": "path", "required": True},
            "legacy_fence_files": {"type": "list", "elements": "path", "default": []},
            "data_dir": {"type": "path"},
            "bin_dir": {"type": "path", "default": "/usr/lib/postgresql/17/bin"},
            "reason": {"type": "str", "default": "fenced"},
            "stop_timeout": {"type": "float", "default": 3600},
            "stop_interval": {"type": "float", "default": 0.01},
        },
        required_if=[
            ("state", "standby", ["data_dir"]),
            ("state", "demoted", ["data_dir"]),
        ],
    )
    p = module.params
    done: list[dict] = []

    def run(argv: list[str], must: bool) -> int:
        rc, out, err = module.run_command(argv)
        done.append({"argv": argv, "rc": rc})
        if must and rc != 0:
            module.fail_json(msg=f"{' '.join(argv)}: {(err or out).strip()}", commands=done)
        return rc

    if p["state"] == "fenced":
        steps = fence_steps(p["service"], p["stanza"])
        run(*steps[0])
        run(*steps[1])
        os.makedirs(os.path.dirname(p["fence_file"]), mode=0o755, exist_ok=True)
        with open(p["fence_file"], "w") as fh:
            fh.write(marker(p["reason"], dt.datetime.now(dt.UTC)))
        os.chown(p["fence_file"], 0, 0)
        os.chmod(p["fence_file"], 0o644)
        run(*steps[2])
        rc, _, _ = module.run_command(["systemctl", "is-active", "--quiet", p["service"]])
        if rc == 0:
            module.fail_json(msg=f"{p['service']} is still active after the fence", commands=done)
    elif p["state"] == "demoted":
        show = ["systemctl", "show", "--property=MainPID", "--value", p["service"]]
        rc, out, err = module.run_command(show)
        done.append({"argv": show, "rc": rc})
        pid = main_pid(out) if rc == 0 else 0
        t0 = time.time()
        run(stop_argv(pid, p["service"]), True)
        if pid and not wait_gone(pid, p["stop_timeout"], p["stop_interval"]):
            module.fail_json(
                msg=f"{p['service']}: the postmaster (PID {pid}) still runs "
                f"{p['stop_timeout']:g} s after the fast shutdown signal; its shutdown goes on",
                commands=done,
                changed=True,
            )
        argv = [os.path.join(p["bin_dir"], "pg_controldata"), p["data_dir"]]
        rc, out, err = module.run_command(argv, environ_update={"LC_ALL": "C"})
        control = parse(out) if rc == 0 else {"state": (err or out).strip()}
        why = stopped_cleanly(control)
        if why:
            module.fail_json(msg=why, commands=done, changed=True)
        standby_signal(p["data_dir"])
        module.exit_json(changed=True, commands=done, t0=t0, checkpoint=control["checkpoint_lsn"])
    else:
        standby_signal(p["data_dir"])
        for path in [p["fence_file"], *p["legacy_fence_files"]]:
            if os.path.lexists(path):
                os.unlink(path)
        for argv, must in standby_steps(p["service"], p["stanza"]):
            run(argv, must)
    module.exit_json(changed=True, commands=done)


if __name__ == "__main__":
    main()
