#!/usr/bin/env python3
"""Point-in-time restore times on the lab: the playbooks against a hand-run pgBackRest restore.

Setup, once (`make lab` first): a pgbench database `bench` of --pgbench-scale on the
inventory's primary (not re-made when pgbench_accounts already holds scale * 100000 rows;
scale 70 is about 1 GB), then a full backup by the cron job's own command
(/usr/local/sbin/pgbackrest-scheduled full). Leftover side and rawbench clusters on
--restore-host are dropped first.

Before each restore, a fresh target T: rows in bench_restore_marker, T read from the
server clock (UTC, microseconds), 1 s, more rows and `pgbench -T 5` after T. Each run:
  in-place  `playbooks/restore.yml -e restore_target_time=T -e restore_confirm=<primary>`.
            Measured: playbook start to the first write the restored primary accepted
            (the report's first_write_at), the report's RTO (first stop to first write)
            and the playbook's wall time (it goes on with a full backup on the new
            timeline and the replicas rebuilt from it).
  side      `restore.yml ... -e restore_mode=side -e restore_host=<restore host>`: playbook
            start to first write, the report's RTO and the wall time; then the side cluster
            is dropped (restore_side_drop=true, timed as well).
  drill     `playbooks/restore_drill.yml -e drill_host=<restore host>`: wall time, and the
            report's RTO, backup age and bytes of WAL replayed.
  raw       by hand on the restore host, the best settings: a cluster 17/rawbench on port
            5439 (pg_createcluster, data directory emptied), `pgbackrest restore
            --type=time --target=T --target-action=promote --archive-mode=off
            --process-max=<nproc>`, started, pg_is_in_recovery() polled every 0.1 s, then
            the first write; timed inside the container from the restore's start to that
            write (split: restore, start + recovery). The WAL past T is archived (pgbackrest
            check on the primary) before the clock starts. The cluster is dropped after.
The target: in-place PITR (playbook start to first write) <= raw + 10 s, printed
with whether it is met. Not a test: asserts nothing, prints figures (a table and one JSON
line, also written to .reports/bench-restore.json); median of --runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import common
from common import ROOT, finite, median, playbook

REPORTS = ROOT / ".reports"
OUT = REPORTS / "bench-restore.json"
WORK = ROOT / ".lab/bench-restore"
MARKER = "bench_restore_marker"
MARKER_ROWS = 1000
VERSION = "17"
RAW = "rawbench"
RAW_PORT = 5439
SIDE = "restore"
TARGET_MARGIN_S = 10.0
T_SQL = "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'"

# Run as root in the restore host's container: $1 the target, $2 --process-max. Prints
# "<step> <epoch>" lines; the data directory is empty, the cluster configured, stopped.
RAW_SCRIPT = f"""
set -euo pipefail
d=/var/lib/postgresql/{VERSION}/{RAW}
ts() {{ date +%s.%N; }}
q() {{ runuser -u postgres -- psql -XAtq -p {RAW_PORT} -d postgres -c "$1" 2>/dev/null; }}
echo "start $(ts)"
runuser -u postgres -- pgbackrest --stanza=main --pg1-path="$d" --archive-mode=off --no-delta \\
  --process-max="$2" --type=time "--target=$1" --target-action=promote \\
  --log-level-console=warn restore
echo "restored $(ts)"
printf '%s\\n' 'port = {RAW_PORT}' "synchronous_standby_names = ''" \\
  "shared_preload_libraries = 'pg_stat_statements,pgaudit'" \\
  | runuser -u postgres -- tee -a "$d/postgresql.auto.conf" >/dev/null
systemctl start postgresql@{VERSION}-{RAW}
echo "started $(ts)"
until [ "$(q 'SELECT pg_is_in_recovery()')" = f ]; do
  systemctl is-active --quiet postgresql@{VERSION}-{RAW} \\
    || {{ echo 'stopped during recovery' >&2; exit 1; }}
  sleep 0.1
done
echo "promoted $(ts)"
q 'SELECT pg_current_xact_id()' >/dev/null
echo "written $(ts)"
"""


class Lab(common.Lab):
    """The inventory's postgresql hosts and the primary it names; commands run as postgres
    and a failure ends the benchmark unless told otherwise."""

    def __init__(self, inventory: str) -> None:
        super().__init__(inventory)
        primaries = self.members("postgresql_primary")
        if len(primaries) != 1:
            sys.exit(f"{inventory}: expected postgresql hosts and one postgresql_primary host")
        self.primary = primaries[0]

    def run(
        self,
        name: str,
        *argv: str,
        user: str | None = "postgres",
        check: bool = True,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return super().run(name, *argv, user=user, check=check, timeout=timeout)

    def wait_writable(self, timeout: float = 120) -> None:
        end = time.time() + timeout
        while self.psql(self.primary, "SELECT pg_is_in_recovery()") != "f":
            if time.time() > end:
                sys.exit(f"{self.primary} (the inventory's primary) does not accept writes")
            time.sleep(1)

    def wait_replicas(self, timeout: float = 300) -> None:  # type: ignore[override]
        super().wait_replicas(self.primary, timeout)

    def clusters(self, name: str) -> list[str]:
        out = self.run(name, "pg_lsclusters", "-h", user=None).stdout
        return [p[1] for p in (line.split() for line in out.splitlines()) if len(p) > 1]


def report(event: str, since: float, out: str, host: str) -> dict:
    """The run's JSON report: the one named in the playbook's summary line, else the newest
    .reports/<event>-<timestamp>.json written since the start for that host ({} if none).
    Other runs (molecule scenarios) write to the same directory: the host tells them apart.
    """
    named = re.findall(r"Report:\s+(\S+?/" + re.escape(event) + r"-[0-9]\S*?\.json)", out)
    if named and Path(named[-1]).is_file():
        return json.loads(Path(named[-1]).read_text())
    found = sorted(
        (p for p in REPORTS.glob(f"{event}-[0-9]*.json") if p.stat().st_mtime >= since - 1),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for path in found:
        data = json.loads(path.read_text())
        if host in (data.get("host"), data.get("primary")):
            return data
    return {}


def num(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def setup(lab: Lab, scale: int) -> dict:
    """The pgbench database (unless it is there at this scale), then a full backup."""
    p = lab.primary
    port = str(lab.port)
    info: dict = {}
    if lab.psql(p, "SELECT 1 FROM pg_database WHERE datname = 'bench'") != "1":
        lab.run(p, "createdb", "-p", port, "bench")
    rows = lab.psql(p, "SELECT count(*) FROM pgbench_accounts", db="bench")
    if rows != str(scale * 100000):
        print(f"pgbench -i -s {scale} in bench on {p} ...", flush=True)
        t = time.time()
        lab.run(p, "pgbench", "-i", "-q", "-I", "dtGp", "-s", str(scale), "-p", port, "bench")
        info["pgbench_init_s"] = round(time.time() - t, 1)
        lab.wait_replicas(timeout=900)
    print(f"full backup (pgbackrest-scheduled full) on {p} ...", flush=True)
    t = time.time()
    lab.run(p, "/usr/local/sbin/pgbackrest-scheduled", "full", user=None, timeout=3600)
    info["full_backup_s"] = round(time.time() - t, 1)
    info_json = lab.run(p, "pgbackrest", "--stanza=main", "--output=json", "info").stdout
    backups = json.loads(info_json)[0].get("backup", [])
    newest = backups[-1] if backups else {}
    if newest.get("type") != "full" or newest.get("timestamp", {}).get("stop", 0) < t - 1:
        sys.exit(
            "pgbackrest-scheduled full made no full backup (another job held its lock?): "
            "see /var/log/pgbackrest/scheduled.log"
        )
    info["full_backup"] = newest.get("label")
    info["full_backup_bytes"] = newest.get("info", {}).get("size")
    return info


def mark(lab: Lab, label: str) -> str:
    """Rows, then a target T from the server clock, 1 s, rows and 5 s of pgbench after T."""
    p = lab.primary
    lab.psql(
        p, f"CREATE TABLE IF NOT EXISTS {MARKER} (id bigserial PRIMARY KEY, label text NOT NULL,"
        " phase text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())",
        db="bench", check=True,
    )  # fmt: skip
    insert = (
        f"INSERT INTO {MARKER} (label, phase) SELECT '{label}', '%s' "
        f"FROM generate_series(1, {MARKER_ROWS})"
    )
    lab.psql(p, insert % "before", db="bench", check=True)
    target = lab.psql(p, T_SQL, check=True)
    time.sleep(1)
    lab.psql(p, insert % "after", db="bench", check=True)
    lab.run(p, "pgbench", "-n", "-c", "2", "-T", "5", "-p", str(lab.port), "bench")
    return target


def markers(lab: Lab, name: str, label: str, port: int = 0) -> str:
    """'before/after' rows of the label's mark on a node ('?' when it does not answer)."""
    out = lab.psql(
        name, f"SELECT count(*) FILTER (WHERE phase = 'before') || '/' || "
        f"count(*) FILTER (WHERE phase = 'after') FROM {MARKER} WHERE label = '{label}'",
        db="bench", port=port,
    )  # fmt: skip
    return out or "?"


def in_place(lab: Lab, args: argparse.Namespace, run: int, notes: dict) -> dict:
    label = f"in-place-{run}-{args.id}"
    target = mark(lab, label)
    start, end, out = playbook(
        args.inventory, "restore.yml", "-e", f"restore_target_time='{target}'",
        "-e", f"restore_confirm={lab.primary}", log=WORK / f"{label}.log",
    )  # fmt: skip
    rep = report("restore", start, out, lab.primary)
    notes[label] = {
        "target": target,
        "markers_before_after": markers(lab, lab.primary, label),
        "timeline": rep.get("timeline"),
        "backup": (rep.get("plan") or {}).get("backup", {}).get("label"),
        "stopping": (rep.get("recovery") or {}).get("stopping"),
    }
    return {
        "inplace_to_first_write_s": num(rep.get("first_write_at")) - start,
        "inplace_rto_s": num(rep.get("rto_seconds")),
        "inplace_playbook_s": end - start,
    }


def side(lab: Lab, args: argparse.Namespace, run: int, notes: dict) -> dict:
    label = f"side-{run}-{args.id}"
    host = args.restore_host
    target = mark(lab, label)
    start, end, out = playbook(
        args.inventory, "restore.yml", "-e", f"restore_target_time='{target}'",
        "-e", "restore_mode=side", "-e", f"restore_host={host}", log=WORK / f"{label}.log",
    )  # fmt: skip
    rep = report("restore-side", start, out, host)
    port = int(rep.get("port") or 5433)
    notes[label] = {
        "target": target,
        "markers_before_after": markers(lab, host, label, port=port),
        "backup": (rep.get("backup") or {}).get("label"),
        "restore_seconds": rep.get("restore_seconds"),
        "stopping": (rep.get("recovery") or {}).get("stopping"),
    }
    dstart, dend, _ = drop_side(lab, args, f"side-drop-{run}")
    return {
        "side_to_first_write_s": num(rep.get("first_write_at")) - start,
        "side_rto_s": num(rep.get("rto_seconds")),
        "side_playbook_s": end - start,
        "side_drop_playbook_s": dend - dstart,
    }


def drop_side(lab: Lab, args: argparse.Namespace, label: str) -> tuple[float, float, str]:
    return playbook(
        args.inventory, "restore.yml", "-e", "restore_mode=side",
        "-e", f"restore_host={args.restore_host}", "-e", "restore_side_drop=true",
        log=WORK / f"{label}.log",
    )  # fmt: skip


def drill(lab: Lab, args: argparse.Namespace, run: int, notes: dict) -> dict:
    label = f"drill-{run}"
    start, end, out = playbook(
        args.inventory, "restore_drill.yml", "-e", f"drill_host={args.restore_host}",
        log=WORK / f"{label}.log",
    )  # fmt: skip
    rep = report("drill", start, out, args.restore_host)
    notes[label] = {"result": rep.get("result"), "backup": (rep.get("backup") or {}).get("label")}
    return {
        "drill_playbook_s": end - start,
        "drill_rto_s": num(rep.get("rto_seconds")),
        "drill_backup_age_s": num((rep.get("backup") or {}).get("age_seconds")),
        "drill_bytes_replayed": num(rep.get("bytes_replayed")),
    }


def drop_raw(lab: Lab, host: str) -> None:
    if RAW in lab.clusters(host):
        lab.run(host, "pg_dropcluster", "--stop", VERSION, RAW, user=None, check=False)
    lab.run(
        host, "rm", "-rf", "--one-file-system", f"/etc/postgresql/{VERSION}/{RAW}",
        f"/var/lib/postgresql/{VERSION}/{RAW}", user=None, check=False,
    )  # fmt: skip


def raw(lab: Lab, args: argparse.Namespace, run: int, cores: int, notes: dict) -> dict:
    label = f"raw-{run}-{args.id}"
    host = args.restore_host
    target = mark(lab, label)
    # The WAL past T in the repository (a WAL switch, waited for): not timed.
    lab.run(lab.primary, "pgbackrest", "--stanza=main", "--log-level-console=warn", "check")
    data = f"/var/lib/postgresql/{VERSION}/{RAW}"
    try:
        lab.run(
            host, "pg_createcluster", "--port", str(RAW_PORT), VERSION, RAW, "--", "--no-sync",
            user=None,
        )  # fmt: skip
        lab.run(host, "find", data, "-mindepth", "1", "-delete")
        proc = lab.run(
            host, "bash", "-c", RAW_SCRIPT, "bash", target, str(cores), user=None, timeout=7200
        )
        steps = ("start", "restored", "started", "promoted", "written")
        lines = (ln.split() for ln in proc.stdout.splitlines())
        at = {p[0]: float(p[1]) for p in lines if len(p) == 2 and p[0] in steps}
        notes[label] = {
            "target": target,
            "markers_before_after": markers(lab, host, label, port=RAW_PORT),
            "process_max": cores,
        }
    finally:
        drop_raw(lab, host)
    return {
        "raw_to_first_write_s": at["written"] - at["start"],
        "raw_restore_s": at["restored"] - at["start"],
        "raw_start_recovery_s": at["written"] - at["restored"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", default="inventory/lab")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--pgbench-scale", type=int, default=70,
        help="pgbench database 'bench' of this scale (70, the default, is about 1 GB)",
    )  # fmt: skip
    parser.add_argument(
        "--restore-host", default="pg3",
        help="host of the side restore, the drill and the raw restore (default pg3)",
    )  # fmt: skip
    args = parser.parse_args()
    args.id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())  # marker labels of this run
    os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "lab/containers.conf"))
    began = time.time()
    WORK.mkdir(parents=True, exist_ok=True)
    REPORTS.mkdir(exist_ok=True)
    lab = Lab(args.inventory)
    if args.restore_host not in lab.container:
        sys.exit(f"--restore-host {args.restore_host} is not a postgresql host")
    lab.wait_writable()
    lab.wait_replicas()

    # Leftovers of an earlier run on the restore host.
    drop_raw(lab, args.restore_host)
    if SIDE in lab.clusters(args.restore_host):
        print(f"dropping a leftover side cluster on {args.restore_host} ...", flush=True)
        drop_side(lab, args, "side-drop-leftover")

    setup_info = setup(lab, args.pgbench_scale)
    size = lab.psql(lab.primary, "SELECT pg_size_pretty(pg_database_size('bench'))")
    cores = int(lab.run(args.restore_host, "nproc", user=None).stdout.strip())
    results: dict[str, list[float]] = {}
    notes: dict = {}
    for run in range(1, args.runs + 1):
        figures: dict[str, float] = {}
        lab.wait_replicas()
        figures |= in_place(lab, args, run, notes)
        lab.wait_writable()
        lab.wait_replicas()
        figures |= side(lab, args, run, notes)
        figures |= drill(lab, args, run, notes)
        figures |= raw(lab, args, run, cores, notes)
        for key, value in figures.items():
            results.setdefault(key, []).append(round(value, 2))
        print(
            f"run {run}: in-place {figures['inplace_to_first_write_s']:.2f} s to first write, "
            f"side {figures['side_to_first_write_s']:.2f} s, drill RTO "
            f"{figures['drill_rto_s']:.2f} s, raw {figures['raw_to_first_write_s']:.2f} s",
            flush=True,
        )

    meds = {k: median(v) for k, v in results.items()}
    inplace, base = meds["inplace_to_first_write_s"], meds["raw_to_first_write_s"]
    met = None if inplace is None or base is None else inplace <= base + TARGET_MARGIN_S
    target = {
        "measure": "in-place PITR (playbook start to first write) <= raw + 10 s",
        "in_place_s": inplace,
        "raw_s": base,
        "limit_s": None if base is None else round(base + TARGET_MARGIN_S, 2),
        "met": met,
    }
    total = round(time.time() - began, 1)
    print(
        f"\nlab: primary {lab.primary}, restore host {args.restore_host} ({cores} cores), "
        f"bench {size} (pgbench scale {args.pgbench_scale}), median of {args.runs} runs, "
        f"playbook logs in {WORK}"
    )
    print(f"  setup: {setup_info}")
    print(f"  {'measure':28s} {'median':>12s}   runs")
    for name, values in results.items():
        med = meds[name]
        shown = f"{'n/a':>12s}" if med is None else f"{med:12.{0 if 'bytes' in name else 2}f}"
        print(f"  {name:28s} {shown}   {values}")
    print(
        f"  target: {target['measure']}: {inplace} s vs raw {base} s + 10 = "
        f"{target['limit_s']} s -> {'met' if met else 'NOT met' if met is False else 'n/a'}"
    )
    print(f"  total wall time {total} s")
    out = {
        "primary": lab.primary,
        "restore_host": args.restore_host,
        "cores": cores,
        "data": size,
        "pgbench_scale": args.pgbench_scale,
        "runs": args.runs,
        "setup": setup_info,
        "median": meds,
        "values": {k: [finite(x) for x in v] for k, v in results.items()},
        "target": target,
        "notes": notes,
        "total_s": total,
    }
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
