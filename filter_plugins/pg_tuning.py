"""Compute PostgreSQL tuning settings from the host's memory, CPUs and storage.

All arithmetic is integer arithmetic on megabytes (kilobytes for work_mem) rounded down, so
the result is deterministic for a given host shape. The rules are documented in
pg_tuning.yml next to this file.
"""

import re
from typing import Any

from ansible.errors import AnsibleFilterError

STORAGE_TYPES: tuple[str, ...] = ("ssd", "hdd", "network")
MIN_MEMTOTAL_MB = 256
MIN_MAX_CONNECTIONS = 10
MAX_MAX_CONNECTIONS = 10_000

_RANDOM_PAGE_COST: dict[str, float] = {"ssd": 1.1, "hdd": 4.0, "network": 1.1}
_EFFECTIVE_IO_CONCURRENCY: dict[str, int] = {"ssd": 200, "hdd": 2, "network": 100}
# PostgreSQL's upper limit for kB-valued memory settings (INT_MAX / 1024).
_MAX_KILOBYTES = 2_097_151
_DIGITS_RE = re.compile(r"[0-9]+")


def _show(value: Any) -> str:
    text = repr(str(value)) if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _whole_number(
    value: Any, name: str, option: str, low: int, high: int | None, expected: str
) -> int:
    """Return value as an int within [low, high]; accepts ints and strings of digits."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = int(value)
    elif isinstance(value, str) and _DIGITS_RE.fullmatch(value.strip()):
        number = int(value.strip())
    if number is None or number < low or (high is not None and number > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        problem = "is not a whole number" if number is None else "is out of range"
        raise AnsibleFilterError(
            f"{name}: {option} {_show(value)} {problem}; expected {expected}, {bounds}"
        )
    return number


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def pg_tuning(
    memtotal_mb: Any,
    cpus: Any,
    storage: str = "ssd",
    max_connections: Any = 100,
    name: str = "postgresql_tuning",
) -> dict[str, Any]:
    """Return PostgreSQL settings sized for the host, ready for pg_conf_value."""
    ram = _whole_number(
        memtotal_mb, name, "memtotal_mb", MIN_MEMTOTAL_MB, None, "the host memory in megabytes"
    )
    cpus = _whole_number(cpus, name, "cpus", 1, None, "the number of CPUs")
    connections = _whole_number(
        max_connections,
        name,
        "max_connections",
        MIN_MAX_CONNECTIONS,
        MAX_MAX_CONNECTIONS,
        "a whole number of connections",
    )
    if not isinstance(storage, str) or storage not in STORAGE_TYPES:
        raise AnsibleFilterError(
            f"{name}: storage {_show(storage)} is not a known storage type; "
            f"expected one of {', '.join(STORAGE_TYPES)}"
        )

    shared_buffers_mb = _clamp(ram // 4, 128, 32 * 1024)
    work_mem_kb = (ram - shared_buffers_mb) * 1024 // (connections * 3)
    small_host = ram < 2048
    parallel_per_task = _clamp(cpus // 2, 1, 4)

    return {
        "max_connections": connections,
        "shared_buffers": f"{shared_buffers_mb}MB",
        "effective_cache_size": f"{ram * 3 // 4}MB",
        "maintenance_work_mem": f"{_clamp(ram // 16, 64, 2048)}MB",
        "work_mem": f"{_clamp(work_mem_kb, 4096, _MAX_KILOBYTES)}kB",
        "min_wal_size": "512MB" if small_host else "1GB",
        "max_wal_size": "2GB" if small_host else "4GB",
        "checkpoint_completion_target": 0.9,
        "random_page_cost": _RANDOM_PAGE_COST[storage],
        "effective_io_concurrency": _EFFECTIVE_IO_CONCURRENCY[storage],
        "max_worker_processes": max(8, cpus),
        "max_parallel_workers": cpus,
        "max_parallel_workers_per_gather": parallel_per_task,
        "max_parallel_maintenance_workers": parallel_per_task,
        "huge_pages": "try",
    }


class FilterModule:
    """PostgreSQL host tuning filter."""

    def filters(self) -> dict[str, Any]:
        return {
            "pg_tuning": pg_tuning,
        }
