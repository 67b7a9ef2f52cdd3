"""A primary's replication state (pg_stat_replication and its slots) as a lag report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .lsn import lsn_diff


def report(
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
        lag_bytes = lsn_diff(current_lsn, replay, f"{name}.replay_lsn") if replay else None
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
