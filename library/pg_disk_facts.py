#!/usr/bin/python3
"""Ansible module: free space, directory sizes, small state files and path existence, read
in one round trip."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_disk_facts
short_description: Read free space, directory sizes, small state files and whether paths exist
description:
  - Reads, never writes. Runs in check mode.
  - O(filesystems) is what C(df -B1 --output=target,size,avail) prints for each path (the
    filesystem the path lives on, its size and the bytes an unprivileged user may still
    write); a path ending in C(/) is followed when it is a link (C(pg_wal/) measures the
    filesystem a linked pg_wal lives on).
  - >-
    O(sizes) is what C(du -sb) of coreutils 9.7 (Debian 13) prints: the apparent size of
    every file and link below the path, a file linked twice counted once, directories
    counted as 0 bytes; a missing path is null.
  - O(files) reads the regular files matching a shell pattern (their content, stripped;
    the first 4 KiB of each), like C(for f in DIR/last-*; do cat "$f"; done).
  - O(exists) says, for each path, whether it exists.
options:
  filesystems:
    description: Paths whose filesystem is measured. One that cannot be measured fails the task.
    type: list
    elements: str
    default: []
  sizes:
    description: Paths whose total size is read (null when missing).
    type: list
    elements: str
    default: []
  files:
    description: A shell pattern (glob) of small files whose content is read; empty reads none.
    type: str
    default: ""
  exists:
    description: Paths whose existence is checked.
    type: list
    elements: str
    default: []
  room_for:
    description: >-
      Paths that may not exist yet (a directory the caller is about to create): each is
      measured at its nearest existing ancestor, the filesystem it would be created on.
      Returned in RV(filesystems) after those of O(filesystems).
    type: list
    elements: str
    default: []
author: pgfleet
"""

EXAMPLES = r"""
- name: Free space of the data and pg_wal filesystems, and the archive spool's size
  pg_disk_facts:
    filesystems: [/var/lib/postgresql/17/main, /var/lib/postgresql/17/main/pg_wal/]
    sizes: [/var/spool/pgbackrest]

- name: The last results of the scheduled jobs
  pg_disk_facts:
    files: /var/lib/pgbackrest-cron/last-*
"""

RETURN = r"""
filesystems:
  description: For each path of O(filesystems), in order, its filesystem.
  returned: always
  type: list
  elements: dict
  sample: [{path: /var/lib/postgresql/17/main, target: /, size: 107374182400, avail: 42949672960}]
sizes:
  description: Path of O(sizes) to its size in bytes, null when it does not exist.
  returned: always
  type: dict
  sample: {/var/spool/pgbackrest: 4096}
files:
  description: Base name of each regular file matching O(files) to its content, stripped.
  returned: always
  type: dict
  sample: {last-success-diff: "1700000000"}
exists:
  description: Path of O(exists) to whether it exists.
  returned: always
  type: dict
  sample: {/etc/postgresql/17/restore: false}
"""

import glob
import os
import stat

from ansible.module_utils.basic import AnsibleModule

FILE_LIMIT = 4096


def mount_point(path: str) -> str:
    """The mount point the (resolved) path lives on, as df's 'Mounted on' column."""
    path = os.path.realpath(path)
    while not os.path.ismount(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def filesystem(path: str, statvfs=os.statvfs) -> dict:
    """df -B1 --output=target,size,avail of one path: size is the filesystem's blocks,
    avail what a user who is not root may still write."""
    st = statvfs(path)
    return {
        "path": path,
        "target": mount_point(path),
        "size": st.f_blocks * st.f_frsize,
        "avail": st.f_bavail * st.f_frsize,
    }


def tree_size(path: str) -> int | None:
    """du -sb (coreutils 9.7): the apparent size of the files and links below the path
    (directories count 0), links not followed, a file with several links counted once;
    None when the path does not exist."""
    try:
        top = os.lstat(path)
    except FileNotFoundError:
        return None
    if not os.path.isdir(path) or os.path.islink(path):
        return top.st_size
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, dirs, names in os.walk(path, onerror=lambda _err: None):
        for name in dirs + names:  # a link to a directory is listed in dirs, not followed
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:  # gone while walking (a WAL segment recycled)
                continue
            if stat.S_ISDIR(st.st_mode):
                continue
            if st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
            total += st.st_size
    return total


def read_files(pattern: str, limit: int = FILE_LIMIT) -> dict[str, str]:
    """The regular files matching the pattern: base name to content, stripped."""
    out: dict[str, str] = {}
    if not pattern:
        return out
    for path in sorted(glob.glob(pattern)):
        if not os.path.isfile(path):
            continue
        try:
            with open(path, "rb") as fh:
                out[os.path.basename(path)] = fh.read(limit).decode(errors="replace").strip()
        except OSError:  # gone or unreadable: as if it were not there
            continue
    return out


def nearest_existing(path: str) -> str:
    """The path itself when it exists, else its nearest existing ancestor."""
    path = os.path.abspath(path)
    while not os.path.exists(path) and path != os.path.dirname(path):
        path = os.path.dirname(path)
    return path


def gather(filesystems, sizes, files: str, exists, room_for=()) -> dict:
    """Everything the task asked for (OSError from measuring a filesystem propagates)."""
    room = [dict(filesystem(nearest_existing(p)), path=p) for p in room_for]
    return {
        "filesystems": [filesystem(p) for p in filesystems] + room,
        "sizes": {p: tree_size(p) for p in sizes},
        "files": read_files(files),
        "exists": {p: os.path.lexists(p) for p in exists},
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "filesystems": {"type": "list", "elements": "str", "default": []},
            "sizes": {"type": "list", "elements": "str", "default": []},
            "files": {"type": "str", "default": ""},
            "exists": {"type": "list", "elements": "str", "default": []},
            "room_for": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        facts = gather(p["filesystems"], p["sizes"], p["files"], p["exists"], p["room_for"])
    except OSError as exc:
        module.fail_json(msg=f"filesystems: {exc}")
    module.exit_json(changed=False, **facts)


if __name__ == "__main__":
    main()
