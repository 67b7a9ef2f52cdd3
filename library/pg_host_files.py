#!/usr/bin/python3
"""Ansible module: a directory of small files, as given, in one round trip."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_host_files
short_description: Keep a directory of small text files identical to the given set
description:
  - Writes each file of O(files) whose content differs from the host's copy (or that is
    missing), and removes the files of O(dest) that match O(prune) and are not in
    O(files). One round trip for the whole set, where ansible.builtin.copy takes several
    per file.
  - Each file is written atomically (a temporary file in O(dest), then renamed), owned by
    O(owner):O(group) with O(mode).
  - Meant for code and configuration, never for secrets (the contents travel as module
    arguments).
  - Runs in check mode (reports what it would write and remove).
options:
  dest:
    description: The directory. Created (mode 0755, O(owner):O(group)) when missing.
    type: path
    required: true
  files:
    description: File name (no directory part) to its text content.
    type: dict
    required: true
  prune:
    description: >-
      A shell pattern (fnmatch) of the files in O(dest) that must be in O(files); the others
      are removed. Empty removes nothing.
    type: str
    default: ""
  mode:
    description: Mode of the files written.
    type: str
    default: "0644"
  owner:
    description: Owner of the files and the directory.
    type: str
    default: root
  group:
    description: Group of the files and the directory.
    type: str
    default: root
author: pgfleet
"""

EXAMPLES = r"""
- name: The project's shared Python package in the host's site directory
  pg_host_files:
    dest: /usr/local/lib/python3.13/dist-packages/pgfleet
    files: "{{ dict(names | zip(query('ansible.builtin.file', *paths, rstrip=False))) }}"
    prune: "*.py"
"""

RETURN = r"""
written:
  description: The files written (missing or different), sorted.
  returned: always
  type: list
  elements: str
  sample: [lsn.py]
removed:
  description: The files removed (matching prune, not in files), sorted.
  returned: always
  type: list
  elements: str
  sample: [old_piece.py]
"""

import fnmatch
import grp
import os
import pwd
import tempfile

from ansible.module_utils.basic import AnsibleModule


def bad_names(names) -> list[str]:
    """File names that are not a plain name in the directory (a path, '.', '..', empty)."""
    return sorted(n for n in names if not n or n in (".", "..") or "/" in n or "\0" in n)


def plan(present: dict[str, bytes], files: dict[str, str], prune: str) -> tuple[list, list]:
    """(names to write, names to remove): present maps the directory's file names to their
    bytes (None for one that is not a regular file); files is the set wanted."""
    write = sorted(n for n, text in files.items() if present.get(n) != text.encode())
    remove = sorted(n for n in present if prune and fnmatch.fnmatch(n, prune) and n not in files)
    return write, remove


def read_dir(dest: str) -> dict[str, bytes | None]:
    """The directory's entries and the bytes of its regular files ({} when it is missing)."""
    try:
        names = os.listdir(dest)
    except FileNotFoundError:
        return {}
    out: dict[str, bytes | None] = {}
    for name in names:
        path = os.path.join(dest, name)
        if os.path.isfile(path) and not os.path.islink(path):
            with open(path, "rb") as fh:
                out[name] = fh.read()
        else:
            out[name] = None
    return out


def apply(dest: str, files: dict[str, str], write, remove, mode: int, uid: int, gid: int) -> None:
    """Write and remove; the directory is created when missing."""
    if not os.path.isdir(dest):
        os.makedirs(dest, mode=0o755, exist_ok=True)
        os.chown(dest, uid, gid)
    for name in write:
        fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(files[name].encode())
            os.chmod(tmp, mode)
            os.chown(tmp, uid, gid)
            os.replace(tmp, os.path.join(dest, name))
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    for name in remove:
        os.unlink(os.path.join(dest, name))


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "dest": {"type": "path", "required": True},
            "files": {"type": "dict", "required": True},
            "prune": {"type": "str", "default": ""},
            "mode": {"type": "str", "default": "0644"},
            "owner": {"type": "str", "default": "root"},
            "group": {"type": "str", "default": "root"},
        },
        supports_check_mode=True,
    )
    p = module.params
    files = {str(k): str(v) for k, v in p["files"].items()}
    bad = bad_names(files)
    if bad:
        module.fail_json(msg=f"files: {bad} are not plain file names (no directory part)")
    try:
        mode = int(p["mode"], 8)
        uid, gid = pwd.getpwnam(p["owner"]).pw_uid, grp.getgrnam(p["group"]).gr_gid
    except (ValueError, KeyError) as exc:
        module.fail_json(msg=f"mode, owner or group: {exc}")
    present = read_dir(p["dest"])
    write, remove = plan(present, files, p["prune"])
    changed = bool(write or remove or not os.path.isdir(p["dest"]))
    if changed and not module.check_mode:
        try:
            apply(p["dest"], files, write, remove, mode, uid, gid)
        except OSError as exc:
            module.fail_json(msg=f"{p['dest']}: {exc}", written=write, removed=remove)
    module.exit_json(changed=changed, written=write, removed=remove, dest=p["dest"])


if __name__ == "__main__":
    main()
