#!/usr/bin/env python3
"""Failover, switchover and rejoin times on the lab, median of --runs, with writes running.

Each run, on the lab (`make lab`: pg1 primary, pg2 and pg3 streaming replicas):
  failover    a writer (molecule/shared/files/writer.py, multi-host DSN with
              target_session_attrs=read-write, one commit every 50 ms) and, with
              --pgbench-scale, pgbench on the primary; the primary's container is killed
              (podman kill) and `playbooks/failover.yml -e failover_from=<it>` runs.
              Measured: playbook start to the first write acknowledged by the new primary.
  rejoin      the old primary's container is started again (it stays down, fenced) and
              `playbooks/rejoin.yml -e rejoin_host=<it>` runs. Measured: playbook start to
              the node streaming from the new primary.
  switchover  `playbooks/switchover.yml -e switchover_to=<old primary>` with the writer
              running. Measured: the writer's longest gap between acknowledgements (the
              write-unavailable window a client sees), and the playbook's own figure.
Each run ends with the original primary primary again. Not a test: asserts nothing,
prints figures. --pgbench-scale 70 makes a database of about 1 GB.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WRITER = ROOT / "molecule/shared/files/writer.py"
HOSTS = {"pg1": "10.89.70.11", "pg2": "10.89.70.12", "pg3": "10.89.70.13"}
PORT = 5432
WORK = ROOT / ".lab/bench-failover"


def psql(container: str, sql: str, db: str = "postgres") -> str:
    return subprocess.run(
        ["podman", "exec", container, "runuser", "-u", "postgres", "--", "psql", "-XAtq",
         "-p", str(PORT), "-d", db, "-c", sql],
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def primary() -> str:
    for name in HOSTS:
        if psql(name, "SELECT pg_is_in_recovery()") == "f":
            return name
    sys.exit("no writable node: is the lab up (make lab)?")


def playbook(inventory: str, name: str, *extra: str) -> tuple[float, float, str]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    start = time.time()
    out = subprocess.run(
        ["ansible-playbook", "-i", inventory, str(ROOT / "playbooks" / name), *extra],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode != 0:
        sys.exit(f"{name} failed:\n{out.stdout[-3000:]}")
    return start, time.time(), out.stdout


def dsn() -> str:
    password = (ROOT / ".lab/secrets/pg_migrator").read_text().strip()
    return (
        f"host={','.join(HOSTS.values())} port={PORT} dbname=learning user=migrator "
        f"password={password} sslmode=verify-full sslrootcert={ROOT}/inventory/pki/lab/ca.crt "
        "connect_timeout=2 target_session_attrs=read-write"
    )


def writer(log: Path) -> tuple[subprocess.Popen, Path]:
    stop = log.with_suffix(".stop")
    for path in (log, stop):
        path.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), "--dsn", dsn(), "--log", str(log), "--interval", "0.05",
         "--table", "app.bench_failover", "--stop-file", str(stop), "--duration", "600"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    return proc, stop


def acks(log: Path) -> list[tuple[int, float, str]]:
    if not log.exists():
        return []
    return [
        (int(p[0]), float(p[1]), p[2])
        for p in (line.split() for line in log.read_text().splitlines())
        if len(p) == 3
    ]


def wait_acks(log: Path, since: float, server: str, timeout: float = 60) -> float | None:
    end = time.time() + timeout
    while time.time() < end:
        hit = [t for _, t, s in acks(log) if t >= since and s == server]
        if hit:
            return hit[0]
        time.sleep(0.1)
    return None


def pgbench(container: str, scale: int, seconds: int) -> subprocess.Popen | None:
    if scale <= 0:
        return None
    return subprocess.Popen(
        ["podman", "exec", container, "runuser", "-u", "postgres", "--", "pgbench", "-n",
         "-c", "2", "-T", str(seconds), "bench"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", default=str(ROOT / "inventory/lab"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pgbench-scale", type=int, default=0, help="0 skips pgbench; 70 is ~1 GB")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    home = primary()
    if (
        args.pgbench_scale
        and psql(home, "SELECT 1 FROM pg_database WHERE datname = 'bench'") != "1"
    ):
        subprocess.run(
            ["podman", "exec", home, "runuser", "-u", "postgres", "--", "createdb", "bench"],
            check=True,
        )
        subprocess.run(
            ["podman", "exec", home, "runuser", "-u", "postgres", "--", "pgbench", "-q", "-i",
             "-s", str(args.pgbench_scale), "bench"],
            check=True,
        )  # fmt: skip
        time.sleep(10)  # the replicas replay the load
    size = psql(home, "SELECT pg_size_pretty(sum(pg_database_size(datname))) FROM pg_database")
    results: dict[str, list[float]] = {"failover_s": [], "rejoin_s": [], "switchover_gap_s": [],
                                       "switchover_playbook_gap_s": []}  # fmt: skip
    for run in range(1, args.runs + 1):
        # failover
        log = WORK / f"failover-{run}.log"
        proc, stop = writer(log)
        load = pgbench(home, args.pgbench_scale, 600)
        time.sleep(3)
        subprocess.run(["podman", "kill", home], check=True, capture_output=True)
        start, _, out = playbook(args.inventory, "failover.yml", "-e", f"failover_from={home}")
        new = re.search(r"Failover \S+ -> (\S+) done", out).group(1)
        first = wait_acks(log, start, HOSTS[new])
        stop.touch()
        proc.wait(timeout=60)
        if load:
            load.kill()
        results["failover_s"].append(round(first - start, 2) if first else float("nan"))
        # rejoin
        subprocess.run(["podman", "start", home], check=True, capture_output=True)
        time.sleep(5)
        start, end, out = playbook(args.inventory, "rejoin.yml", "-e", f"rejoin_host={home}")
        streaming = end
        while time.time() < end + 60:
            if psql(home, "SELECT status FROM pg_stat_wal_receiver") == "streaming":
                streaming = min(time.time(), end)
                break
            time.sleep(0.2)
        results["rejoin_s"].append(round(streaming - start, 2))
        path = "pg_rewind" if "by pg_rewind" in out else "re-clone"
        # switchover back
        log = WORK / f"switchover-{run}.log"
        proc, stop = writer(log)
        load = pgbench(new, args.pgbench_scale, 600)
        time.sleep(3)
        start, end, out = playbook(args.inventory, "switchover.yml", "-e", f"switchover_to={home}")
        wait_acks(log, end, HOSTS[home])
        time.sleep(1)
        stop.touch()
        proc.wait(timeout=60)
        if load:
            load.kill()
        during = [t for _, t, _ in acks(log)]
        gap = max((b - a for a, b in itertools.pairwise(during) if b >= start), default=0)
        own = re.search(r"writes were unavailable for ([0-9.]+) s", out)
        results["switchover_gap_s"].append(round(gap, 2))
        results["switchover_playbook_gap_s"].append(float(own.group(1)) if own else float("nan"))
        print(f"run {run}: failover {home}->{new} {results['failover_s'][-1]} s, rejoin ({path}) "
              f"{results['rejoin_s'][-1]} s, switchover gap {results['switchover_gap_s'][-1]} s "
              f"(playbook: {results['switchover_playbook_gap_s'][-1]} s)", flush=True)  # fmt: skip
    print(f"\nlab: 3 nodes, data {size}, pgbench scale {args.pgbench_scale}, median of {args.runs}")
    for name, values in results.items():
        print(f"  {name:28s} median {statistics.median(values):6.2f}   runs {values}")
    print(json.dumps({k: statistics.median(v) for k, v in results.items()}))


if __name__ == "__main__":
    main()
