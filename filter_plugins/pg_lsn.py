"""PostgreSQL WAL positions (LSNs) and replication lag.

An LSN is written 'X/Y': two hexadecimal 32-bit halves. These filters parse and compare
them, and turn pg_stat_replication rows into a lag report with thresholds, for the status
playbook.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")


def pg_lsn_int(lsn: Any, name: str = "lsn") -> int:
    """'16/B374D848' -> 97500059720: the byte position in the WAL stream."""
    match = _LSN.match(lsn) if isinstance(lsn, str) else None
    if not match:
        raise AnsibleFilterError(
            f"{name}: {lsn!r} is not an LSN; expected 'X/Y' in hex, e.g. '0/3000060'"
        )
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def pg_lsn_diff(lsn: Any, other: Any, name: str = "lsn") -> int:
    """Bytes from other to lsn (positive when lsn is ahead), like pg_wal_lsn_diff(lsn, other)."""
    return pg_lsn_int(lsn, name) - pg_lsn_int(other, name)


def pg_history_last(history: Any, name: str = "history") -> dict[str, Any]:
    """The last line of a timeline history file: the timeline the new one branched from
    and the LSN where it did (the fork point of a promotion)."""
    if not isinstance(history, str):
        raise AnsibleFilterError(f"{name}: expected the text of a timeline history file")
    last = None
    for line in history.splitlines():
        fields = line.split("\t") if "\t" in line else line.split()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if len(fields) < 2 or not fields[0].strip().isdigit():
            raise AnsibleFilterError(
                f"{name}: {line!r} is not a history line; expected 'parentTLI<TAB>X/Y<TAB>reason'"
            )
        last = {"timeline": int(fields[0]), "lsn": fields[1].strip()}
        pg_lsn_int(last["lsn"], name)
    if last is None:
        raise AnsibleFilterError(f"{name}: the history file has no timeline switch")
    return last


def pg_replication_report(
    rows: Sequence[Mapping[str, Any]],
    current_lsn: str,
    expected: Sequence[str] = (),
    max_lag_bytes: int = 64 * 1024**2,
    max_lag_seconds: float = 30.0,
    slots: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Per-replica lag (bytes behind the primary's current LSN, replay lag in seconds).

    rows: pg_stat_replication as {name, state, sync_state, replay_lsn, replay_lag_s, ssl}.
    expected: replica names that should be streaming; missing ones are problems.
    slots: the primary's physical slots as {name, active, wal_status, invalidation_reason};
    a slot that no longer holds WAL for its replica (invalidated, or lost) is a problem.
    """
    problems: list[str] = []
    replicas: dict[str, Any] = {}
    for row in rows:
        name = row.get("name") or "?"
        replay = row.get("replay_lsn")
        lag_bytes = pg_lsn_diff(current_lsn, replay, f"{name}.replay_lsn") if replay else None
        lag_s = row.get("replay_lag_s")
        lag_s = float(lag_s) if lag_s is not None else 0.0  # NULL: nothing to replay lately
        replicas[name] = {
            "state": row.get("state"),
            "sync_state": row.get("sync_state"),
            "ssl": row.get("ssl"),
            "lag_bytes": lag_bytes,
            "lag_seconds": round(lag_s, 3),
        }
        if row.get("state") != "streaming":
            problems.append(f"{name} is {row.get('state')}, not streaming")
        if lag_bytes is not None and lag_bytes > max_lag_bytes:
            problems.append(f"{name} is {lag_bytes} bytes behind (limit {max_lag_bytes})")
        if lag_s > max_lag_seconds:
            problems.append(f"{name} replays {lag_s:.1f} s behind (limit {max_lag_seconds} s)")
        if row.get("ssl") is False:
            problems.append(f"{name} streams without TLS")
    for name in expected:
        if name not in replicas:
            problems.append(f"{name} is not connected to the primary")
    slot_states: dict[str, Any] = {}
    for slot in slots or []:
        name = slot.get("name") or "?"
        slot_states[name] = {
            "active": slot.get("active"),
            "wal_status": slot.get("wal_status"),
            "invalidation_reason": slot.get("invalidation_reason"),
        }
        if slot.get("invalidation_reason") or slot.get("wal_status") == "lost":
            reason = slot.get("invalidation_reason") or "wal_status lost"
            problems.append(
                f"slot {name} was invalidated ({reason}): it keeps no WAL for its replica; "
                "site.yml recreates it and the replica catches up from the archive"
            )
    return {"replicas": replicas, "slots": slot_states, "problems": problems}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "pg_lsn_int": pg_lsn_int,
            "pg_lsn_diff": pg_lsn_diff,
            "pg_history_last": pg_history_last,
            "pg_replication_report": pg_replication_report,
        }
