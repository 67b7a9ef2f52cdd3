"""Where a lost primary's WAL ends, and what of it a rejoin discards.

pg_waldump from the fork point on the fork's timeline reads the node's own pg_wal up to the
first invalid record: its last line names that position, the end of what the node wrote.
pg_rewind --dry-run names the fork point ("servers diverged at WAL location X/Y on
timeline N"). The WAL segments from the fork's segment on are kept as forensic copies.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
from collections.abc import Iterable

from . import lsn as _lsn

_LSN = re.compile(r"[0-9A-F]+/[0-9A-F]+")
_DIVERGED = re.compile(r"servers diverged at WAL location ([0-9A-F]+/[0-9A-F]+) on timeline (\d+)")


def fork_point(rewind_output: str) -> tuple[str, int] | None:
    """(LSN, timeline) where pg_rewind says the servers diverged; None when it does not."""
    match = _DIVERGED.search(rewind_output or "")
    return (match.group(1), int(match.group(2))) if match else None


def last_lsn(waldump_output: str) -> str:
    """The last LSN on pg_waldump's last line ('' when none): on its closing error line
    ("invalid record length at X/Y") the end of the valid WAL."""
    lines = [line for line in (waldump_output or "").splitlines() if line.strip()]
    found = _LSN.findall(lines[-1]) if lines else []
    return found[-1] if found else ""


def segments_from(
    names: Iterable[str], timeline: int, fork: str, end: str | None = None
) -> list[str]:
    """The WAL segment files of ``timeline`` from the one that holds ``fork`` on, sorted; with
    ``end`` (where the valid WAL ends) only up to the one that holds it: the later files are
    recycled segments, with nothing the node wrote on this timeline."""
    tl = int(timeline)
    first = _lsn.segment_name(tl, _lsn.segment_of(_lsn.lsn_int(fork, "fork")))
    last = _lsn.segment_name(tl, _lsn.segment_of(_lsn.lsn_int(end, "end"))) if end else None
    prefix = f"{tl:08X}"
    return sorted(
        n
        for n in names
        if re.fullmatch(r"[0-9A-F]{24}", n)
        and n.startswith(prefix)
        and n >= first
        and (last is None or n <= last)
    )


def wal_end(
    bin_dir: str, data_dir: str, fork: str, timeline: int, forensics: str | None = None
) -> str:
    """Run pg_waldump on the node's pg_wal from the fork; its end of WAL ('' when it cannot
    be read). With ``forensics`` (an existing directory) the records go to waldump.txt there
    and the segments from the fork to that end (every one from the fork on when the end is
    unknown) are copied to its wal/ folder."""
    wal = os.path.join(data_dir, "pg_wal")
    argv = [
        os.path.join(bin_dir, "pg_waldump"), "-p", wal, "-t", str(int(timeline)), "-s", fork,
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=600, check=False,
            env={**os.environ, "LC_ALL": "C"},
        )  # fmt: skip
        output = (proc.stdout or "") + (proc.stderr or "")
    except (OSError, subprocess.TimeoutExpired) as exc:
        output = f"{' '.join(argv)}: {exc}\n"
    end = last_lsn(output)
    if forensics:
        with open(os.path.join(forensics, "waldump.txt"), "w") as fh:
            fh.write(output)
        target = os.path.join(forensics, "wal")
        os.makedirs(target, exist_ok=True)
        names = os.listdir(wal) if os.path.isdir(wal) else []
        for name in segments_from(names, timeline, fork, end or None):
            shutil.copy2(os.path.join(wal, name), target)
    return end


def own_tree(path: str, user: str = "postgres") -> None:
    """chown -R user: a forensic copy belongs to the postgres user, like its data."""
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.chown(name, entry.pw_uid, entry.pw_gid)
