#!/usr/bin/python3
"""Ansible module: pg_rewind of a stopped node against the primary, with forensic copies."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_rewind
short_description: Rewind a stopped old primary to the live primary, keeping what it discards
description:
  - One step on the stopped node, in this order; every output lands in O(forensics).
  - Forensic copies older than O(keep_days) beside O(forensics) are removed.
  - A node that crashed first finishes crash recovery in single-user mode
    (C(crash-recovery.txt)), as pg_rewind itself would; only then can a dry run say where
    it left the primary's history.
  - C(pg_rewind --dry-run) names the fork point (C(pg_rewind-dry-run.txt)); pg_waldump then
    reads the node's WAL from there to its end (C(waldump.txt)), and the segments from the
    fork on are copied to C(wal/).
  - C(pg_rewind --restore-target-wal) runs for real (C(pg_rewind.txt)) when the dry run passed.
  - >-
    The rewind role's password reaches pg_rewind through a passfile (0600, owned by postgres,
    removed when the module ends): never argv or the environment.
  - A failed rewind is no module failure; V(rewound) says whether it happened (the caller
    then re-seeds).
options:
  data_dir:
    description: The node's data directory (the node is stopped).
    type: path
    required: true
  config_file:
    description: Its postgresql.conf (Debian keeps it outside the data directory).
    type: path
    required: true
  bin_dir:
    description: The directory of PostgreSQL's programs.
    type: path
    default: /usr/lib/postgresql/17/bin
  source_host:
    description: The live primary's address.
    type: str
    required: true
  source_port:
    description: Its port.
    type: int
    default: 5432
  user:
    description: The rewind role (it logs in only while this runs).
    type: str
    required: true
  password:
    description: Its password.
    type: str
    required: true
    no_log: true
  ca_file:
    description: The CA that verifies the primary's certificate (sslmode verify-full).
    type: path
    required: true
  forensics:
    description: A new directory for what the rewind discards (created, 0700, owned by postgres).
    type: path
    required: true
  keep_days:
    description: Remove the forensic copies beside O(forensics) older than this many days.
    type: int
    default: 30
author: pgfleet
"""

EXAMPLES = r"""
- name: Rewind
  pg_rewind:
    data_dir: /var/lib/postgresql/17/main
    config_file: /etc/postgresql/17/main/postgresql.conf
    source_host: 10.0.0.12
    user: pg_rewinder
    password: "{{ rewind_password }}"
    ca_file: /etc/postgresql/17/main/tls/ca.crt
    forensics: /var/lib/postgresql/forensics/20261206T101500Z
  register: rewind
"""

RETURN = r"""
rewound:
  description: Whether pg_rewind ran and succeeded.
  returned: always
  type: bool
rc:
  description: The exit code of pg_rewind (of the dry run when the real one did not run).
  returned: always
  type: int
output:
  description: The last lines of pg_rewind's output (the dry run's when the real one did not run).
  returned: always
  type: str
fork_lsn:
  description: Where the node left the primary's history ('' when the dry run did not say).
  returned: always
  type: str
fork_timeline:
  description: The timeline of the fork point (0 when unknown).
  returned: always
  type: int
wal_end:
  description: The end of the node's valid WAL past the fork ('' when unknown).
  returned: always
  type: str
crash_recovered:
  description: Whether single-user crash recovery ran first.
  returned: always
  type: bool
pruned:
  description: Old forensic copies removed.
  returned: always
  type: list
  elements: str
"""

import os
import shutil
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pgfleet.controldata import parse
from ansible.module_utils.pgfleet.session import passfile, passfile_line, session_env
from ansible.module_utils.pgfleet.walend import fork_point, own_tree, wal_end

RUN_AS = ["runuser", "-u", "postgres", "--"]


def conninfo_value(value: str) -> str:
    """A libpq connection string value, quoted."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def source_conninfo(host: str, port: int, user: str, pass_path: str, ca_file: str) -> str:
    """The primary as pg_rewind's source: verified TLS, the password in a passfile."""
    fields = {
        "host": host, "port": str(int(port)), "dbname": "postgres", "user": user,
        "passfile": pass_path, "sslmode": "verify-full", "sslrootcert": ca_file,
        "connect_timeout": "5",
    }  # fmt: skip
    return " ".join(f"{k}={conninfo_value(v)}" for k, v in fields.items())


def rewind_argv(bin_dir: str, data_dir: str, config_file: str, source: str, dry: bool) -> list:
    return [
        *RUN_AS, os.path.join(bin_dir, "pg_rewind"), *(["--dry-run"] if dry else []),
        "--progress", f"--target-pgdata={data_dir}", f"--config-file={config_file}",
        "--restore-target-wal", f"--source-server={source}",
    ]  # fmt: skip


def single_user_argv(bin_dir: str, data_dir: str, config_file: str) -> list:
    """Crash recovery in single-user mode, no fsync (pg_rewind does the same)."""
    return [
        *RUN_AS, os.path.join(bin_dir, "postgres"), "--single", "-F", "-D", data_dir,
        "-c", f"config_file={config_file}", "template1",
    ]  # fmt: skip


def old_copies(entries: list[tuple[str, float]], now: float, keep_days: int) -> list[str]:
    """Of (path, mtime) pairs, the paths older than keep_days."""
    return [path for path, mtime in entries if now - mtime > keep_days * 86400]


def tail(text: str, lines: int = 5) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run(argv: list, out_file: str, env: dict, stdin: int | None = None) -> tuple[int, str]:
    """Run argv, its output (stdout and stderr) kept in out_file; (rc, output)."""
    with open(out_file, "w") as fh:
        proc = subprocess.run(
            argv, stdout=fh, stderr=subprocess.STDOUT, stdin=stdin, env=env, cwd="/", check=False
        )
    with open(out_file) as fh:
        return proc.returncode, fh.read()


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "data_dir": {"type": "path", "required": True},
            "config_file": {"type": "path", "required": True},
            "bin_dir": {"type": "path", "default": "/usr/lib/postgresql/17/bin"},
            "source_host": {"type": "str", "required": True},
            "source_port": {"type": "int", "default": 5432},
            "user": {"type": "str", "required": True},
            "password": {"type": "str", "required": True, "no_log": True},
            "ca_file": {"type": "path", "required": True},
            "forensics": {"type": "path", "required": True},
            "keep_days": {"type": "int", "default": 30},
        },
        supports_check_mode=False,
    )
    p = module.params
    data, conf, bins, forensics = p["data_dir"], p["config_file"], p["bin_dir"], p["forensics"]
    result = {
        "rewound": False, "rc": 1, "output": "", "fork_lsn": "", "fork_timeline": 0,
        "wal_end": "", "crash_recovered": False, "pruned": [], "forensics": forensics,
    }  # fmt: skip

    parent = os.path.dirname(forensics.rstrip("/"))
    if os.path.isdir(parent):
        entries = [
            (e.path, e.stat().st_mtime)
            for e in os.scandir(parent)
            if e.is_dir() and e.path != forensics
        ]
        for path in old_copies(entries, time.time(), p["keep_days"]):
            shutil.rmtree(path, ignore_errors=True)
            result["pruned"].append(path)
    os.makedirs(forensics, mode=0o700, exist_ok=True)
    own_tree(forensics)
    env = session_env()
    env["LC_ALL"] = "C"

    rc, out, err = module.run_command(
        [os.path.join(bins, "pg_controldata"), data], environ_update={"LC_ALL": "C"}
    )
    control = parse(out) if rc == 0 else {}
    if rc != 0 or control.get("clean_shutdown") is None:
        module.fail_json(msg=f"pg_controldata {data}: {(err or out).strip()}", **result)
    if not control["clean_shutdown"]:
        result["crash_recovered"] = True
        run(
            single_user_argv(bins, data, conf),
            os.path.join(forensics, "crash-recovery.txt"),
            env,
            stdin=subprocess.DEVNULL,
        )

    line = passfile_line("*", p["source_port"], "postgres", p["user"], p["password"])
    with passfile([line], owner="postgres") as path:
        source = source_conninfo(p["source_host"], p["source_port"], p["user"], path, p["ca_file"])
        dry_rc, dry_out = run(
            rewind_argv(bins, data, conf, source, dry=True),
            os.path.join(forensics, "pg_rewind-dry-run.txt"),
            env,
        )
        result.update(rc=dry_rc, output=tail(dry_out))
        fork = fork_point(dry_out)
        if fork:
            result["fork_lsn"], result["fork_timeline"] = fork
            result["wal_end"] = wal_end(bins, data, fork[0], fork[1], forensics)
        if dry_rc == 0:
            real_rc, real_out = run(
                rewind_argv(bins, data, conf, source, dry=False),
                os.path.join(forensics, "pg_rewind.txt"),
                env,
            )
            result.update(rc=real_rc, output=tail(real_out), rewound=real_rc == 0)
    own_tree(forensics)
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
