#!/usr/bin/env python3
"""Lab benchmark: prints wall times of a cold `make lab` and of a no-change re-run.

Phases, each timed separately:
  image     lab/build-image.sh (debootstrap + systemd image; ~0 s when cached)
  hosts     lab/up.yml (network, store, containers, boot)
  converge  site.yml on fresh hosts, split into package install and the rest
  rerun     site.yml again (should report changed=0)

Run through ansible-runner so every task's duration is recorded; the slowest tasks of
the converge and of the re-run are listed. Not a test: it asserts nothing about speed.

Usage: bench/lab.py [--cold-image] [--inventory inventory/lab]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ansible_runner

ROOT = Path(__file__).resolve().parents[1]


def sh(*cmd: str) -> float:
    start = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def play(playbook: str, inventory: str) -> tuple[float, list[tuple[float, str]], dict]:
    """Run a playbook with ansible-runner; return wall time, per-task times, stats."""
    tasks: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as private:
        start = time.monotonic()
        runner = ansible_runner.run(
            private_data_dir=private,
            project_dir=str(ROOT),
            playbook=str(ROOT / playbook),
            inventory=str(ROOT / inventory),
            envvars={
                "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
                "CONTAINERS_CONF": str(ROOT / "lab/containers.conf"),
            },
            quiet=True,
        )
        wall = time.monotonic() - start
        for event in runner.events:
            data = event.get("event_data", {})
            if event.get("event", "").startswith("runner_on_") and "duration" in data:
                task = data.get("task", "?")
                tasks[task] = max(tasks.get(task, 0.0), float(data["duration"]))
        if runner.rc != 0:
            sys.exit(f"{playbook} failed (rc={runner.rc}); run it by hand to see why")
        stats = runner.stats or {}
    slowest = sorted(((d, t) for t, d in tasks.items()), reverse=True)
    return wall, slowest, stats


def changed(stats: dict) -> int:
    return sum(stats.get("changed", {}).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", default="inventory/lab")
    parser.add_argument("--cold-image", action="store_true", help="rebuild the images too")
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "lab/containers.conf"))

    down = play("lab/down.yml", args.inventory)[0]
    shutil.rmtree(ROOT / "inventory/pki" / Path(args.inventory).name, ignore_errors=True)
    if args.cold_image:
        subprocess.run(
            "podman images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/pglab-'"
            " | xargs -r podman rmi -f",
            shell=True,
            cwd=ROOT,
            check=False,
            stdout=subprocess.DEVNULL,
        )
    image = sh(str(ROOT / "lab/build-image.sh"))
    hosts, _, _ = play("lab/up.yml", args.inventory)
    converge, conv_tasks, _ = play("site.yml", args.inventory)
    install = sum(d for d, t in conv_tasks if "Install |" in t)
    rerun, rerun_tasks, rerun_stats = play("site.yml", args.inventory)

    print(f"lab benchmark ({args.inventory}, {os.cpu_count()} CPUs)")
    print(f"  lab-down (before)             {down:7.1f} s")
    print(f"  image build{' (cold)' if args.cold_image else ' (cached)':16} {image:7.1f} s")
    print(f"  hosts up (lab/up.yml)         {hosts:7.1f} s")
    print(f"  converge site.yml (fresh)     {converge:7.1f} s")
    print(f"    of which package install    {install:7.1f} s")
    print(f"  cold make lab total           {image + hosts + converge:7.1f} s")
    print(f"  no-change re-run of site.yml  {rerun:7.1f} s  (changed={changed(rerun_stats)})")
    for title, rows in (("converge", conv_tasks), ("re-run", rerun_tasks)):
        print(f"  slowest tasks, {title}:")
        for duration, task in rows[: args.top]:
            print(f"    {duration:6.2f} s  {task}")


if __name__ == "__main__":
    main()
