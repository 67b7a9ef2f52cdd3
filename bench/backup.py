#!/usr/bin/env python3
"""Backup throughput on the lab: the project's scheduled full backup against raw baselines.

On the lab primary (pg1 of inventory/lab, `make lab` first), with a pgbench database of
about 1 GB (`pgbench -i -s 70`, created once):
  read      tar cf - PGDATA | wc -c       (reading the data directory, the floor)
  raw N     pgbackrest --type=full backup --process-max=N into the same repository (its
            WAL archive is needed for the backup's consistency check), for N in 1..CPUs+1;
            the best is the hand-tuned baseline. The project's run then expires them.
  project   /usr/local/sbin/pgbackrest-scheduled full  (the cron job's own command)
Each backup is run --runs times; the median is reported. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY = ROOT / ".lab/ssh/id_ed25519"
SSH = [
    "ssh",
    "-i",
    str(KEY),
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ControlMaster=auto",
    "-o",
    "ControlPath=/tmp/pgfleet-bench-%C",
    "-o",
    "ControlPersist=120",
]


def remote(host: str, command: str) -> str:
    return subprocess.run(
        [*SSH, f"root@{host}", command], check=True, capture_output=True, text=True
    ).stdout


def timed(host: str, command: str) -> float:
    start = time.monotonic()
    remote(host, command)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="10.89.70.11")
    parser.add_argument("--scale", type=int, default=70)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    h = args.host

    if (
        remote(
            h, "sudo -u postgres psql -Atc \"SELECT 1 FROM pg_database WHERE datname='bench'\""
        ).strip()
        != "1"
    ):
        print(f"creating pgbench database, scale {args.scale} ...", flush=True)
        remote(
            h,
            "sudo -u postgres createdb bench && "
            f"sudo -u postgres pgbench -q -i -s {args.scale} bench",
        )
        remote(h, "sudo -u postgres psql -qc CHECKPOINT")
    size = remote(
        h,
        "sudo -u postgres psql -Atc "
        '"SELECT pg_size_pretty(sum(pg_database_size(datname))) FROM pg_database"',
    ).strip()
    cpus = int(remote(h, "nproc").strip())

    def median(command: str) -> float:
        return statistics.median(timed(h, command) for _ in range(args.runs))

    # The data directory of the cluster the lab runs (whatever its version and name).
    pgdata = remote(h, "sudo -u postgres psql -Atc 'SHOW data_directory'").strip()
    read = median(f"tar cf - -C {pgdata} . | wc -c")
    base = "sudo -u postgres pgbackrest --stanza=main --log-level-console=warn"
    raw = {}
    for n in range(1, cpus + 2):
        raw[n] = median(f"{base} --repo1-retention-full=50 --type=full --process-max={n} backup")
    project = median("/usr/local/sbin/pgbackrest-scheduled full")
    configured = remote(
        h, "grep -E '^process-max=' /etc/pgbackrest/pgbackrest.conf | head -1"
    ).strip()
    best_n = min(raw, key=raw.get)

    print(
        f"backup benchmark on {h}: {size} in the cluster, {cpus} CPUs, median of {args.runs} runs"
    )
    print(f"  read PGDATA (tar | wc -c)              {read:6.2f} s")
    for n, t in raw.items():
        print(
            f"  raw pgbackrest full, process-max={n}     {t:6.2f} s"
            + ("  <- best" if n == best_n else "")
        )
    print(f"  project: pgbackrest-scheduled full     {project:6.2f} s  ({configured})")
    print(f"  ratio project / best raw              {project / raw[best_n]:6.2f}  (target <= 1.10)")
    print(f"  ratio project / read                  {project / read:6.2f}")


if __name__ == "__main__":
    main()
