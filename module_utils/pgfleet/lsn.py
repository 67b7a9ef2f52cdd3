"""WAL positions (LSNs), WAL segment file names and timeline history files.

An LSN is written 'X/Y': two hexadecimal 32-bit halves of a byte position in the WAL
stream. A WAL segment file is named TTTTTTTTXXXXXXXXYYYYYYYY: timeline, then the segment
number split at 2**32 bytes. The project uses PostgreSQL's default 16 MiB segments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .errors import InputError

WAL_SEGMENT_BYTES = 16 * 1024 * 1024
SEGMENTS_PER_ID = 0x100000000 // WAL_SEGMENT_BYTES

_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")
_SEGMENT = re.compile(r"^[0-9A-F]{24}$")
_HISTORY_NAME = re.compile(r"(?:^|/)([0-9A-Fa-f]{8})\.history$")


def is_lsn(value: Any) -> bool:
    return isinstance(value, str) and _LSN.match(value) is not None


def lsn_int(lsn: Any, name: str = "lsn") -> int:
    """'16/B374D848' -> 97500059720: the byte position in the WAL stream."""
    match = _LSN.match(lsn) if isinstance(lsn, str) else None
    if not match:
        raise InputError(f"{name}: {lsn!r} is not an LSN; expected 'X/Y' in hex, e.g. '0/3000060'")
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def lsn_text(lsn: int) -> str:
    """97500059720 -> '16/B374D848'."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def lsn_diff(lsn: Any, other: Any, name: str = "lsn") -> int:
    """Bytes from other to lsn (positive when lsn is ahead), like pg_wal_lsn_diff(lsn, other)."""
    return lsn_int(lsn, name) - lsn_int(other, name)


def segment_no(name: str) -> int:
    """The number of a WAL segment within its timeline, from its file name."""
    if not _SEGMENT.match(name):
        raise InputError(f"{name!r} is not a WAL segment file name; expected 24 hex digits")
    return int(name[8:16], 16) * SEGMENTS_PER_ID + int(name[16:24], 16)


def segment_name(timeline: int, no: int) -> str:
    """The file name of segment ``no`` on ``timeline``."""
    return f"{timeline:08X}{no // SEGMENTS_PER_ID:08X}{no % SEGMENTS_PER_ID:08X}"


def segment_of(lsn: int) -> int:
    """The number of the segment that holds byte position ``lsn``."""
    return lsn // WAL_SEGMENT_BYTES


def history_switches(text: Any, name: str = "history") -> list[dict[str, Any]]:
    """The lines of a timeline history file, oldest first, as
    {timeline: the parent timeline, lsn: where the child branched off, reason}."""
    if not isinstance(text, str):
        raise InputError(f"{name}: expected the text of a timeline history file")
    out = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        if len(fields) < 2 or not fields[0].strip().isdigit():
            raise InputError(
                f"{name}: {line!r} is not a history line; expected 'parentTLI<TAB>X/Y<TAB>reason'"
            )
        lsn = fields[1].strip()
        lsn_int(lsn, name)
        reason = "\t".join(fields[2:]).strip() if len(fields) > 2 else ""
        out.append({"timeline": int(fields[0]), "lsn": lsn, "reason": reason})
    return out


def history_last(text: Any, name: str = "history") -> dict[str, Any]:
    """The last switch of a history file: the parent timeline and the fork LSN."""
    switches = history_switches(text, name)
    if not switches:
        raise InputError(f"{name}: the history file has no timeline switch")
    return {"timeline": switches[-1]["timeline"], "lsn": switches[-1]["lsn"]}


def history_timeline(names: Iterable[str]) -> int:
    """The highest timeline among history file names (00000003.history -> 3); 0 if none."""
    found = [int(m.group(1), 16) for n in names if (m := _HISTORY_NAME.search(n.strip()))]
    return max(found, default=0)


def history_ancestry(text: Any, timeline: int) -> list[dict[str, Any]]:
    """The ancestry of ``timeline`` from its history file text: one entry per timeline,
    oldest first, with the byte position where it ended (None for ``timeline`` itself)."""
    where = f"history of timeline {timeline}"
    out = [
        {"timeline": s["timeline"], "end": lsn_int(s["lsn"])} for s in history_switches(text, where)
    ]
    out.append({"timeline": int(timeline), "end": None})
    return out
