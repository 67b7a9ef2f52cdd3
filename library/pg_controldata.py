#!/usr/bin/python3
"""Ansible module: pg_controldata on a data directory, parsed."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_controldata
short_description: Read a PostgreSQL data directory's control file
description:
  - Runs C(pg_controldata) (with C(LC_ALL=C), so the field names are not translated) on a
    data directory and returns the fields the project reads, parsed.
  - >-
    With O(stop), the PostgreSQL unit is stopped first, so that the control file is final
    (a rejoin's first step: one round trip for the stop and the read).
  - Reads only without O(stop); runs in check mode (where O(stop) is not carried out).
options:
  data_dir:
    description: The data directory.
    type: path
    required: true
  bin_dir:
    description: The directory of PostgreSQL's programs (C(pg_controldata) in it).
    type: path
    default: /usr/lib/postgresql/17/bin
  stop:
    description: A systemd unit to stop before the read (a no-op when it is inactive).
    type: str
author: pgfleet
"""

EXAMPLES = r"""
- name: Stop it and read its control file
  pg_controldata:
    data_dir: /var/lib/postgresql/17/main
    stop: postgresql@17-main
  register: control

- name: Read the control file
  pg_controldata:
    data_dir: "{{ postgresql_cluster.data_dir }}"
    bin_dir: "{{ postgresql_cluster.bin_dir }}"
  register: control

- name: Stopped cleanly
  ansible.builtin.assert:
    that: control.controldata.clean_shutdown
"""

RETURN = r"""
controldata:
  description: >-
    The parsed fields (a missing field is null): system_identifier (text), state, timeline,
    checkpoint_lsn, redo_lsn, min_recovery_lsn, min_recovery_timeline, wal_log_hints,
    checksum_version, data_checksums, wal_segment_size, last_modified, clean_shutdown.
  returned: success
  type: dict
  sample:
    system_identifier: "7444011816716828746"
    state: shut down
    timeline: 2
    checkpoint_lsn: 0/5000028
    data_checksums: true
    clean_shutdown: true
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pgfleet.controldata import parse


def command(bin_dir: str, data_dir: str) -> list[str]:
    """The argv of pg_controldata for data_dir."""
    return [os.path.join(bin_dir, "pg_controldata"), data_dir]


def read(text: str, rc: int, stderr: str) -> tuple[dict | None, str]:
    """(fields, '') from pg_controldata's output, or (None, why) when it failed or printed
    no control file."""
    if rc != 0:
        return None, (stderr or text).strip() or f"pg_controldata exited with {rc}"
    fields = parse(text)
    if fields["system_identifier"] is None or fields["state"] is None:
        return None, "pg_controldata printed no system identifier or cluster state"
    return fields, ""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "data_dir": {"type": "path", "required": True},
            "bin_dir": {"type": "path", "default": "/usr/lib/postgresql/17/bin"},
            "stop": {"type": "str"},
        },
        supports_check_mode=True,
    )
    changed = False
    unit = module.params["stop"]
    if unit and not module.check_mode:
        rc, _, _ = module.run_command(["systemctl", "is-active", "--quiet", unit])
        if rc == 0:
            rc, out, err = module.run_command(["systemctl", "stop", unit])
            if rc != 0:
                module.fail_json(msg=f"systemctl stop {unit}: {(err or out).strip()}", rc=rc)
            changed = True
    argv = command(module.params["bin_dir"], module.params["data_dir"])
    rc, out, err = module.run_command(argv, environ_update={"LC_ALL": "C", "LANG": "C"})
    fields, why = read(out, rc, err)
    if fields is None:
        module.fail_json(msg=f"{' '.join(argv)}: {why}", rc=rc, changed=changed)
    module.exit_json(changed=changed, controldata=fields)


if __name__ == "__main__":
    main()
