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


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank q-quantile (0..1) of values; NaN when there are none."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


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


# Every session a benchmark opens as postgres uses the safe search_path, like the project's
# own sessions (PGOPTIONS is not a secret).
SESSION_OPTIONS = "-c search_path=pg_catalog,pg_temp"


class Lab:
    """The inventory's postgresql hosts as the benchmarks reach them: container names,
    addresses, the PostgreSQL port, the server CA, and the migrator's password file (the
    writer reads it: the password never reaches a command line). Each benchmark extends it
    with what only it needs."""

    def __init__(self, inventory: str, also: tuple[str, ...] = ()) -> None:
        """also: groups whose hosts the benchmark reaches too (e.g. etcd)."""
        self.members, self.hostvars = read_inventory(inventory)
        self.names = self.members("postgresql")
        if not self.names:
            sys.exit(f"no postgresql hosts in {inventory}")
        hosts = sorted(set(self.names).union(*(self.members(g) for g in also)))
        self.address = {n: self.hostvars[n].get("ansible_host", n) for n in hosts}
        self.container = {n: self.hostvars[n].get("lab_container_prefix", "") + n for n in hosts}
        self.port = int(self.hostvars[self.names[0]].get("postgresql_cluster_port", 5432))
        # As the inventory has it: lab_dir is <inventory>/../../.lab, the server CA
        # pki/<inventory name>/ca.crt beside the inventory.
        inv = (ROOT / inventory).resolve()
        inv = inv if inv.is_dir() else inv.parent
        self.ca = inv.parent / "pki" / inv.name / "ca.crt"
        self.password_file = inv.parent.parent / ".lab/secrets/pg_migrator"
        # A molecule scenario's hosts (molecule/<scenario>/inventory): the CA under the
        # lab's directory of its network, the project's own secrets.
        network = self.hostvars[self.names[0]].get("lab_network", "")
        if not self.ca.exists() and network:
            self.ca = ROOT / ".lab" / network / "pki" / "ca.crt"
        if not self.password_file.exists():
            self.password_file = ROOT / ".lab/secrets/pg_migrator"

    def writer_dsn(self, port: int, application: str, extra: str = "") -> str:
        """The writer's libpq DSN over every node (verify-full), without a password."""
        return (
            f"host={','.join(self.address[n] for n in self.names)} port={port} "
            f"dbname=learning user=migrator sslmode=verify-full sslrootcert={self.ca} "
            f"connect_timeout=2 application_name={application} {extra}"
        ).strip()

    def run(
        self,
        name: str,
        *argv: str,
        user: str | None = None,
        check: bool = False,
        timeout: float | None = 30,
    ) -> subprocess.CompletedProcess[str]:
        """A command in the host's container (rc 124 when it times out; with check, the
        benchmark exits on a failure)."""
        as_user = ["runuser", "-u", user, "--"] if user else []
        cmd = ["podman", "exec", "-e", f"PGOPTIONS={SESSION_OPTIONS}", self.container[name]]
        cmd += [*as_user, *argv]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc = subprocess.CompletedProcess(cmd, 124, "", f"timed out after {timeout} s")
        if check and proc.returncode != 0:
            sys.exit(
                f"on {name}: {' '.join(argv)[:200]} failed (rc={proc.returncode}):\n"
                f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            )
        return proc

    def psql(
        self, name: str, sql: str, db: str = "postgres", check: bool = False, port: int = 0
    ) -> str:
        """SQL as postgres in the host's container; '' when it fails (unless check)."""
        return self.run(
            name, "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-p", str(port or self.port),
            "-d", db, "-c", sql, user="postgres", check=check, timeout=60,
        ).stdout.strip()  # fmt: skip

    def wait_replicas(self, primary: str, timeout: float = 300) -> None:
        """Until every other node streams from the primary, less than 16 MB behind."""
        want = str(len(self.names) - 1)
        sql = (
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
            " AND pg_current_wal_lsn() - replay_lsn < 16 * 1024 * 1024"
        )
        end = time.time() + timeout
        while self.psql(primary, sql) != want:
            if time.time() > end:
                sys.exit(f"the replicas of {primary} are not streaming and caught up")
            time.sleep(1)
