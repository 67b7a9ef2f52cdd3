"""What the benchmarks share: the lab's inventory as they read it (each group's hosts,
children resolved, and each host's variables, from `ansible-inventory --list`), and the
median of the runs that produced a figure."""

from __future__ import annotations

import itertools
import json
import math
import statistics
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def read_inventory(inventory: str) -> tuple[Callable[[str], list[str]], dict[str, Any]]:
    """members(group) -> its hosts, sorted and unique; and the hostvars of every host."""
    data = json.loads(
        subprocess.run(
            ["ansible-inventory", "-i", inventory, "--list"],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout
    )  # fmt: skip

    def walk(group: str) -> list[str]:
        entry = data.get(group, {})
        children = [walk(child) for child in entry.get("children", [])]
        return [*entry.get("hosts", []), *itertools.chain.from_iterable(children)]

    return (lambda group: sorted(set(walk(group)))), data["_meta"]["hostvars"]


def finite(value: float) -> float | None:
    return None if math.isnan(value) else value


def median(values: list[float]) -> float | None:
    known = [v for v in values if not math.isnan(v)]
    return round(statistics.median(known), 2) if known else None
