"""Failover decisions that deserve unit tests: which standby to promote, how much data a
failover may have lost, where a timeline ended and which timelines a repository holds.

The most advanced survivor wins: a standby that received more WAL than the promoted one
could not follow it (its WAL would be ahead of the new timeline's fork point), and every
byte it has that the promoted one lacks would be lost.

A promotion starts a new timeline and writes its history file: one line per ancestor
timeline, 'parentTLI<TAB>switchpoint<TAB>reason'. The switch point of a node's timeline is
where its history and the new primary's part; pg_rewind (rejoin.yml) discards what the
node wrote after it. The highest timeline in the WAL repository is the newest history any
node was promoted into.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from pgfleet import lsn
from pgfleet.filters import wrap

pg_lsn_int = wrap(lsn.lsn_int, AnsibleFilterError)

# Repository names that carry a timeline (the first 8 hex digits): history files
# (00000002.history) and WAL segments (000000020000000000000005), partial ones, .backup
# labels, and pgBackRest's archived copies (…-<sha1>.gz, .zst, …), under any directory.
_TIMELINE_FILE = re.compile(
    r"^([0-9A-Fa-f]{8})(?:\.history|[0-9A-Fa-f]{16}(?:\.partial|\.[0-9A-Fa-f]{8}\.backup)?)"
    r"(?:-[0-9A-Fa-f]{40})?(?:\.[A-Za-z0-9]+)?$"
)


def _lsn(value: Any, name: str) -> int | None:
    return None if value in (None, "") else pg_lsn_int(value, name)


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise AnsibleFilterError(
            f"{name}: {value!r} is not a boolean; expected true or false (add | bool)"
        )
    return value


def _timeline(value: Any, name: str) -> int | None:
    """A timeline ID: a positive int, or its decimal digits (templating makes strings)."""
    if value in (None, ""):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AnsibleFilterError(
            f"{name}: {value!r} is not a timeline; expected a positive integer, e.g. 2"
        )
    return value


def pg_failover_choice(
    nodes: Mapping[str, Mapping[str, Any]],
    failed: Any,
    requested: Any = None,
    force: bool = False,
) -> dict[str, Any]:
    """Rank the standbys that survive the loss of `failed` and pick one.

    nodes: host -> topology probe {running, in_recovery, timeline, receive_lsn, replay_lsn,
    unreachable}. A candidate is running, in recovery and reports a WAL position; what it
    received is the larger of receive_lsn and replay_lsn (a standby restoring from the
    archive replays WAL it never received by streaming).
    Ranking: highest timeline, then most WAL received, then replayed, then name.
    requested (failover_to) is refused when it cannot be promoted, or is behind the best
    (fewer bytes, or an older timeline) unless force (failover_force).
    Returns {ok, candidate, ranking, problems, summary}; candidate is None unless ok.
    """
    if not isinstance(nodes, Mapping):
        raise AnsibleFilterError(
            f"failover probes: {nodes!r} is not a mapping; expected host -> probe result"
        )
    if not isinstance(failed, str) or not failed:
        raise AnsibleFilterError(
            f"failover_from: {failed!r} is not a host name; "
            "expected the failed primary's inventory name"
        )
    if requested in ("", None):
        requested = None
    elif not isinstance(requested, str):
        raise AnsibleFilterError(
            f"failover_to: {requested!r} is not a host name; "
            "expected the inventory name of a running standby"
        )
    force = _bool(force, "failover_force")
    for host, node in nodes.items():
        if not isinstance(node, Mapping):
            raise AnsibleFilterError(
                f"{host}: the probe result {node!r} is not a mapping; expected {{running, "
                "in_recovery, timeline, receive_lsn, replay_lsn}"
            )

    problems: list[str] = []
    ranking: list[dict[str, Any]] = []
    why_not: dict[str, str] = {}
    for host in sorted(nodes):
        node = nodes[host]
        if host == failed:
            why_not[host] = "it is the failed primary"
            continue
        if node.get("unreachable"):
            why_not[host] = "it is unreachable"
            continue
        if not node.get("running"):
            why_not[host] = "it is down"
            continue
        if not node.get("in_recovery"):
            why_not[host] = "it is not a standby (it accepts writes)"
            problems.append(
                f"{host} is already writable (running and not in recovery): a second primary "
                "is never made, so nothing was promoted"
            )
            continue
        received = _lsn(node.get("receive_lsn"), f"{host}.receive_lsn")
        replayed = _lsn(node.get("replay_lsn"), f"{host}.replay_lsn")
        timeline = _timeline(node.get("timeline"), f"{host}.timeline")
        if received is None and replayed is None:
            why_not[host] = "it reports no WAL position (neither received nor replayed)"
            continue
        most = max(x for x in (received, replayed) if x is not None)
        ranking.append(
            {
                "host": host,
                "timeline": timeline,
                "received": node["receive_lsn"] if most == received else node["replay_lsn"],
                "replayed": node.get("replay_lsn") or None,
                "_timeline": timeline or 0,
                "_received": most,
                "_replayed": -1 if replayed is None else replayed,
            }
        )
    ranking.sort(key=lambda r: (-r["_timeline"], -r["_received"], -r["_replayed"], r["host"]))
    top = ranking[0] if ranking else None
    for r in ranking:
        r["behind_bytes"] = top["_received"] - r["_received"]

    if top is None:
        survivors = [f"{h}: {w}" for h, w in sorted(why_not.items()) if h != failed]
        problems.append(
            "no running standby can be promoted: "
            + ("; ".join(survivors) if survivors else f"no host but {failed} was probed")
        )
    candidate = top["host"] if top else None
    chosen = next((r for r in ranking if r["host"] == requested), None)
    if requested is not None and chosen is None:
        reason = why_not.get(requested, "it is not in the inventory's postgresql group")
        problems.append(f"failover_to={requested} cannot be promoted: {reason}")
    elif chosen is not None and top is not None:
        older = chosen["_timeline"] < top["_timeline"]
        if (older or chosen["behind_bytes"] > 0) and not force:
            gap = (
                f"on timeline {chosen['timeline']}, older than {top['host']}'s timeline "
                f"{top['timeline']},"
                if older
                else f"{chosen['behind_bytes']} bytes behind {top['host']}"
            )
            problems.append(
                f"failover_to={requested} is {gap} (received {chosen['received']} vs "
                f"{top['received']}): promoting it would lose "
                + ("the WAL of the newer timeline" if older else "those bytes")
                + f" and {top['host']} could not follow it; choose {top['host']} or add "
                "failover_force=true"
            )
        candidate = requested

    lines = []
    for r in ranking:
        if r is top:
            note = "most advanced"
        elif r["_timeline"] < top["_timeline"]:
            note = f"on an older timeline than {top['host']}"
        else:
            note = f"{r['behind_bytes']} bytes behind {top['host']}"
        if r["host"] == candidate and not problems:
            behind = r["_timeline"] < top["_timeline"] or r["behind_bytes"] > 0
            note += ", chosen with failover_force" if behind else ", chosen"
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
    Returns {bytes, acknowledged_lost, text}: bytes is None when unknown; acknowledged_lost
    is 0 when no acknowledged commit can be lost, None when some may have been.
    """
    fork = pg_lsn_int(fork_lsn, "fork_lsn")
    end = None if old_end_lsn in (None, "") else pg_lsn_int(old_end_lsn, "old_end_lsn")
    synchronous = _bool(synchronous, "synchronous")
    lost = None if end is None else max(0, end - fork)
    if synchronous:
        text = (
            "no acknowledged commit is lost (synchronous replication: every acknowledged "
            "commit reached a standby before the client was answered)"
        )
        if lost:
            text += (
                f"; {lost} bytes of WAL the old primary wrote after {fork_lsn} were never "
                "acknowledged and are discarded"
            )
        return {"bytes": lost, "acknowledged_lost": 0, "text": text}
    if lost is None:
        text = (
            f"unknown until the old primary's WAL past {fork_lsn} can be read (asynchronous "
            "replication); rejoin.yml records the exact range it discards"
        )
    elif lost == 0:
        text = "0 bytes: the new primary had everything the old primary wrote"
    else:
        text = (
            f"up to {lost} bytes of WAL written on the old primary after {fork_lsn} were not "
            "replicated (asynchronous replication)"
        )
    return {"bytes": lost, "acknowledged_lost": 0 if lost == 0 else None, "text": text}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "pg_failover_choice": pg_failover_choice,
            "pg_data_loss": pg_data_loss,
        }
