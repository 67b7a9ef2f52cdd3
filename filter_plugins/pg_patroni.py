"""Patroni decisions that deserve unit tests: what of the cluster-wide configuration in
etcd differs from the inventory, and what the status report says about a Patroni cluster.

etcd's copy of the configuration is written once when Patroni takes over (bootstrap.dcs)
and then only through the REST API (PATCH /config), so a changed inventory value must be
compared with etcd's copy and sent as a patch. Values are compared as PostgreSQL would
read them: 100 and "100" are the same, so are true, "on" and "true".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

_TRUE = {"on", "true", "yes", "1"}
_FALSE = {"off", "false", "no", "0"}


def _same(want: Any, have: Any) -> bool:
    if isinstance(want, bool) or isinstance(have, bool):
        w = str(want).lower()
        h = str(have).lower()
        return (w in _TRUE and h in _TRUE) or (w in _FALSE and h in _FALSE)
    if want is None or have is None:
        return want is None and have is None
    return str(want).strip().lower() == str(have).strip().lower()


def _diff(want: Any, current: Any, path: str) -> dict[str, Any]:
    if not isinstance(want, Mapping):
        raise AnsibleFilterError(
            f"patroni_config_diff: {path or 'the wanted configuration'} is not a mapping"
        )
    have = current if isinstance(current, Mapping) else {}
    diff: dict[str, Any] = {}
    for key, value in want.items():
        here = f"{path}.{key}" if path else str(key)
        if isinstance(value, Mapping):
            sub = _diff(value, have.get(key), here)
            if sub:
                diff[key] = sub
        elif key not in have or not _same(value, have[key]):
            diff[key] = value
    return diff


def patroni_config_diff(want: Any, current: Any) -> dict[str, Any]:
    """The part of `want` that `current` lacks or holds with another value (a PATCH body).

    Keys only `current` has are left alone (Patroni's own, or set by hand with
    patronictl edit-config).
    """
    return _diff(want, current, "")


def _json(value: Any, what: str) -> tuple[Any, str | None]:
    """A probe's JSON (a dict, or the text of one), or the reason there is none."""
    if isinstance(value, Mapping):
        return value, None
    if isinstance(value, str) and value.strip():
        try:
            return json.loads(value), None
        except ValueError:
            return None, f"{what}: unreadable answer"
    return None, f"{what}: no answer"


def pg_patroni_status(
    cluster: Any,
    config: Any = None,
    etcd: Any = None,
    watchdogs: Any = None,
    thresholds: Any = None,
) -> dict[str, Any]:
    """The Patroni part of status.yml: what the on-call engineer reads, and the problems.

    cluster: Patroni's GET /cluster (members, pause, ...); config: GET /config;
    etcd: `etcdctl endpoint health --cluster -w json` (a list of {endpoint, health,
    error}); watchdogs: host -> whether /dev/watchdog exists; thresholds: max_lag_bytes.
    Returns {leader, members, timeline, paused, failsafe, synchronous_mode, etcd,
    watchdog, lines, problems}.
    """
    problems: list[str] = []
    data, err = _json(cluster, "Patroni (GET /cluster)")
    if err:
        return {
            "leader": None,
            "members": {},
            "paused": None,
            "lines": [f"patroni:     {err}"],
            "problems": [f"{err}: the Patroni agent on the primary does not answer"],
        }
    conf, _ = _json(config, "config")
    conf = conf or {}
    max_lag = int((thresholds or {}).get("max_lag_bytes", 64 * 1024 * 1024))
    members = {}
    for m in data.get("members", []):
        lag = m.get("lag")
        members[m["name"]] = {
            "role": m.get("role"),
            "state": m.get("state"),
            "timeline": m.get("timeline"),
            "lag_bytes": lag if isinstance(lag, int) else None,
        }
    leaders = [n for n, m in members.items() if m["role"] in ("leader", "standby_leader")]
    leader = leaders[0] if leaders else None
    if not leader:
        problems.append("Patroni has no leader: no node accepts writes through port 5000")
    for name, m in sorted(members.items()):
        if name == leader:
            if m["state"] != "running":
                problems.append(f"the leader {name} is {m['state']}")
            continue
        if m["state"] not in ("streaming", "running"):
            problems.append(f"{name} is {m['state']}, not streaming from the leader")
        if m["lag_bytes"] is None and leader:
            problems.append(f"{name} has no known lag (not replicating)")
        elif m["lag_bytes"] is not None and m["lag_bytes"] > max_lag:
            problems.append(f"{name} is {m['lag_bytes']} bytes behind the leader (limit {max_lag})")
    paused = bool(data.get("pause"))
    if paused:
        problems.append("Patroni is paused: no automatic failover until `patronictl resume`")
    sync = conf.get("synchronous_mode", False)
    sync_names = [n for n, m in members.items() if m["role"] in ("sync_standby", "quorum_standby")]
    if sync and leader and not sync_names and len(members) > 1:
        problems.append(f"synchronous mode {sync} but no standby is synchronous")

    health, etcd_err = (etcd, None) if isinstance(etcd, list) else _json(etcd, "etcd")
    etcd_lines, healthy, total = [], 0, 0
    if etcd_err or not isinstance(health, list):
        problems.append(f"etcd: {etcd_err or 'no health report'}")
    else:
        for e in sorted(health, key=lambda e: str(e.get("endpoint"))):
            total += 1
            healthy += bool(e.get("health"))
            state = "healthy" if e.get("health") else f"UNHEALTHY {e.get('error') or ''}"
            etcd_lines.append(f"{e.get('endpoint')} {state}".strip())
        if total and healthy <= total // 2:
            problems.append(
                f"etcd has lost its quorum ({healthy} of {total} members healthy): "
                "Patroni keeps the primary only in failsafe mode"
            )
        elif healthy < total:
            problems.append(f"etcd: {total - healthy} of {total} members unhealthy (quorum kept)")
    without = sorted(h for h, has in (watchdogs or {}).items() if not has)
    watchdog = (
        "none: no /dev/watchdog on "
        + ", ".join(without)
        + " (containers have none); a hung leader is demoted by its ttl, not reset by the kernel"
        if without
        else "on every member (Patroni mode automatic)"
    )
    failsafe = conf.get("failsafe_mode")
    timeline = members.get(leader, {}).get("timeline") if leader else None
    member_text = "; ".join(
        f"{n} {m['role']}/{m['state']}" + ("" if n == leader else f" lag {m['lag_bytes']} B")
        for n, m in sorted(members.items())
    )
    lines = [
        f"patroni:     leader {leader or 'NONE'}, timeline {timeline}, "
        f"{'PAUSED' if paused else 'not paused'}, failsafe {'on' if failsafe else 'off'}, "
        f"synchronous mode {sync or 'off'}"
        + (f" ({', '.join(sorted(sync_names))} synchronous)" if sync_names else ""),
        f"members:     {member_text}",
        f"etcd:        {healthy}/{total} healthy; " + "; ".join(etcd_lines),
        f"watchdog:    {watchdog}",
    ]
    return {
        "leader": leader,
        "members": members,
        "timeline": timeline,
        "paused": paused,
        "failsafe": failsafe,
        "synchronous_mode": sync,
        "synchronous": sorted(sync_names),
        "etcd": {"healthy": healthy, "members": total, "endpoints": etcd_lines},
        "watchdog": watchdog,
        "lines": lines,
        "problems": problems,
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"patroni_config_diff": patroni_config_diff, "pg_patroni_status": pg_patroni_status}
