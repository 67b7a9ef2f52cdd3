#!/usr/bin/env python3
"""Replica lag under write load on the lab: pgbench on the primary, lag sampled meanwhile.

pgbench (8 clients, --seconds) runs on the lab primary (pg1) against a small pgbench
database; every --interval seconds the primary's pg_stat_replication.replay_lag is read
for each replica (the time from a commit on the primary to its replay on the replica).
Prints p50/p99/max per replica and the pgbench throughput. Not a test: asserts nothing.
Needs `make lab` (a primary and two streaming replicas).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import threading
import time
from pathlib import Path

from common import percentile

ROOT = Path(__file__).resolve().parents[1]
SSH = [
    "ssh", "-i", str(ROOT / ".lab/ssh/id_ed25519"), "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ControlMaster=auto",
    "-o", "ControlPath=/tmp/pgfleet-lag-%C", "-o", "ControlPersist=120",
]  # fmt: skip


def remote(host: str, command: str) -> str:
    return subprocess.run(
        [*SSH, f"root@{host}", command], check=True, capture_output=True, text=True
    ).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--primary", default="10.89.70.11")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    p = args.primary

    psql = "runuser -u postgres -- psql -XAtq"
    if (
        remote(p, f"{psql} -c \"SELECT 1 FROM pg_database WHERE datname = 'lagbench'\"").strip()
        != "1"
    ):
        remote(p, "runuser -u postgres -- createdb lagbench && "
                  "runuser -u postgres -- pgbench -q -i -s 10 lagbench")  # fmt: skip
    result: dict[str, str] = {}

    def load() -> None:
        result["out"] = remote(
            p,
            f"runuser -u postgres -- pgbench -n -c {args.clients} -j 2 -T {args.seconds} lagbench",
        )

    worker = threading.Thread(target=load)
    worker.start()
    samples: dict[str, list[float]] = {}
    query = (
        "SELECT application_name || ' ' || coalesce(extract(epoch FROM replay_lag), 0) "
        "FROM pg_stat_replication"
    )
    while worker.is_alive():
        for line in remote(p, f'{psql} -c "{query}"').splitlines():
            name, lag = line.split()
            samples.setdefault(name, []).append(float(lag))
        time.sleep(args.interval)
    worker.join()
    tps = [line for line in result.get("out", "").splitlines() if line.startswith("tps")]
    print(f"replication lag under pgbench -c {args.clients} -T {args.seconds} on {p}")
    print(f"  pgbench: {tps[0] if tps else 'no tps line'}")
    for name, values in sorted(samples.items()):
        print(
            f"  {name}: {len(values)} samples, p50 {statistics.median(values):.3f} s, "
            f"p99 {percentile(values, 0.99):.3f} s, max {max(values):.3f} s  (target p99 < 1 s)"
        )


if __name__ == "__main__":
    main()
