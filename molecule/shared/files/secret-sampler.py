#!/usr/bin/env python3
"""Watch every process's command line and environment for known secret values.

The security fault runs this on each lab host (as a systemd service, so it is back after
a host restarts) and on the controller, while the project's playbooks converge, fail
over, rejoin and restore. Many times a second it reads /proc/*/cmdline and
/proc/*/environ and records each process in which a secret appears, by the secret's
label, never its value. The secrets come from a file (one "label<TAB>value" per line,
mode 0600), never from its own command line or environment.

  secret-sampler.py --secrets FILE --out HITS.jsonl --stats STATS.json [--hz 20]
                    [--duration SECONDS] [--stop-file PATH]
  secret-sampler.py --summarize HITS.jsonl STATS.json

Each hit is a JSON line: {"at", "pid", "comm", "where": "cmdline"|"environ", "label"}.
The stats file is rewritten about once a second: {"started", "last", "samples", "processes",
"hits"}, so the caller can tell that the sampler really ran, how often, and for how long.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# Shorter values are too likely to appear by chance; the project refuses such secrets.
MIN_SECRET_LENGTH = 12


def load_secrets(path: Path) -> list[tuple[str, bytes]]:
    secrets = []
    for line in path.read_text().splitlines():
        label, sep, value = line.partition("\t")
        if not sep or len(value) < MIN_SECRET_LENGTH:
            continue
        secrets.append((label, value.encode()))
    if not secrets:
        raise SystemExit(f"{path}: no secrets of {MIN_SECRET_LENGTH}+ characters to look for")
    return secrets


def read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:  # the process ended, or is not ours to read
        return b""


def scan(secrets: list[tuple[str, bytes]], own: int) -> tuple[int, list[dict]]:
    """One pass over /proc: the number of processes read and the hits found."""
    hits = []
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        count += 1
        for where in ("cmdline", "environ"):
            data = read(f"/proc/{entry.name}/{where}")
            if not data:
                continue
            for label, value in secrets:
                if value in data:
                    comm = read(f"/proc/{entry.name}/comm").decode(errors="replace").strip()
                    hits.append(
                        {
                            "at": round(time.time(), 3),
                            "pid": int(entry.name),
                            "comm": comm,
                            "where": where,
                            "label": label,
                        }
                    )
    return count, hits


def run(args: argparse.Namespace) -> int:
    secrets = load_secrets(Path(args.secrets))
    out = Path(args.out)
    stats_path = Path(args.stats)
    out.parent.mkdir(parents=True, exist_ok=True)
    stats = {"started": time.time(), "last": None, "samples": 0, "processes": 0, "hits": 0}
    seen: set[tuple[int, str, str]] = set()
    period = 1.0 / args.hz
    deadline = time.time() + args.duration if args.duration else None
    next_stats = 0.0
    own = os.getpid()
    with out.open("a") as fh:
        while True:
            started = time.monotonic()
            count, hits = scan(secrets, own)
            stats["samples"] += 1
            stats["processes"] = max(stats["processes"], count)
            for hit in hits:
                key = (hit["pid"], hit["where"], hit["label"])
                if key in seen:
                    continue
                seen.add(key)
                stats["hits"] += 1
                fh.write(json.dumps(hit) + "\n")
                fh.flush()
            now = time.time()
            stats["last"] = now
            if now >= next_stats:
                tmp = stats_path.with_suffix(".tmp")
                tmp.write_text(json.dumps(stats))
                tmp.replace(stats_path)
                next_stats = now + 1.0
            if (deadline and now > deadline) or (args.stop_file and Path(args.stop_file).exists()):
                stats_path.write_text(json.dumps(stats))
                return 0
            time.sleep(max(0.0, period - (time.monotonic() - started)))


def summarize(hits_path: Path, stats_path: Path) -> dict:
    hits = []
    if hits_path.exists():
        hits = [json.loads(line) for line in hits_path.read_text().splitlines() if line.strip()]
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    seconds = (stats.get("last") or 0) - (stats.get("started") or 0)
    return {
        "hits": hits,
        "samples": stats.get("samples", 0),
        "seconds": round(seconds, 1),
        "rate_hz": round(stats.get("samples", 0) / seconds, 1) if seconds > 0 else 0.0,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--secrets")
    p.add_argument("--out")
    p.add_argument("--stats")
    p.add_argument("--hz", type=float, default=20.0)
    p.add_argument("--duration", type=float, default=0.0)
    p.add_argument("--stop-file", default="")
    p.add_argument("--summarize", nargs=2, metavar=("HITS", "STATS"))
    args = p.parse_args()
    if args.summarize:
        print(json.dumps(summarize(Path(args.summarize[0]), Path(args.summarize[1]))))
        return 0
    if not (args.secrets and args.out and args.stats):
        p.error("--secrets, --out and --stats are required")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
