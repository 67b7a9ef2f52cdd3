"""What is live, against what the inventory says: the check every playbook starts with.

Each host is probed (is PostgreSQL running, is it in recovery, its system identifier,
timeline and WAL position, whom it streams from). This filter decides whether a play may
go on, and says in plain words what it found when it may not. It never proposes to demote,
re-seed or overwrite a live primary: that is for the operator (or the failover playbook).
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


def _describe(name: str, node: Mapping[str, Any]) -> str:
    if not node.get("running"):
        return f"{name} (down{', has data' if node.get('data') else ', no data'})"
    role = "standby" if node.get("in_recovery") else "PRIMARY"
    upstream = f", streams from {node['upstream']}" if node.get("upstream") else ""
    return f"{name} ({role}, timeline {node.get('timeline')}, LSN {node.get('lsn')}{upstream})"


def pg_topology(
    nodes: Mapping[str, Mapping[str, Any]],
    primary: str,
) -> dict[str, Any]:
    """Compare the probed nodes with the inventory.

    nodes: host -> {running, data, in_recovery, system_identifier, timeline, lsn,
    upstream}. primary: the inventory's primary.
    Returns {ok, live_primary, primary, fresh, writable, problems, summary}; primary is the
    live primary, or the inventory's bootstrap choice when no node is writable.
    """
    if not isinstance(nodes, Mapping) or primary not in nodes:
        raise AnsibleFilterError(f"topology: no probe result for the inventory primary {primary!r}")
    writable = sorted(n for n, s in nodes.items() if s.get("running") and not s.get("in_recovery"))
    with_data = sorted(n for n, s in nodes.items() if s.get("running") or s.get("data"))
    problems: list[str] = []
    summary = ", ".join(_describe(n, nodes[n]) for n in sorted(nodes))
    fresh = not with_data
    live_primary = writable[0] if len(writable) == 1 else None

    if len(writable) > 1:
        problems.append(
            f"more than one writable node: {', '.join(writable)}. Two primaries must never run "
            "at once; stop and mask all but one before running this play"
        )
    elif live_primary and live_primary != primary:
        problems.append(
            f"the inventory names {primary} as the primary, but {live_primary} is the live "
            f"primary ({_describe(live_primary, nodes[live_primary])}). Nothing was changed. "
            f"Update the inventory: put {live_primary} in postgresql_primary and {primary} in "
            f"postgresql_replicas; it must be rejoined as a replica (pg_rewind or a fresh "
            "clone) before it runs again"
        )
    elif not writable and not fresh and not nodes[primary].get("data"):
        problems.append(
            f"no node is writable and the inventory primary {primary} has no data, while "
            f"{', '.join(with_data)} do. Nothing was changed; check the inventory"
        )

    reference = nodes.get(live_primary or primary, {}).get("system_identifier")
    for name in sorted(nodes):
        ident = nodes[name].get("system_identifier")
        if reference and ident and ident != reference:
            problems.append(
                f"{name} belongs to another cluster (system identifier {ident}, the primary's "
                f"is {reference}); it is never re-seeded automatically: stop it and move its "
                "data directory away if it really is a stale copy"
            )
    return {
        "ok": not problems,
        "live_primary": live_primary,
        "primary": live_primary or primary,
        "fresh": fresh,
        "writable": writable,
        "problems": problems,
        "summary": summary,
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"pg_topology": pg_topology, "pg_slot_name": pg_slot_name}
