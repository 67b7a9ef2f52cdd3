#!/usr/bin/env python3
"""Watch etcd's quorum from a member while something changes it (podman exec -d HOST
python3 /tmp/etcd-quorum-watch.py ...): about every 0.5 s, a write through any member and,
at the same moment, each member's status asked of that member alone, with this host's own
certificate and trust files read again each time, until the stop file appears; then one
JSON line of summary in --out.

  etcd-quorum-watch.py --endpoints URL,URL,... --stop-file PATH --out PATH

A member counts as down when it did not answer two rounds in a row (one slow answer, say
right after its own restart, is not a lost member). Summary: {"rounds": n, "writes_failed":
n, "max_gap_s": the longest time without a successful write, "min_up": the fewest members
up at once, "down_rounds": {member: rounds it was down}, "members": n, "first_failure":
text or null}. A rolling restart keeps all members but one up, and a write waits no
longer than an election.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

TLS = "/etc/etcd/tls"


def ctl(endpoints: str) -> list[str]:
    return [
        "etcdctl",
        f"--endpoints={endpoints}",
        f"--cacert={TLS}/ca.crt",
        f"--cert={TLS}/member.crt",
        f"--key={TLS}/member.key",
        "--dial-timeout=2s",
        "--command-timeout=3s",
    ]


def run(argv: list[str]) -> tuple[bool, str]:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=8)
    except subprocess.TimeoutExpired:
        return False, "timeout"
    return r.returncode == 0, r.stderr.strip()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", required=True)
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    endpoints = args.endpoints.split(",")
    members = len(endpoints)
    put = [*ctl(args.endpoints), "put", "/quorum-watch"]
    min_up = members
    down_rounds = {e: 0 for e in endpoints}
    missed_before: set[str] = set()
    start = last_ok = time.monotonic()
    rounds = writes_failed = 0
    max_gap = 0.0
    first_failure = None
    with ThreadPoolExecutor(members + 1) as pool:
        while not os.path.exists(args.stop_file):
            write = pool.submit(run, [*put, str(time.time())])
            status = {
                e: pool.submit(run, [*ctl(e), "endpoint", "status", "-w", "json"])
                for e in endpoints
            }
            ok, err = write.result()
            now = time.monotonic()
            rounds += 1
            if ok:
                max_gap = max(max_gap, now - last_ok)
                last_ok = now
            else:
                writes_failed += 1
                first_failure = first_failure or err[-300:]
            missed = {e for e, f in status.items() if not f.result()[0]}
            down = missed & missed_before
            missed_before = missed
            for e in down:
                down_rounds[e] += 1
            min_up = min(min_up, members - len(down))
            time.sleep(0.5)
    max_gap = max(max_gap, time.monotonic() - last_ok)
    summary = {
        "rounds": rounds,
        "writes_failed": writes_failed,
        "max_gap_s": round(max_gap, 2),
        "min_up": min_up,
        "down_rounds": down_rounds,
        "members": members,
        "seconds": round(time.monotonic() - start, 1),
        "first_failure": first_failure,
    }
    with open(args.out, "w") as f:
        f.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
