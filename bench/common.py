"""What the benchmarks share: the lab's inventory as they read it (each group's hosts,
children resolved, and each host's variables, from `ansible-inventory --list`), a playbook
run with its log kept, the background writer and its acknowledgements, and the median of
the runs that produced a figure."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WRITER = ROOT / "molecule/shared/files/writer.py"


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


def playbook(
    inventory: str, name: str, *extra: str, log: Path, timeout: float | None = None
) -> tuple[float, float, str]:
    """Run playbooks/<name>; (start, end, stdout). Its output is kept in log; the benchmark
    exits when the playbook fails or outlasts the timeout."""
    env = dict(
        os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
    )  # fmt: skip
    command = ["ansible-playbook", "-i", inventory, str(ROOT / "playbooks" / name), *extra]
    start = time.time()
    try:
        out = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        sys.exit(f"{name} {' '.join(extra)} did not finish in {timeout:.0f} s")
    end = time.time()
    log.write_text(out.stdout + out.stderr)
    if out.returncode != 0:
        sys.exit(
            f"{name} {' '.join(extra)} failed (rc={out.returncode}), log {log}:\n"
            f"{out.stdout[-4000:]}{out.stderr[-1500:]}"
        )
    return start, end, out.stdout


def report(out: str) -> dict:
    """The JSON report a playbook names in its summary line ("Report: <path>"), or {}."""
    match = re.search(r"Report:\s+(\S+?\.json)", out)
    path = Path(match.group(1)) if match else None
    return json.loads(path.read_text()) if path and path.is_file() else {}


@contextlib.contextmanager
def writer(dsn: str, log: Path, table: str, password_file: Path) -> Iterator[None]:
    """molecule's writer.py in the background, committing a numbered row to table every
    50 ms and logging each acknowledgement to log (its stderr beside it); always stopped.
    The password is read by writer.py from password_file, never passed on its command line."""
    stop = log.with_suffix(".stop")
    for path in (log, stop):
        path.unlink(missing_ok=True)
    with log.with_suffix(".err").open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, str(WRITER), "--dsn", dsn, "--password-file", str(password_file),
             "--log", str(log),
             "--interval", "0.05", "--table", table, "--stop-file", str(stop),
             "--duration", "900"],
            stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
        try:
            yield
        finally:
            stop.touch()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def acks(log: Path) -> list[tuple[int, float, str]]:
    """The writer's acknowledgements so far: (id, time, server address)."""
    if not log.exists():
        return []
    return [
        (int(p[0]), float(p[1]), p[2])
        for p in (line.split() for line in log.read_text().splitlines())
        if len(p) == 3
    ]
