"""Patroni decisions that deserve unit tests: what of the cluster-wide configuration in
etcd differs from the inventory, what the status report says about a Patroni cluster,
which leader name a hook or a report may use (only an inventory member), which client
networks HAProxy admits (the ones pg_hba admits), and whether a forced reinitialise keeps
a forensic copy first.

etcd's copy of the configuration is written once when Patroni takes over (bootstrap.dcs)
and then only through the REST API (PATCH /config), so a changed inventory value must be
compared with etcd's copy and sent as a patch. Values are compared as PostgreSQL would
read them: 100 and "100" are the same, so are true, "on" and "true".
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from pgfleet.boolean import is_bool, parse_bool


def _same(want: Any, have: Any) -> bool:
    if isinstance(want, bool) or isinstance(have, bool):
        # on/true/yes/1 and off/false/no/0, as PostgreSQL and Patroni read them.
        return is_bool(want) and is_bool(have) and parse_bool(want) == parse_bool(have)
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
    inventory: Any = None,
) -> dict[str, Any]:
    """The Patroni part of status.yml: what the on-call engineer reads, and the problems.

    cluster: Patroni's GET /cluster (members, pause, ...); config: GET /config;
    etcd: `etcdctl endpoint health --cluster -w json` (a list of {endpoint, health,
    error}); watchdogs: host -> whether /dev/watchdog exists; thresholds: max_lag_bytes;
    inventory: the inventory's members (the postgresql group). A leader or member name
    that is not an inventory member came from something other than this cluster's
    Patroni writing etcd: it is a problem, and the report names no such leader.
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
    if inventory is not None:
        known = _inventory(inventory, "pg_patroni_status")
        strangers = sorted(n for n in members if n not in known)
        if strangers:
            problems.append(
                "Patroni lists members that are not in the inventory's postgresql group: "
                + ", ".join(repr(n) for n in strangers)
                + " (something other than this cluster's Patroni writes etcd)"
            )
        members = {n: m for n, m in members.items() if n in known}
        if leader not in known:
            leader = None
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


def _inventory(value: Any, what: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise AnsibleFilterError(f"{what}: the inventory members must be a list of host names")
    return [str(v) for v in value]


def pg_patroni_leader(members: Any, inventory: Any) -> dict[str, Any]:
    """The leader in Patroni's member list (GET /cluster `members`, or `patronictl list`
    rows), accepted only when it is an inventory member.

    A name read from etcd is not trusted: anything holding an etcd client certificate can
    write the leader key. A promotion hook, a report or a decision takes the leader from
    here: {leader: the name or None, problems: [...]}.
    """
    known = _inventory(inventory, "pg_patroni_leader")
    if isinstance(members, Mapping):
        members = members.get("members", [])
    if isinstance(members, str) or not isinstance(members, Iterable):
        raise AnsibleFilterError("pg_patroni_leader: expected Patroni's member list")
    names = []
    for m in members:
        if not isinstance(m, Mapping):
            continue
        role = str(m.get("role", m.get("Role", ""))).lower().replace(" ", "_")
        if role in ("leader", "standby_leader"):
            names.append(str(m.get("name", m.get("Member", ""))))
    if not names:
        return {"leader": None, "problems": ["Patroni names no leader"]}
    if len(set(names)) > 1:
        return {
            "leader": None,
            "problems": [f"Patroni names more than one leader: {', '.join(sorted(set(names)))}"],
        }
    if names[0] not in known:
        return {
            "leader": None,
            "problems": [
                f"Patroni's leader {names[0]!r} (read from etcd) is not a member of the "
                f"inventory's postgresql group ({', '.join(known)}): refused. Something other "
                "than this cluster's Patroni wrote etcd's leader key; check who holds an etcd "
                "client certificate"
            ],
        }
    return {"leader": names[0], "problems": []}


_NOT_MEMBER = "NOT AN INVENTORY MEMBER"


def pg_patroni_history(rows: Any, inventory: Any) -> list[dict[str, Any]]:
    """patronictl history rows ({TL, LSN, Reason, Timestamp, New Leader}) for a report.

    A leader name read from etcd is not trusted (see pg_patroni_leader): one that is not an
    inventory member is not repeated, it reads NOT AN INVENTORY MEMBER.
    """
    known = _inventory(inventory, "pg_patroni_history")
    if isinstance(rows, str) or not isinstance(rows, Iterable):
        raise AnsibleFilterError("pg_patroni_history: expected patronictl history rows")
    out = []
    for row in rows:
        if not isinstance(row, Mapping):
            raise AnsibleFilterError(f"pg_patroni_history: a row is not a mapping: {row!r}")
        name = str(row.get("New Leader", ""))
        out.append({**row, "New Leader": name if not name or name in known else _NOT_MEMBER})
    return out


def _network(value: str, where: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise AnsibleFilterError(f"{where}: {value!r} is not a network ({exc})") from exc


def _covers(have: list[str], want: list[str]) -> bool:
    return "all" in have or set(want) <= set(have)


def pg_haproxy_sources(
    entries: Any,
    members: Any,
    own: str = "",
    name: str = "postgresql_server_hba_entries",
) -> dict[str, Any]:
    """The client networks HAProxy admits on 5000/5001: those of the pg_hba entries a client
    uses (every entry but the replication-only ones), so one variable drives both.

    members: member name -> address (ansible_host). PostgreSQL sees HAProxy's address (the
    member's) for every session it forwards, so each client entry's users and databases
    must also be admitted from every member's address; a missing one is a problem naming
    the entry and the member. `samehost` is the member's own address (own); `samenet`
    cannot be expressed at HAProxy and is a problem.
    Returns {networks: [CIDR, ...], problems: [...]}.
    """
    if not isinstance(entries, list):
        raise AnsibleFilterError(f"{name}: expected a list of rules")
    if not isinstance(members, Mapping):
        raise AnsibleFilterError("pg_haproxy_sources: members must map a host to its address")
    problems: list[str] = []
    rules = []
    for index, entry in enumerate(entries):
        where = f"{name}[{index}]"
        if not isinstance(entry, Mapping):
            raise AnsibleFilterError(f"{where}: expected a mapping")
        dbs = entry.get("databases", [])
        users = entry.get("users", [])
        dbs = [dbs] if isinstance(dbs, str) else list(dbs)
        users = [users] if isinstance(users, str) else list(users)
        address = str(entry.get("address", ""))
        client_dbs = [d for d in dbs if d != "replication"]
        if address == "samenet":
            if client_dbs:
                problems.append(
                    f"{where}.address: samenet cannot be expressed at HAProxy "
                    "(postgresql_ha_engine patroni); name the client network in CIDR notation"
                )
            continue
        if address == "samehost":
            net = _network(own, f"{where} (samehost: the member's address)") if own else None
        else:
            net = _network(address, f"{where}.address")
        rules.append({"where": where, "dbs": client_dbs, "users": users, "net": net})
    networks: list[str] = []
    for rule in rules:
        if rule["dbs"] and rule["net"] is not None and str(rule["net"]) not in networks:
            networks.append(str(rule["net"]))
    addresses = {}
    for host, addr in members.items():
        try:
            addresses[host] = ipaddress.ip_address(str(addr))
        except ValueError:
            continue  # a host name: pg_hba and HAProxy cannot be checked here
    for rule in rules:
        if not rule["dbs"]:
            continue
        for host, addr in sorted(addresses.items()):
            if not any(
                other["net"] is not None
                and addr in other["net"]
                and _covers(other["dbs"], rule["dbs"])
                and _covers(other["users"], rule["users"])
                for other in rules
            ):
                problems.append(
                    f"{rule['where']}: clients of users {', '.join(rule['users'])} reach "
                    f"PostgreSQL through HAProxy from the member's address, and no entry admits "
                    f"them to {', '.join(rule['dbs'])} from {host} ({addr}); add one, e.g. "
                    f"address: {addr}/{addr.max_prefixlen}"
                )
    return {"networks": networks, "problems": problems}


def pg_forensic_copy(room: Any, margin_bytes: int = 1024**3) -> dict[str, Any]:
    """Whether a data directory is copied aside before it is replaced: room is
    {avail, data} in bytes (free space where the copy goes, the data directory's size).
    A copy is kept when the free space holds it with 5% and margin_bytes to spare.
    Returns {keep: bool (a copy is kept), why: str}.
    """
    if not isinstance(room, Mapping):
        raise AnsibleFilterError("pg_forensic_copy: expected {avail, data} in bytes")
    try:
        avail, data = int(room["avail"]), int(room["data"])
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(
            f"pg_forensic_copy: expected {{avail, data}} in bytes, got {dict(room)!r}"
        ) from exc
    need = int(data * 1.05) + int(margin_bytes)
    gib = 1024**3
    if avail >= need:
        return {"keep": True, "why": f"{avail / gib:.1f} GiB free, the copy needs {need / gib:.1f}"}
    return {
        "keep": False,
        "why": (
            f"no room for a forensic copy: {avail / gib:.1f} GiB free, the data directory "
            f"({data / gib:.1f} GiB) needs {need / gib:.1f} GiB with its margin"
        ),
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "patroni_config_diff": patroni_config_diff,
            "pg_patroni_status": pg_patroni_status,
            "pg_patroni_leader": pg_patroni_leader,
            "pg_patroni_history": pg_patroni_history,
            "pg_haproxy_sources": pg_haproxy_sources,
            "pg_forensic_copy": pg_forensic_copy,
        }
