"""The weekly capacity report of status.yml (pgfleet.capacity).

``pg_capacity_report`` reads the last two capacity snapshots of every live node (written by
pgfleet-capacity, the weekly timer) and returns database and table growth, the estimated
bloat, and the unused and rarely used indexes over every node's counters.
``pg_capacity_files`` and ``pg_capacity_snapshots`` pick the last two snapshot files of
each node from a looped find and parse what a looped slurp read.
``pg_capacity_input_problems`` names every postgresql_status_capacity_* value it cannot
use, before any change to a host.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from pgfleet import capacity
from pgfleet.filters import wrap

pg_capacity_report = wrap(capacity.report, AnsibleFilterError)


def pg_capacity_files(found: Any) -> list[dict[str, str]]:
    """The last two snapshot files of each node, from the registered results of a find
    looped over the nodes (item: the node): [{node, path}], oldest first per node. A node
    whose find failed or found nothing gives none."""
    if not isinstance(found, list):
        raise AnsibleFilterError("pg_capacity_files: expected the results of the looped find")
    out = []
    for result in found:
        if not isinstance(result, dict) or "item" not in result:
            raise AnsibleFilterError("pg_capacity_files: a result without its item (the node)")
        paths = sorted(str(f["path"]) for f in result.get("files") or [] if "path" in f)
        out += [{"node": str(result["item"]), "path": path} for path in paths[-2:]]
    return out


def pg_capacity_snapshots(nodes: Any, read: Any) -> dict[str, list[Any]]:
    """Each node to its snapshots, parsed, from the registered results of a slurp looped
    over pg_capacity_files (a node with none gives []). A file that is not JSON is left
    out, as if missing."""
    import base64
    import json

    if not isinstance(nodes, list) or not isinstance(read, list):
        raise AnsibleFilterError("pg_capacity_snapshots: expected the nodes and the slurp results")
    out: dict[str, list[Any]] = {str(node): [] for node in nodes}
    for result in read:
        item = result.get("item") if isinstance(result, dict) else None
        if not isinstance(item, dict) or "content" not in result:
            continue
        try:
            snap = json.loads(base64.b64decode(result["content"]))
        except ValueError:
            continue
        out.setdefault(str(item.get("node")), []).append(snap)
    return out


pg_capacity_input_problems = wrap(capacity.input_problems, AnsibleFilterError)


class FilterModule:
    """Capacity filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "pg_capacity_report": pg_capacity_report,
            "pg_capacity_input_problems": pg_capacity_input_problems,
            "pg_capacity_files": pg_capacity_files,
            "pg_capacity_snapshots": pg_capacity_snapshots,
        }
