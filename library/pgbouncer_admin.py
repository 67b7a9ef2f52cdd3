#!/usr/bin/python3
"""Ansible module: PgBouncer's admin console on this node (SHOW POOLS, PAUSE, RESUME)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pgbouncer_admin
short_description: Read PgBouncer's pools, or pause and resume its databases
description:
  - Talks to the admin console of the PgBouncer on this node, over its socket, as user
    C(pgbouncer) from the postgres OS user (PgBouncer's own), which the console admits
    without a password. The console takes no startup options, so no PGOPTIONS is sent.
  - C(show) reports, per (database, role) pool, the clients active and waiting, the
    longest wait, the server connections and the pool size, and the problems
    (pgfleet.pgbouncer.pool_report).
  - C(pause) waits, within O(timeout), until every server connection of the databases is
    released (a transaction in flight finishes; new ones wait in PgBouncer). When the time
    runs out, the databases it paused are resumed and the module fails. C(resume) lets
    the waiting clients go on. Both act only on databases not already in that state.
  - C(repoint) points the pooled databases of pgbouncer.ini at another host (after a
    switchover or failover), reloads PgBouncer through its console and, with O(resume),
    resumes. It is one step from the promotion to the clients going on.
  - Every action but C(show) does nothing on a node without pgbouncer.ini (PgBouncer not
    installed yet).
  - In check mode C(pause), C(resume) and C(repoint) report what they would change and do
    nothing.
options:
  action:
    description: show, pause, resume or repoint.
    type: str
    choices: [show, pause, resume, repoint]
    default: show
  port:
    description: PgBouncer's port (pgbouncer_port).
    type: int
    default: 6432
  databases:
    description: The databases to pause or resume; empty means every pooled one.
    type: list
    elements: str
    default: []
  max_wait_seconds:
    description: For show, a client waiting longer than this is a problem.
    type: float
    default: 5
  timeout:
    description: Seconds a pause may take before it is given up (and undone).
    type: float
    default: 30
  host:
    description: >-
      For repoint, the address the pooled databases go to now (the new primary). In the
      [databases] section of pgbouncer.ini, every entry with a TCP host= gets it (the auth
      pool's socket entry is left alone); the file is written when that changes it (owner
      postgres, mode 0640), then PgBouncer's console is told to RELOAD; with O(resume) the
      paused databases resume.
    type: str
  path:
    description: Where pgbouncer.ini lives.
    type: str
    default: /etc/pgbouncer/pgbouncer.ini
  resume:
    description: For repoint, resume the paused databases after the reload.
    type: bool
    default: false
author: pgfleet
"""

EXAMPLES = r"""
- name: Pause the pools (in-flight transactions finish, new ones wait)
  pgbouncer_admin:
    action: pause
    databases: [learning]
    timeout: 20
"""

RETURN = r"""
written:
  description: For repoint, whether pgbouncer.ini was rewritten (and PgBouncer reloaded).
  returned: when action is repoint
  type: bool
pools:
  description: For show, one entry per (database, role) pool.
  returned: when action is show
  type: list
problems:
  description: For show, the pools above 80 % of their size or with a client waiting too long.
  returned: when action is show
  type: list
changed_databases:
  description: The databases paused or resumed.
  returned: when action is pause or resume
  type: list
paused:
  description: >-
    For pause, whether every pooled database of this PgBouncer is now paused (true also
    when PgBouncer is not installed, and in check mode); false when the pause was given up
    and undone. A caller that ignores the module's failure reads this, never C(failed).
  returned: when action is pause
  type: bool
seconds:
  description: How long the pause or resume took.
  returned: when action is pause or resume
  type: float
"""

import contextlib
import os
import pwd
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pgfleet.pgbouncer import (
    admin_argv,
    admin_env,
    parse_show,
    paused_databases,
    pool_report,
    repoint_text,
)
from ansible.module_utils.pgfleet.session import run_bounded

NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


class ConsoleError(Exception):
    pass


def console(port: int, sql: str, timeout: float) -> str:
    argv = [*admin_argv(port), "-c", sql]
    try:
        proc = run_bounded(argv, input=None, env=admin_env(os.environ), timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ConsoleError(
            f"PgBouncer's console did not finish {sql!r} within {timeout:g} s"
        ) from None
    if proc.returncode != 0:
        raise ConsoleError(
            f"PgBouncer's console refused {sql!r}: {(proc.stderr or proc.stdout).strip()[-500:]}"
        )
    return proc.stdout


def repoint(module: AnsibleModule) -> None:
    """Write pgbouncer.ini when it differs, RELOAD, and resume when asked."""
    p = module.params
    start = time.monotonic()
    with open(p["path"]) as fh:
        current = fh.read()
    try:
        wanted = repoint_text(current, p["host"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    written = wanted != current
    if module.check_mode:
        module.exit_json(changed=written, written=written)
    try:
        if written:
            tmp = f"{p['path']}.pgfleet-new"
            with open(tmp, "w") as fh:
                fh.write(wanted)
            pw = pwd.getpwnam("postgres")
            os.chown(tmp, pw.pw_uid, pw.pw_gid)
            os.chmod(tmp, 0o640)
            os.replace(tmp, p["path"])
            console(p["port"], "RELOAD", 10)
        resumed: list[str] = []
        if p["resume"]:
            databases = parse_show(console(p["port"], "SHOW DATABASES", 10))
            for name in paused_databases(databases):
                console(p["port"], f"RESUME {name}", 10)
                resumed.append(name)
    except (ConsoleError, OSError) as exc:
        module.fail_json(msg=str(exc), written=written)
    module.exit_json(
        changed=written or bool(resumed),
        written=written,
        changed_databases=resumed,
        seconds=round(time.monotonic() - start, 3),
    )


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {
                "type": "str",
                "choices": ["show", "pause", "resume", "repoint"],
                "default": "show",
            },
            "port": {"type": "int", "default": 6432},
            "databases": {"type": "list", "elements": "str", "default": []},
            "max_wait_seconds": {"type": "float", "default": 5},
            "timeout": {"type": "float", "default": 30},
            "host": {"type": "str"},
            "path": {"type": "str", "default": "/etc/pgbouncer/pgbouncer.ini"},
            "resume": {"type": "bool", "default": False},
        },
        required_if=[("action", "repoint", ["host"])],
        supports_check_mode=True,
    )
    p = module.params
    bad = [d for d in p["databases"] if not d or set(d) - NAME_CHARS]
    if bad:
        module.fail_json(
            msg=f"databases: {bad} are not database names (lower-case letters, digits, _)"
        )
    held = {"paused": True} if p["action"] == "pause" else {}
    if p["action"] != "show" and not os.path.exists(p["path"]):
        module.exit_json(changed=False, changed_databases=[], seconds=0.0, installed=False, **held)
    if p["action"] == "repoint":
        repoint(module)
    try:
        databases = parse_show(console(p["port"], "SHOW DATABASES", 10))
        if p["action"] == "show":
            pools = parse_show(console(p["port"], "SHOW POOLS", 10))
            module.exit_json(changed=False, **pool_report(pools, databases, p["max_wait_seconds"]))
        pooled = [
            row["name"]
            for row in databases
            if row.get("name") not in ("pgbouncer", "pgbouncer_auth")
            and (not p["databases"] or row.get("name") in p["databases"])
        ]
        paused = set(paused_databases(databases))
        if p["action"] == "pause":
            todo = [d for d in pooled if d not in paused]
        else:
            todo = [d for d in pooled if d in paused]
        if module.check_mode or not todo:
            module.exit_json(changed=bool(todo), changed_databases=todo, seconds=0.0, **held)
        start = time.monotonic()
        done: list[str] = []
        try:
            for name in todo:
                left = p["timeout"] - (time.monotonic() - start)
                if left <= 0:
                    raise ConsoleError(f"the pause took longer than {p['timeout']:g} s")
                console(p["port"], f"{p['action'].upper()} {name}", left)
                done.append(name)
        except ConsoleError as exc:
            if p["action"] == "pause":
                # A PAUSE given up on stays in force in PgBouncer: undo it, and the ones done.
                for name in [*done, *todo[len(done) : len(done) + 1]]:
                    with contextlib.suppress(ConsoleError):
                        console(p["port"], f"RESUME {name}", 10)
            module.fail_json(
                msg=f"{exc}; the databases are resumed, clients go on as before",
                changed_databases=done,
                **({"paused": False} if held else {}),
            )
        module.exit_json(
            changed=True,
            changed_databases=done,
            seconds=round(time.monotonic() - start, 3),
            **held,
        )
    except ConsoleError as exc:
        module.fail_json(msg=str(exc), **({"paused": False} if held else {}))


if __name__ == "__main__":
    main()
