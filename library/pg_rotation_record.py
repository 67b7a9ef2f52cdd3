#!/usr/bin/python3
"""Ansible module: the node's record of when each secret was last rotated."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_rotation_record
short_description: Keep the node's record of every secret's rotations
description:
  - Reads the record (JSON; missing is empty), applies O(phase) to each secret of
    O(secrets) (pgfleet.rotation.updated), and writes it back atomically (root, mode 0644;
    it holds times, never a secret) only when it changed.
  - C(seen) adds a secret the record does not have yet, with the time it was first seen
    (site.yml, for every secret the inventory uses); C(done) records a rotation that
    ended (one run, or a finish); C(started) opens a two-phase rotation.
  - In check mode nothing is written.
options:
  path:
    description: The record's file.
    type: path
    default: /var/lib/pgfleet/rotations.json
  secrets:
    description: The secrets (rotate.yml's WHATs, e.g. replication, role:app).
    type: list
    elements: str
    required: true
  phase:
    description: What happened to them.
    type: str
    choices: [seen, done, started]
    default: seen
  now:
    description: >-
      The time to record, epoch seconds (the controller's, so every node records the
      same).
    type: float
    required: true
author: pgfleet
"""

EXAMPLES = r"""
- name: The replication password was rotated
  pg_rotation_record:
    secrets: [replication]
    phase: done
    now: "{{ now().timestamp() }}"
"""

RETURN = r"""
record:
  description: The whole record after the change.
  returned: always
  type: dict
"""

import json

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pgfleet.errors import InputError
from ansible.module_utils.pgfleet.files import write_atomic
from ansible.module_utils.pgfleet.rotation import updated


def read(path: str) -> dict:
    try:
        with open(path) as fh:
            record = json.load(fh)
    except FileNotFoundError:
        return {}
    if not isinstance(record, dict) or not isinstance(record.get("secrets", {}), dict):
        raise InputError(f"{path}: not a rotation record (a JSON object with secrets)")
    return record


def write(path: str, record: dict) -> None:
    write_atomic(path, json.dumps(record, indent=2, sort_keys=True) + "\n")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/var/lib/pgfleet/rotations.json"},
            "secrets": {"type": "list", "elements": "str", "required": True},
            "phase": {"type": "str", "choices": ["seen", "done", "started"], "default": "seen"},
            "now": {"type": "float", "required": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        before = read(p["path"])
        after = before
        for secret in p["secrets"]:
            after = updated(after, secret, p["phase"], p["now"])
    except (InputError, ValueError, OSError) as exc:
        module.fail_json(msg=f"rotation record {p['path']}: {exc}")
    changed = after != before
    if changed and not module.check_mode:
        try:
            write(p["path"], after)
        except OSError as exc:
            module.fail_json(msg=f"rotation record {p['path']}: cannot write it: {exc}")
    module.exit_json(changed=changed, record=after)


if __name__ == "__main__":
    main()
