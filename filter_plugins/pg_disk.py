"""Free space where PostgreSQL writes: the data directory's and pg_wal's filesystems (pg_wal
may be a link to a filesystem of its own) and the size of pgBackRest's archive spool, on
every node, from what ``df`` and ``du`` printed there. A filesystem below the minimum share
free is a problem: PostgreSQL stops when pg_wal fills, and a full data filesystem stops
writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

THRESHOLD = "postgresql_cluster_status_min_free_percent"
GIB = 1024**3


def _percent(value: Any) -> float:
    if value is None or isinstance(value, bool):
        raise AnsibleFilterError(f"{THRESHOLD}: {value!r} is not a percentage; expected 0 to 99.9")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(
            f"{THRESHOLD}: {value!r} is not a percentage; expected 0 to 99.9"
        ) from None
    if not 0 <= number < 100:
        raise AnsibleFilterError(f"{THRESHOLD}: {value!r} is out of range; expected 0 to 99.9")
    return number


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _lines(result: Mapping[str, Any]) -> list[str]:
    lines = result.get("stdout_lines")
    if lines is None:
        lines = str(result.get("stdout") or "").splitlines()
    return [str(line).strip() for line in lines if str(line).strip()]


def _node(result: Mapping[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"data": None, "pg_wal": None, "spool_bytes": None, "error": None}
    if result.get("unreachable") or ("stdout" not in result and "filesystems" not in result):
        node["error"] = str(result.get("msg") or "unreachable").strip()
        return node
    if isinstance(result.get("filesystems"), Sequence):  # from the pg_disk_facts module
        return _node_facts(result, node)
    filesystems = []
    for line in _lines(result):
        fields = line.split()
        if fields[0] == "Mounted":
            continue
        if len(fields) >= 3 and fields[-1].isdigit() and fields[-2].isdigit():
            size, avail = int(fields[-2]), int(fields[-1])
            filesystems.append(
                {
                    "mount": " ".join(fields[:-2]),
                    "size_bytes": size,
                    "avail_bytes": avail,
                    "free_percent": round(avail * 100 / size, 1) if size else 0.0,
                }
            )
        elif len(fields) == 2 and fields[0].isdigit():
            node["spool_bytes"] = int(fields[0])
    if len(filesystems) != 2:
        said = str(result.get("stderr") or "").strip()
        node["error"] = (
            f"expected df lines for the data directory and pg_wal, got {len(filesystems)}"
            + (f": {said[:200]}" if said else "")
        )
        return node
    node["data"], node["pg_wal"] = filesystems
    return node


def _node_facts(result: Mapping[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """The same figures from pg_disk_facts: filesystems (data, then pg_wal) and sizes."""
    filesystems = [
        {
            "mount": str(fs["target"]),
            "size_bytes": int(fs["size"]),
            "avail_bytes": int(fs["avail"]),
            "free_percent": round(int(fs["avail"]) * 100 / int(fs["size"]), 1)
            if fs["size"]
            else 0.0,
        }
        for fs in result["filesystems"]
    ]
    if len(filesystems) != 2:
        node["error"] = (
            f"expected the data directory's and pg_wal's filesystems, got {len(filesystems)}"
        )
        return node
    sizes = [v for v in (result.get("sizes") or {}).values() if v is not None]
    node["spool_bytes"] = int(sizes[0]) if sizes else None
    node["data"], node["pg_wal"] = filesystems
    return node


def _fs(fs: Mapping[str, Any]) -> str:
    return (
        f"{fs['mount']} {fs['free_percent']} % free ({fs['avail_bytes'] / GIB:.1f} of "
        f"{fs['size_bytes'] / GIB:.1f} GiB)"
    )


def pg_disk_status(results: Any, min_free_percent: Any) -> dict[str, Any]:
    """The free space of each node's data and pg_wal filesystems and its spool size.

    results: the registered results of the task looped over the nodes (each with item,
    the node, and either pg_disk_facts' filesystems (the data directory, then pg_wal/) and
    sizes (the spool), or stdout: df -B1 --output=target,size,avail for the data directory
    and pg_wal/, then du -s -B1 of the spool when it exists). Returns nodes {host: {data,
    pg_wal, spool_bytes, error}}, lines (one per node) and problems: a filesystem below
    min_free_percent, or a node whose figures could not be read. Skipped items are left out.
    """
    minimum = _percent(min_free_percent)
    if not isinstance(results, Sequence) or isinstance(results, str | bytes):
        raise AnsibleFilterError(
            "pg_disk_status: expected the results list of the df task looped over the nodes"
        )
    nodes: dict[str, Any] = {}
    lines: list[str] = []
    problems: list[str] = []
    for result in results:
        if not isinstance(result, Mapping) or result.get("skipped"):
            continue
        host = str(result.get("item"))
        node = nodes[host] = _node(result)
        if node["error"]:
            problems.append(f"free space on {host} could not be read: {node['error']}")
            lines.append(f"{host}: could not be read")
            continue
        data, wal = node["data"], node["pg_wal"]
        spool = "-" if node["spool_bytes"] is None else _size(node["spool_bytes"])
        shared = data["mount"] == wal["mount"]
        if shared:
            lines.append(f"{host}: data and pg_wal {_fs(data)}; spool {spool}")
            checks = [("data and pg_wal", data)]
        else:
            lines.append(f"{host}: data {_fs(data)}, pg_wal {_fs(wal)}; spool {spool}")
            checks = [("data", data), ("pg_wal", wal)]
        for what, fs in checks:
            if fs["free_percent"] < minimum:
                problems.append(
                    f"{host}: the {what} filesystem {fs['mount']} has {fs['free_percent']} % free "
                    f"({fs['avail_bytes'] / GIB:.1f} of {fs['size_bytes'] / GIB:.1f} GiB), below "
                    f"{THRESHOLD} ({minimum:g})"
                )
    return {"nodes": nodes, "lines": lines, "problems": problems}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"pg_disk_status": pg_disk_status}
