"""Failover decisions that deserve unit tests: which standby to promote, and how much
data a failover may have lost.

The most advanced survivor wins: a standby that received more WAL than the promoted one
could not follow it (its WAL would be ahead of the new timeline's fork point), and every
byte it has that the promoted one lacks would be lost.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleFilterError

# Ansible loads each file of filter_plugins/ by its path, under a module name of its own,
# and does not put the directory on sys.path. Adding it lets the files here import each
# other as plain modules, the same way under Ansible and under pytest.
_FILTER_PLUGINS = str(Path(__file__).resolve().parent)
if _FILTER_PLUGINS not in sys.path:
    sys.path.append(_FILTER_PLUGINS)

from pg_lsn import pg_lsn_int  # noqa: E402


def _lsn(value: Any, name: str) -> int | None:
    return None if value in (None, "") else pg_lsn_int(value, name)


def pg_failover_choice(
    nodes: Mapping[str, Mapping[str, Any]],
    failed: Any,
    requested: Any = None,
    force: bool = False,
) -> dict[str, Any]:
    """Rank the standbys that survive the loss of `failed` and pick one.

    nodes: host -> topology probe {running, in_recovery, timeline, receive_lsn, replay_lsn}.
    Ranking: highest timeline, then most WAL received, then replayed, then name.
    requested (failover_to) is refused when behind the best, unless force.
    Returns {ok, candidate, ranking, problems, summary}.
    """
    if not isinstance(nodes, Mapping):
        raise AnsibleFilterError("pg_failover_choice: expected host -> probe result")
    if not isinstance(failed, str) or not failed:
        raise AnsibleFilterError(
            f"failover_from: {failed!r} is not a host name; "
            "expected the failed primary's inventory name"
        )
    if requested in ("", None):
        requested = None
    elif not isinstance(requested, str):
        raise AnsibleFilterError(f"failover_to: {requested!r} is not a host name")

    problems: list[str] = []
    writable = sorted(
        h for h, n in nodes.items() if h != failed and n.get("running") and not n.get("in_recovery")
    )
    for host in writable:
        problems.append(
            f"{host} is already writable: a second primary is never made; nothing was promoted"
        )

    ranking: list[dict[str, Any]] = []
    why_not: dict[str, str] = {}
    for host in sorted(nodes):
        node = nodes[host]
        if host == failed:
            why_not[host] = "it is the failed primary"
            continue
        if not node.get("running"):
            why_not[host] = "it is unreachable" if node.get("unreachable") else "it is down"
            continue
        if not node.get("in_recovery"):
            why_not[host] = "it is not a standby"
            continue
        received = _lsn(node.get("receive_lsn"), f"{host} receive_lsn")
        replayed = _lsn(node.get("replay_lsn"), f"{host} replay_lsn")
        best = max(x for x in (received, replayed, -1) if x is not None)
        if best < 0:
            why_not[host] = "it reports no WAL position"
            continue
        ranking.append(
            {
                "host": host,
                "timeline": int(node.get("timeline") or 0),
                "received": node.get("receive_lsn") or node.get("replay_lsn"),
                "replayed": node.get("replay_lsn"),
                "_received": best,
                "_replayed": replayed if replayed is not None else -1,
            }
        )
    ranking.sort(key=lambda r: (-r["timeline"], -r["_received"], -r["_replayed"], r["host"]))
    top = ranking[0] if ranking else None
    for r in ranking:
        r["behind_bytes"] = (
            top["_received"] - r["_received"] if r["timeline"] == top["timeline"] else None
        )

    candidate = top["host"] if top else None
    if not ranking:
        problems.append(
            "no running standby can be promoted: "
            + "; ".join(f"{h}: {w}" for h, w in sorted(why_not.items()) if h != failed)
        )
    elif requested is not None:
        chosen = next((r for r in ranking if r["host"] == requested), None)
        if chosen is None:
            reason = why_not.get(requested, "it is not in the inventory's postgresql group")
            problems.append(f"failover_to={requested} cannot be promoted: {reason}")
        elif chosen["behind_bytes"] != 0 and not force:
            gap = chosen["behind_bytes"]
            problems.append(
                f"failover_to={requested} is "
                + (f"{gap} bytes" if gap is not None else "a timeline")
                + f" behind {top['host']} (received {chosen['received']} vs {top['received']}): "
                f"promoting it would lose that WAL and {top['host']} could not follow it; "
                f"choose {top['host']} or add failover_force=true"
            )
        else:
            candidate = requested

    lines = []
    for r in ranking:
        note = (
            "most advanced"
            if r is top
            else f"{r['behind_bytes']} bytes behind {top['host']}"
            if r["behind_bytes"] is not None
            else f"on an older timeline than {top['host']}"
        )
        if r["host"] == candidate and r["behind_bytes"] != 0 and r is not top:
            note += ", chosen with failover_force"
        elif r["host"] == candidate:
            note += ", chosen"
        lines.append(
            f"{r['host']}: timeline {r['timeline']}, received {r['received']}, "
            f"replayed {r['replayed']} ({note})"
        )
    clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in ranking]
    return {
        "ok": not problems,
        "candidate": candidate if not problems else None,
        "ranking": clean,
        "problems": problems,
        "summary": "; ".join(lines) or "no candidate",
    }


def pg_data_loss(
    fork_lsn: Any, old_end_lsn: Any = None, synchronous: bool = False
) -> dict[str, Any]:
    """The data-loss bound of a failover: WAL the old primary wrote past the fork point.

    Under synchronous replication no acknowledged commit is lost (each reached a standby,
    and the most advanced one was promoted). Under async replication the bound is the bytes
    from the fork to the old primary's end of WAL, unknown until that WAL can be read.
    """
    fork = pg_lsn_int(fork_lsn, "fork_lsn")
    end = None if old_end_lsn in (None, "") else pg_lsn_int(old_end_lsn, "old_end_lsn")
    lost = None if end is None else max(0, end - fork)
    if synchronous:
        text = (
            "no acknowledged commit is lost (synchronous replication: each reached a standby "
            "before the client was answered)"
        )
        if lost:
            text += (
                f"; {lost} bytes of WAL the old primary wrote after {fork_lsn} "
                "were never acknowledged"
            )
        return {"bytes": lost, "acknowledged_lost": 0, "text": text}
    if lost is None:
        text = (
            f"unknown: asynchronous replication, and the old primary's WAL past {fork_lsn} "
            "cannot be read now; rejoin.yml records the exact range it discards"
        )
    elif lost == 0:
        text = "0 bytes: the new primary had everything the old primary wrote"
    else:
        text = (
            f"up to {lost} bytes of WAL written on the old primary after {fork_lsn} were not "
            "replicated (asynchronous replication)"
        )
    return {"bytes": lost, "acknowledged_lost": None if lost else 0, "text": text}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"pg_failover_choice": pg_failover_choice, "pg_data_loss": pg_data_loss}
