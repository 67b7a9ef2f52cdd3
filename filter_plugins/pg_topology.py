"""What is live, against what the inventory says: the check every playbook starts with.

Each host is probed (is PostgreSQL running, is it in recovery, its system identifier,
timeline and WAL position, whom it streams from). This filter decides whether a play may
go on, and says in plain words what it found when it may not. It never proposes to demote,
re-seed or overwrite a live primary: that is for the operator (or the failover playbook).

The switchover, failover and rejoin playbooks leave a record of the topology they made on
every host they reach (the probe reads it as `record`): an epoch that only grows, the
sanctioned primary and the fenced nodes. The record with the highest epoch wins over the
inventory's primary, so site.yml with the inventory unchanged converges on the new
topology, while a node promoted by hand (no record names it) is still refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

_SLOT_INVALID = re.compile(r"[^a-z0-9_]")


def pg_slot_name(host: Any, name: str = "inventory_hostname") -> str:
    """The physical replication slot (and application_name) of a host: its inventory name,
    lowercased, with every character PostgreSQL does not allow in a slot name as '_'."""
    if not isinstance(host, str) or not host:
        raise AnsibleFilterError(
            f"{name}: {host!r} is not a host name; expected a non-empty string"
        )
    slot = _SLOT_INVALID.sub("_", host.lower())
    if len(slot) > 63:
        raise AnsibleFilterError(
            f"{name}: {host!r} gives a slot name longer than 63 characters; use a shorter "
            "inventory name"
        )
    return slot


def _root_owned(owner: Any) -> bool:
    """The probe's 'user:group:mode user:group:mode' of a record and of its directory: root
    owns both and neither is writable by group or others."""
    parts = owner.split() if isinstance(owner, str) else []
    if len(parts) != 2:
        return False
    for part in parts:
        user, _, mode = part.rpartition(":")
        if not user.startswith("root:") or not re.fullmatch(r"[0-7]{1,4}", mode):
            return False
        if int(mode, 8) & 0o022:
            return False
    return True


def _trusted_records(
    nodes: Mapping[str, Mapping[str, Any]],
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Each node's record when it counts, the nodes whose record was ignored, and why.

    A record counts when root owns it and its directory, and neither is writable by others
    (code running as postgres could otherwise rewrite the sanctioned topology), or when the
    probe read it at the old place on a host this version has not converged yet
    (record_legacy: no record directory there). Once the directory exists, a record at the
    old place (record_stray) is ignored.
    """
    records: dict[str, Any] = {}
    ignored: list[str] = []
    notes: list[str] = []
    for name in sorted(nodes):
        probe = nodes[name]
        if probe.get("record_stray"):
            ignored.append(name)
            notes.append(
                f"{name}'s topology record at the old place ignored ({probe['record_stray']}): "
                "the record lives in a root-owned directory now"
            )
        if probe.get("record") is None:
            continue
        if probe.get("record_legacy") or _root_owned(probe.get("record_owner")):
            records[name] = probe["record"]
            continue
        if name not in ignored:
            ignored.append(name)
        notes.append(
            f"{name}'s topology record ignored ({probe.get('record_owner') or 'owner unknown'}): "
            "only a record root owns, in a directory only root may write, counts"
        )
    return records, ignored, notes


def _record(nodes: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, Any] | None, list[str]]:
    """The newest topology record among the nodes, and the problems of disagreeing ones.

    nodes: host -> its record (only the records that count, see _trusted_records).
    """
    best: dict[str, Any] | None = None
    seen: dict[int, set[str]] = {}
    for name in sorted(nodes):
        rec = nodes[name]
        if not isinstance(rec, Mapping):
            continue
        epoch, primary = rec.get("epoch"), rec.get("primary")
        if not isinstance(epoch, int) or isinstance(epoch, bool) or not isinstance(primary, str):
            continue
        seen.setdefault(epoch, set()).add(primary)
        if best is None or epoch > best["epoch"]:
            best = {**rec, "fenced": sorted(set(rec.get("fenced") or [])), "host": name}
    problems = []
    if best is not None and len(seen[best["epoch"]]) > 1:
        problems.append(
            f"the topology records disagree at epoch {best['epoch']}: they name "
            f"{', '.join(sorted(seen[best['epoch']]))} as the primary. Nothing was changed; "
            "check which node holds the newest data before running switchover.yml or rejoin.yml"
        )
    return best, problems


def _describe(name: str, node: Mapping[str, Any]) -> str:
    if not node.get("running"):
        return f"{name} (down{', has data' if node.get('data') else ', no data'})"
    role = "standby" if node.get("in_recovery") else "PRIMARY"
    upstream = f", streams from {node['upstream']}" if node.get("upstream") else ""
    return f"{name} ({role}, timeline {node.get('timeline')}, LSN {node.get('lsn')}{upstream})"


def _patroni_leader(nodes: Mapping[str, Mapping[str, Any]]) -> tuple[str | None, list[str]]:
    """The leader Patroni's consensus store names, as the nodes' Patroni agents read it.

    Each node's probe may carry `patroni`: {leader, members, paused, failsafe} from its
    local agent (absent when Patroni does not run there or the store is unreachable).
    """
    seen = {
        n: s["patroni"].get("leader")
        for n, s in nodes.items()
        if isinstance(s.get("patroni"), Mapping) and s["patroni"].get("leader")
    }
    leaders = sorted(set(seen.values()))
    if len(leaders) > 1:
        return None, [
            "the Patroni agents disagree on the leader ("
            + ", ".join(f"{n} sees {seen[n]!r}" for n in sorted(seen))
            + "). Nothing was changed; check etcd's health (status.yml) first"
        ]
    # A name read from etcd is trusted only when it is an inventory member: anything that
    # can write etcd's leader key could otherwise name any host to a hook or a report.
    if leaders and leaders[0] not in nodes:
        return None, [
            f"Patroni's leader {leaders[0]!r} (read from etcd) is not a member of the "
            f"inventory's postgresql group ({', '.join(sorted(nodes))}). Nothing was changed; "
            "something other than this cluster's Patroni wrote etcd's leader key"
        ]
    return (leaders[0] if leaders else None), []


def pg_topology(
    nodes: Mapping[str, Mapping[str, Any]],
    primary: str,
    engine: str = "streaming",
) -> dict[str, Any]:
    """Compare the probed nodes with the inventory.

    nodes: host -> {running, data, in_recovery, system_identifier, timeline, lsn,
    upstream, record, record_owner, record_legacy, record_stray, patroni}. primary: the
    inventory's primary. engine: streaming or patroni (postgresql_ha_engine).
    Returns {ok, live_primary, primary, sanctioned, record, fenced, ignored_records, fresh,
    writable, old_timeline, patroni_leader, problems, summary}; primary is the live
    primary, or else the sanctioned one (the newest record that counts, or the inventory's
    bootstrap choice). A record counts only when root owns it (see _trusted_records); the
    others are named in ignored_records and in the summary.

    Under Patroni, Patroni decides who is primary: its leader is the sanctioned primary
    and the records of the operator playbooks do not apply (a failover Patroni made
    writes none). Two writable nodes, a writable node that is not the leader, and
    another cluster's data are refused under both engines.
    """
    if engine not in ("streaming", "patroni"):
        raise AnsibleFilterError(f"postgresql_ha_engine: {engine!r}; expected streaming or patroni")
    if not isinstance(nodes, Mapping) or primary not in nodes:
        raise AnsibleFilterError(f"topology: no probe result for the inventory primary {primary!r}")
    writable = sorted(n for n, s in nodes.items() if s.get("running") and not s.get("in_recovery"))
    with_data = sorted(n for n, s in nodes.items() if s.get("running") or s.get("data"))
    summary = ", ".join(_describe(n, nodes[n]) for n in sorted(nodes))
    fresh = not with_data
    live_primary = writable[0] if len(writable) == 1 else None
    records, ignored_records, record_notes = _trusted_records(nodes)
    record, problems = _record(records)
    leader, leader_problems = _patroni_leader(nodes) if engine == "patroni" else (None, [])
    patroni_view = engine == "patroni" and (
        leader is not None or any(isinstance(s.get("patroni"), Mapping) for s in nodes.values())
    )
    if patroni_view:
        # Patroni runs: its leader (or, while its store cannot be read, the live primary)
        # is the sanctioned one; the operator playbooks' records are history.
        problems = leader_problems
        record = None
        sanctioned = leader if leader and leader in nodes else (live_primary or primary)
        if leader and live_primary and live_primary != leader:
            problems.append(
                f"{live_primary} is writable, but Patroni's leader is {leader}. Nothing was "
                "changed. A writable node that is not Patroni's leader was started outside "
                "Patroni: stop it"
            )
        summary += f"; Patroni leader: {leader or 'none (no agent could read one)'}"
    else:
        sanctioned = record["primary"] if record else primary
    fenced = [n for n in (record["fenced"] if record else []) if n in nodes]
    if sanctioned not in nodes:
        problems.append(
            f"the topology record names {sanctioned} as the primary, but it is not in the "
            "inventory's postgresql group. Nothing was changed"
        )
        sanctioned = primary

    if len(writable) > 1:
        problems.append(
            f"more than one writable node: {', '.join(writable)}. Two primaries must never run "
            "at once; stop and mask all but one before running this play"
        )
    elif patroni_view:
        pass  # checked above, against Patroni's leader
    elif live_primary and live_primary != sanctioned and record:
        problems.append(
            f"{live_primary} is writable ({_describe(live_primary, nodes[live_primary])}), but "
            f"the topology record (epoch {record['epoch']}, {record.get('event', 'recorded')} "
            f"at {record.get('at', '?')}) names {sanctioned} as the primary. Nothing was "
            "changed. A node promoted outside switchover.yml or failover.yml is never "
            "accepted: stop it, or make it the primary with those playbooks"
        )
    elif live_primary and live_primary != sanctioned:
        problems.append(
            f"the inventory names {primary} as the primary, but {live_primary} is the live "
            f"primary ({_describe(live_primary, nodes[live_primary])}). Nothing was changed. "
            f"Update the inventory: put {live_primary} in postgresql_primary and {primary} in "
            f"postgresql_replicas; it must be rejoined as a replica (pg_rewind or a fresh "
            "clone) before it runs again"
        )
    elif not writable and not fresh and not nodes[sanctioned].get("data"):
        problems.append(
            f"no node is writable and the {'sanctioned' if record else 'inventory'} primary "
            f"{sanctioned} has no data, while "
            f"{', '.join(with_data)} do. Nothing was changed; check the inventory"
        )

    reference = nodes.get(live_primary or sanctioned, {}).get("system_identifier")
    for name in sorted(nodes):
        ident = nodes[name].get("system_identifier")
        if reference and ident and ident != reference:
            problems.append(
                f"{name} belongs to another cluster (system identifier {ident}, the primary's "
                f"is {reference}); it is never re-seeded automatically: stop it and move its "
                "data directory away if it really is a stale copy"
            )
    head = nodes.get(live_primary or "", {}).get("timeline")
    old_timeline = sorted(
        n
        for n, s in nodes.items()
        if s.get("running") and s.get("in_recovery") and head and (s.get("timeline") or head) < head
    )
    if fenced:
        summary += f"; fenced: {', '.join(fenced)} (rejoin.yml brings a fenced node back)"
    if record_notes:
        summary += "; " + "; ".join(record_notes)
    return {
        "ok": not problems,
        "live_primary": live_primary,
        "primary": live_primary or sanctioned,
        "sanctioned": sanctioned,
        "record": record,
        "fenced": fenced,
        "ignored_records": ignored_records,
        "old_timeline": old_timeline,
        "patroni_leader": leader,
        "patroni_running": patroni_view,
        "fresh": fresh,
        "writable": writable,
        "problems": problems,
        "summary": summary,
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"pg_topology": pg_topology, "pg_slot_name": pg_slot_name}
