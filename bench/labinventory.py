"""The lab's inventory as the benchmarks read it: each group's hosts (children resolved)
and each host's variables, from `ansible-inventory --list`."""

from __future__ import annotations

import itertools
import json
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
