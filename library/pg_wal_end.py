#!/usr/bin/python3
"""Ansible module: where a lost primary's WAL ends, read from its own pg_wal."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_wal_end
short_description: Read where a node's WAL ends past a fork point (pg_waldump)
description:
  - >-
    Runs C(pg_waldump) on the node's C(pg_wal) from the fork point on the fork's timeline to
    the first invalid record, and returns that position: the end of what the node wrote,
    so the operator knows what a failover or a rejoin discards.
  - With O(forensics), the records are written to C(waldump.txt) there and the WAL segments
    from the fork on are copied to its C(wal/) folder (owned by postgres).
  - Never fails on unreadable WAL (V(wal_end) is then empty). Reads only without
    O(forensics); runs in check mode then.
options:
  data_dir:
    description: The node's data directory.
    type: path
    required: true
  bin_dir:
    description: The directory of PostgreSQL's programs.
    type: path
    default: /usr/lib/postgresql/17/bin
  fork_lsn:
    description: Where the new primary's timeline branched off (X/Y).
    type: str
    required: true
  fork_timeline:
    description: The timeline the node wrote on past the fork.
    type: int
    required: true
  forensics:
    description: A directory to keep the records and the segments in (created, 0700).
    type: path
author: pgfleet
"""

EXAMPLES = r"""
- name: Where the old primary's WAL ends
  pg_wal_end:
    data_dir: "{{ postgresql_cluster.data_dir }}"
    bin_dir: "{{ postgresql_cluster.bin_dir }}"
    fork_lsn: 0/5000110
    fork_timeline: 1
  register: ended
"""

RETURN = r"""
wal_end:
  description: The end of the valid WAL past the fork (X/Y), or '' when it cannot be read.
  returned: always
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pgfleet.errors import InputError
from ansible.module_utils.pgfleet.lsn import lsn_int
from ansible.module_utils.pgfleet.walend import own_tree, wal_end


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "data_dir": {"type": "path", "required": True},
            "bin_dir": {"type": "path", "default": "/usr/lib/postgresql/17/bin"},
            "fork_lsn": {"type": "str", "required": True},
            "fork_timeline": {"type": "int", "required": True},
            "forensics": {"type": "path"},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        lsn_int(params["fork_lsn"], "fork_lsn")
    except InputError as exc:
        module.fail_json(msg=str(exc))
    forensics = None if module.check_mode else params["forensics"]
    if forensics:
        os.makedirs(forensics, mode=0o700, exist_ok=True)
    end = wal_end(
        params["bin_dir"], params["data_dir"], params["fork_lsn"], params["fork_timeline"],
        forensics,
    )  # fmt: skip
    if forensics and os.geteuid() == 0:
        own_tree(forensics)
    module.exit_json(changed=bool(forensics), wal_end=end)


if __name__ == "__main__":
    main()
