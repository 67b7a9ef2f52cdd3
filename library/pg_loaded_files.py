#!/usr/bin/python3
"""Ansible module: whether a service must reload to read files that changed since it last did."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_loaded_files
short_description: Say whether the files a service reads at a reload changed since its last one
description:
  - A service that reads files only when it starts or reloads (PgBouncer's and Patroni's TLS
    certificate, key and CA) keeps serving the old ones when another role rewrites them.
    This module keeps, in O(stamp), the SHA-1 of each of O(files) as of the service's last
    reload, and reports C(changed) when any differs, writing the new checksums; notify the
    service's reload from it.
  - A missing file counts as C(-). A missing stamp (the first run) is a change.
  - The stamp holds checksums only (root, mode 0644), never a file's content.
  - In check mode nothing is written.
options:
  files:
    description: The files the service reads.
    type: list
    elements: path
    required: true
  stamp:
    description: Where the checksums of the files last loaded are kept.
    type: path
    required: true
author: pgfleet
"""

EXAMPLES = r"""
- name: PgBouncer reloads when its TLS files change
  pg_loaded_files:
    files: [/etc/postgresql/17/main/tls/server.crt, /etc/postgresql/17/main/tls/ca.crt]
    stamp: /etc/pgbouncer/tls-loaded.sha1
  notify: pgbouncer reload
"""

RETURN = r"""
checksums:
  description: The files' checksums now, in the order of O(files) (C(-) for a missing one).
  returned: always
  type: list
  elements: str
"""

import hashlib

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pgfleet.files import write_atomic


def checksum(path: str) -> str:
    """The file's SHA-1, or '-' when it does not exist."""
    digest = hashlib.sha1(usedforsecurity=False)
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(65536), b""):
                digest.update(block)
    except FileNotFoundError:
        return "-"
    return digest.hexdigest()


def stamp_line(checksums: list[str]) -> str:
    return " ".join(checksums) + "\n"


def read_stamp(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def run(files: list[str], stamp: str, check_mode: bool) -> tuple[bool, list[str]]:
    """(changed, the checksums): whether any file differs from what the stamp says was
    loaded; the stamp is rewritten unless in check mode."""
    sums = [checksum(f) for f in files]
    line = stamp_line(sums)
    changed = read_stamp(stamp) != line
    if changed and not check_mode:
        write_atomic(stamp, line)
    return changed, sums


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "files": {"type": "list", "elements": "path", "required": True},
            "stamp": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        changed, sums = run(p["files"], p["stamp"], module.check_mode)
    except OSError as exc:
        module.fail_json(msg=f"pg_loaded_files {p['stamp']}: {exc}")
    module.exit_json(changed=changed, checksums=sums)


if __name__ == "__main__":
    main()
