"""Holes in the WAL archive: WAL pgBackRest acknowledged to PostgreSQL and then dropped at
archive-push-queue-max, so no restore crosses it.

``classify(doc, last_archived_wal)`` reads the document of ``postgresql-restore repo`` (the
repository's info, the timeline read and its history, each timeline's newest segment and
the holes found in the archive) and the primary's pg_stat_archiver.last_archived_wal. It
is shared by status.yml (filter pgbackrest_holes_report) and by the hourly check on the
primary (postgresql-restore walcheck, whose result pgfleet-metrics turns into metrics), so
the two never disagree:

- a hole no backup started after is a problem (``open``): no restore reaches a time after
  it, restore to the latest point included;
- once a backup started after it, it is a warning (``closed``): targets inside it cannot be
  restored;
- PostgreSQL counting a segment as archived that is newer than the repository's newest on
  its timeline means the segments after that were dropped too (a hole nothing has closed
  yet): a problem;
- a hole on a branch the timeline left (another timeline, or its ancestor past the switch
  point) is listed with on_history false and is neither.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .lsn import history_ancestry, lsn_int

SEGMENT_NAME = re.compile(r"^[0-9A-F]{24}$")


def segment_no(name: str) -> int:
    """A WAL segment's number within its timeline (16 MiB segments, 256 per log id)."""
    return int(name[8:16], 16) * 256 + int(name[16:24], 16)


def classify(doc: Mapping[str, Any], last_archived_wal: str = "") -> dict[str, Any]:
    """{holes, problems, warnings, open, closed}: every hole with after_backup and
    on_history, the sentences for status.yml, and how many holes are open (problems) and
    closed (warnings)."""
    out: dict[str, Any] = {"holes": [], "problems": [], "warnings": []}
    backups = [
        b
        for b in (doc.get("info") or {}).get("backup") or []
        if isinstance(b, Mapping)
        and not b.get("error")
        and (b.get("lsn") or {}).get("start")
        and (b.get("archive") or {}).get("start")
    ]
    # Only holes on the history of the timeline the tool read (the primary's) matter: one on
    # a branch that timeline left (past the switch point) is on no restore's path.
    ends = None
    if doc.get("timeline"):
        ancestry = history_ancestry(doc.get("history") or "", int(doc["timeline"]))
        ends = {a["timeline"]: a["end"] for a in ancestry}
    for hole in doc.get("holes") or []:
        timeline = int(hole["timeline"])
        end = lsn_int(hole["lsn_end"], "hole lsn_end")
        start = lsn_int(hole["lsn_start"], "hole lsn_start")
        if ends is not None and (
            timeline not in ends or (ends[timeline] is not None and start >= ends[timeline])
        ):
            out["holes"].append(dict(hole, after_backup=None, on_history=False))
            continue
        after = [
            b
            for b in backups
            if int(str(b["archive"]["start"])[:8], 16) >= timeline
            and lsn_int(b["lsn"]["start"], "backup lsn") >= end
        ]
        label = after[0].get("label") if after else None
        out["holes"].append(dict(hole, after_backup=label, on_history=True))
        where = (
            f"timeline {timeline}, LSN {hole['lsn_start']} to {hole['lsn_end']}, segments "
            f"{hole['first']}..{hole['last']}"
        )
        since, until = hole.get("from") or "?", hole.get("to") or "?"
        if label:
            out["warnings"].append(
                f"targets between {since} and {until} cannot be restored: WAL dropped ({where}); "
                f"backups from {label} on are not affected"
            )
        else:
            out["problems"].append(
                f"WAL dropped from the archive between {since} and {until} ({where}), and no "
                f"backup started after it: no restore reaches a time after {since}, the latest "
                "point included. Take a full backup now (pgbackrest-scheduled full)"
            )
    wal = str(last_archived_wal or "")
    if SEGMENT_NAME.match(wal):
        timeline = int(wal[:8], 16)
        end = (doc.get("ends") or {}).get(str(timeline))
        if end is None or segment_no(wal) > segment_no(str(end.get("segment"))):
            held = (
                f"ends at {end.get('segment')} on timeline {timeline}"
                if end
                else f"holds no segment of timeline {timeline}"
            )
            out["problems"].append(
                f"PostgreSQL counts WAL up to {wal} as archived, but the repository {held}: "
                "pgBackRest dropped the segments after it (archive-push-queue-max); "
                "point-in-time recovery past it is broken until a new full backup"
            )
    out["open"] = len(out["problems"])
    out["closed"] = len(out["warnings"])
    return out
