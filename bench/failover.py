#!/usr/bin/env python3
"""Failover, switchover and rejoin times on the lab, median of --runs, with writes running.

Each run, on the lab (`make lab`: a primary and two streaming replicas; the primary found
at the start is "home", pg1 on a fresh lab):
  failover    a writer (molecule/shared/files/writer.py, multi-host DSN with
              target_session_attrs=read-write, one commit every 50 ms) and, with
              --pgbench-scale, pgbench on home; home's container is killed (podman kill)
              and `playbooks/failover.yml -e failover_from=<home>` runs.
              Measured: playbook start to the first write acknowledged by the new primary
              (also: the playbook's wall time, and the writer's gap from its last
              acknowledgement by home to its first by the new primary).
  rejoin      home's container is started again (it stays down, fenced) and
              `playbooks/rejoin.yml -e rejoin_host=<home>` runs, pgbench on the new
              primary. Measured: playbook start to home streaming (pg_stat_wal_receiver,
              polled during the playbook), and the playbook's wall time.
  switchover  `playbooks/switchover.yml -e switchover_to=<home>` with the writer (and
              pgbench on the new primary) running. Measured: the writer's longest gap
              between acknowledgements during the playbook (the write-unavailable window a
              client sees), the playbook's own figure, and its wall time.
Each run ends with home primary again. Not a test: asserts nothing, prints figures (a
table and one JSON line). --pgbench-scale 70 makes a database of about 1 GB.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import common
from common import ROOT, acks, finite, median, playbook, report, writer

WORK = ROOT / ".lab/bench-failover"
TABLE = "app.bench_failover"
PGBENCH_PID = "/tmp/bench-failover-pgbench.pid"


class Lab(common.Lab):
    """The inventory's postgresql hosts, the writer's DSN, and which one is writable."""

    def __init__(self, inventory: str) -> None:
        super().__init__(inventory)
        self.dsn = self.writer_dsn(self.port, "bench-failover", "target_session_attrs=read-write")

    def primary(self) -> str:
        writable = [n for n in self.names if self.psql(n, "SELECT pg_is_in_recovery()") == "f"]
        if len(writable) != 1:
            sys.exit(f"writable nodes: {writable or 'none'}; is the lab up (make lab)?")
        return writable[0]


def wait_ack(log: Path, since: float, server: str, timeout: float = 60) -> float | None:
    """Time of the first write acknowledged by server at or after since."""
    end = time.time() + timeout
    while True:
        hit = [t for _, t, s in acks(log) if t >= since and s == server]
        if hit:
            return hit[0]
        if time.time() > end:
            return None
        time.sleep(0.1)


def writing(lab: Lab, log: Path, name: str) -> None:
    """Until the writer has written on the host for 2 s."""
    if wait_ack(log, time.time(), lab.address[name]) is None:
        sys.exit(f"the writer gets no acknowledgement from {name}: see {log.with_suffix('.err')}")
    time.sleep(2)


@contextlib.contextmanager
def pgbench(lab: Lab, name: str, scale: int) -> Iterator[None]:
    """pgbench -c 2 on the bench database in the host's container (nothing when scale is 0).

    Killing `podman exec` would leave pgbench running in the container: it records its
    pid there and is stopped by it.
    """
    if scale <= 0:
        yield
        return
    container = lab.container[name]
    proc = subprocess.Popen(
        ["podman", "exec", container, "runuser", "-u", "postgres", "--", "sh", "-c",
         f"echo $$ > {PGBENCH_PID}; exec pgbench -n -c 2 -T 1800 -p {lab.port} bench"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        subprocess.run(
            ["podman", "exec", container, "sh", "-c",
             f'p=$(cat {PGBENCH_PID} 2>/dev/null) && rm -f {PGBENCH_PID} && '
             f'[ "$(cat /proc/$p/comm 2>/dev/null)" = pgbench ] && kill "$p"'],
            capture_output=True, timeout=30, check=False,
        )  # fmt: skip
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def init_pgbench(lab: Lab, home: str, scale: int) -> None:
    if lab.psql(home, "SELECT 1 FROM pg_database WHERE datname = 'bench'") == "1":
        return
    print(f"creating the pgbench database bench, scale {scale}, on {home} ...", flush=True)
    run = ["podman", "exec", lab.container[home], "runuser", "-u", "postgres", "--"]
    subprocess.run([*run, "createdb", "-p", str(lab.port), "bench"], check=True)
    subprocess.run(
        [*run, "pgbench", "-q", "-i", "-s", str(scale), "-p", str(lab.port), "bench"], check=True
    )
    lab.wait_replicas(home, timeout=900)


def wait_booted(lab: Lab, name: str, timeout: float = 120) -> None:
    """Until systemd in the restarted container has finished booting (SSH answers)."""
    end = time.time() + timeout
    while time.time() < end:
        state = subprocess.run(
            ["podman", "exec", lab.container[name], "systemctl", "is-system-running"],
            capture_output=True, text=True, check=False,
        ).stdout.strip()  # fmt: skip
        if state in ("running", "degraded"):
            return
        time.sleep(0.5)
    sys.exit(f"{name} did not finish booting in {timeout:.0f} s")


def failover(lab: Lab, args: argparse.Namespace, run: int, home: str) -> tuple[str, dict]:
    log = WORK / f"failover-{run}.log"
    with writer(lab.dsn, log, TABLE, lab.password_file), pgbench(lab, home, args.pgbench_scale):
        writing(lab, log, home)
        subprocess.run(["podman", "kill", lab.container[home]], check=True, capture_output=True)
        killed = time.time()
        start, end, out = playbook(
            args.inventory,
            "failover.yml",
            "-e",
            f"failover_from={home}",
            log=WORK / f"failover-{run}.ansible.log",
        )
        new = report(out).get("to")
        if not new:
            match = re.search(r"Failover \S+ -> (\S+) done", out)
            new = match.group(1) if match else lab.primary()
        first = wait_ack(log, start, lab.address[new])
    before = [t for _, t, s in acks(log) if s == lab.address[home] and t <= killed]
    return new, {
        "failover_s": first - start if first else math.nan,
        "failover_playbook_s": end - start,
        "failover_write_gap_s": first - before[-1] if first and before else math.nan,
    }


def rejoin(lab: Lab, args: argparse.Namespace, home: str, new: str) -> tuple[str, dict]:
    subprocess.run(["podman", "start", lab.container[home]], check=True, capture_output=True)
    wait_booted(lab, home)
    seen: list[float] = []
    deadline = [math.inf]  # the playbook's end + 60 s, once it has ended

    def poll() -> None:
        while time.time() < deadline[0]:
            if lab.psql(home, "SELECT status FROM pg_stat_wal_receiver") == "streaming":
                seen.append(time.time())
                return
            time.sleep(0.2)

    with pgbench(lab, new, args.pgbench_scale):
        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        start, end, out = playbook(
            args.inventory,
            "rejoin.yml",
            "-e",
            f"rejoin_host={home}",
            log=WORK / "rejoin.ansible.log",
        )
        deadline[0] = end + 60
        watcher.join()
    how = report(out).get("path") or ("rewind" if "by pg_rewind" in out else "?")
    return how, {
        "rejoin_s": seen[0] - start if seen else math.nan,
        "rejoin_playbook_s": end - start,
    }


def switchover(lab: Lab, args: argparse.Namespace, run: int, home: str, new: str) -> dict:
    lab.wait_replicas(new)
    log = WORK / f"switchover-{run}.log"
    with writer(lab.dsn, log, TABLE, lab.password_file), pgbench(lab, new, args.pgbench_scale):
        writing(lab, log, new)
        start, end, out = playbook(
            args.inventory,
            "switchover.yml",
            "-e",
            f"switchover_to={home}",
            log=WORK / f"switchover-{run}.ansible.log",
        )
        wait_ack(log, start, lab.address[home])
        time.sleep(1)
    during = [t for _, t, _ in acks(log)]
    own = report(out).get("write_unavailable_seconds")
    if own is None:
        match = re.search(r"writes\s+were\s+unavailable\s+for\s+([0-9.]+)\s", out)
        own = match.group(1) if match else math.nan
    return {
        # Intervals between acknowledgements that overlap the playbook.
        "switchover_gap_s": max(
            (b - a for a, b in itertools.pairwise(during) if b >= start and a <= end),
            default=math.nan,
        ),
        "switchover_reported_s": float(own),
        "switchover_playbook_s": end - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", default="inventory/lab")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--pgbench-scale", type=int, default=0,
        help="pgbench database 'bench' of this scale and pgbench -c 2 during each "
        "measurement; 0 (the default) skips pgbench; 70 is about 1 GB",
    )  # fmt: skip
    args = parser.parse_args()
    os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "lab/containers.conf"))
    WORK.mkdir(parents=True, exist_ok=True)
    lab = Lab(args.inventory)
    home = lab.primary()
    lab.wait_replicas(home)
    if args.pgbench_scale > 0:
        init_pgbench(lab, home, args.pgbench_scale)
    size = lab.psql(home, "SELECT pg_size_pretty(sum(pg_database_size(datname))) FROM pg_database")
    results: dict[str, list[float]] = {}
    for run in range(1, args.runs + 1):
        lab.wait_replicas(home)
        new, figures = failover(lab, args, run, home)
        how, more = rejoin(lab, args, home, new)
        figures |= more
        figures |= switchover(lab, args, run, home, new)
        if lab.primary() != home:
            sys.exit(f"run {run}: {home} is not the primary again")
        for key, value in figures.items():
            results.setdefault(key, []).append(round(value, 2))
        print(
            f"run {run}: failover {home}->{new} {figures['failover_s']:.2f} s, "
            f"rejoin ({how}) {figures['rejoin_s']:.2f} s, "
            f"switchover gap {figures['switchover_gap_s']:.2f} s",
            flush=True,
        )
    print(
        f"\nlab: {len(lab.address)} nodes, home {home}, data {size}, "
        f"pgbench scale {args.pgbench_scale}, median of {args.runs} runs (writer logs in {WORK})"
    )
    print(f"  {'measure':28s} {'median':>7s}   runs")
    for name, values in results.items():
        med = median(values)
        shown = f"{med:7.2f}" if med is not None else "    n/a"
        print(f"  {name:28s} {shown}   {values}")
    print(
        json.dumps(
            {
                "home": home,
                "data": size,
                "pgbench_scale": args.pgbench_scale,
                "runs": args.runs,
                "median": {k: median(v) for k, v in results.items()},
                "values": {k: [finite(x) for x in v] for k, v in results.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
