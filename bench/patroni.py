#!/usr/bin/env python3
"""Patroni engine on the lab: host loss, rejoin and switchover times, with writes running.

The lab of inventory/lab-patroni (`make lab INVENTORY=inventory/lab-patroni`): Patroni and
etcd on pg1-pg3, quorum synchronous mode, HAProxy on each node (5000 to the leader). A
writer (molecule/shared/files/writer.py, one commit every 50 ms into app.bench_patroni)
connects through HAProxy's port 5000 of every node in turn (a host list: libpq tries them
in order) and logs each acknowledged commit with its time and the server that took it.
The cluster's state is read from Patroni's REST API (GET /cluster on a member, what
`patronictl list` shows), polled every 0.2 s from the controller. Each run:
  host loss   the writer running (40 acknowledgements first), the leader's container is
              killed (podman kill: SIGKILL to postgres, Patroni and the etcd member at
              once). Measured: from just before the kill to the first commit acknowledged
              by another server (the writer's log time), the writer's longest gap, and the
              kill to a surviving member shown as the running leader. Recorded: whether
              the killed host was etcd's leader (etcdctl endpoint status just before the
              kill; a new etcd leader renews every lease, Patroni's leader key included).
  rejoin      the container is started again (podman start). Measured: from podman start
              returning to the member streaming on the leader's timeline, and from
              Patroni's start (the first line of its unit's journal in the container) to
              the same moment. Then the cluster is waited for: one leader, every other
              member streaming on its timeline.
  switchover  the writer running, `playbooks/switchover.yml -e switchover_to=<replica>`,
              the target alternating between the replicas. Measured: the writer's longest
              gap between acknowledgements overlapping the playbook (what a client sees),
              the playbook's own figure (request to the target writable) and its wall time.
Every wait gives up after --timeout seconds. The writer is stopped and every killed
container started again whatever happens; the cluster is left healthy. Not a test:
asserts nothing; prints the timing settings in use, the figures (median, min, max of
--runs) against the project's targets, and one JSON line, also written to
bench/results/patroni.json (patroni-<inventory>.json for another inventory).

--inventory inventory/lab-witness runs the same on two database hosts and a witness
(etcd on pg1, pg2 and `witness`): the switchover then goes to the one replica and back.
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
from pathlib import Path

import common
import yaml
from common import ROOT, acks, finite, median, playbook, report, writer

from pgfleet import patroni_rest

WORK = ROOT / ".lab/bench-patroni"
RESULTS = ROOT / "bench/results"
TABLE = "app.bench_patroni"
INSTANCE = "17-main"
PATRONI_CONF = f"/etc/patroni/{INSTANCE}.yml"
SERVICE = f"patroni@{INSTANCE}"
HAPROXY_PORT = 5000
MIN_ACKS = 40
POLL_S = 0.2
# The project's targets, seconds (the median is compared).
TARGETS = {"host_loss_to_write_s": 25.0, "rejoin_s": 5.0, "switchover_gap_s": 2.0}


class Lab(common.Lab):
    """The inventory's postgresql hosts: containers, addresses, the writer's DSN, and the
    cluster as Patroni's REST API shows it."""

    def __init__(self, inventory: str, tcp_user_timeout_ms: int) -> None:
        # etcd's members: the `etcd` group (which may hold a witness host with no
        # PostgreSQL), else the PostgreSQL hosts.
        super().__init__(inventory, also=("etcd",))
        if len(self.names) < 2:
            sys.exit(f"{inventory}: expected two or more postgresql hosts (Patroni members)")
        if any(self.hostvars[n].get("postgresql_ha_engine") != "patroni" for n in self.names):
            sys.exit(f"{inventory}: postgresql_ha_engine is not patroni")
        self.etcd = self.members("etcd") or self.names
        timeout = f"tcp_user_timeout={tcp_user_timeout_ms}" if tcp_user_timeout_ms > 0 else ""
        self.dsn = self.writer_dsn(HAPROXY_PORT, "bench-patroni", timeout)
        # Patroni's REST API of each member, by its address (which its certificate names),
        # through the project's one client: the project CA, the name checked.
        self.api = {
            n: patroni_rest.Client(f"{self.address[n]}:8008", str(self.ca), timeout=1)
            for n in self.names
        }
        self.killed: set[str] = set()  # containers this run killed and has not started

    def cluster(self, among: list[str] | None = None) -> list[dict]:
        """GET /cluster from the first member that answers ([] when none does)."""
        for name in among or self.names:
            try:
                return self.api[name].cluster().get("members", [])
            except (OSError, ValueError):
                continue
        return []

    @staticmethod
    def leader(members: list[dict]) -> dict | None:
        found = [m for m in members if m.get("role") == "leader" and m.get("state") == "running"]
        return found[0] if len(found) == 1 else None

    def healthy(self, members: list[dict]) -> bool:
        """One running leader, every other member streaming on its timeline."""
        lead = self.leader(members)
        if lead is None or sorted(m.get("name") for m in members) != self.names:
            return False
        return all(
            m.get("state") == "streaming" and m.get("timeline") == lead.get("timeline")
            for m in members
            if m is not lead
        )

    def wait_healthy(self, timeout: float) -> list[dict]:
        end = time.time() + timeout
        while True:
            members = self.cluster()
            if self.healthy(members):
                return members
            if time.time() > end:
                shown = [(m.get("name"), m.get("role"), m.get("state"), m.get("timeline"))
                         for m in members]  # fmt: skip
                sys.exit(
                    f"the cluster is not healthy after {timeout:.0f} s: {shown or 'no answer'}"
                )
            time.sleep(0.5)

    def etcd_leader_on(self, name: str) -> bool | None:
        """Whether the host's etcd member is etcd's leader (False when it runs none), asked
        in another etcd member's container."""
        if name not in self.etcd:
            return False
        endpoints = ",".join(f"https://{self.address[n]}:2379" for n in self.etcd)
        via = next(n for n in self.etcd if n != name)
        out = self.run(
            via, "etcdctl", f"--endpoints={endpoints}", "--cacert=/etc/etcd/tls/ca.crt",
            "--cert=/etc/etcd/tls/member.crt", "--key=/etc/etcd/tls/member.key",
            "--command-timeout=2s", "endpoint", "status", "-w", "json", timeout=15,
        )  # fmt: skip
        try:
            status = {e["Endpoint"]: e["Status"] for e in json.loads(out.stdout)}
            own = status[f"https://{self.address[name]}:2379"]
        except (ValueError, KeyError, TypeError):
            return None
        return own["leader"] == own["header"]["member_id"]

    def start(self, name: str) -> None:
        subprocess.run(
            ["podman", "start", self.container[name]], check=True, capture_output=True, timeout=120
        )
        self.killed.discard(name)

    def settings(self, name: str) -> dict:
        """Patroni's dynamic configuration and etcd's timers, as the host has them."""
        show = self.run(name, "patronictl", "-c", PATRONI_CONF, "show-config", user="postgres")
        dcs = yaml.safe_load(show.stdout) or {} if show.returncode == 0 else {}
        member = name if name in self.etcd else self.etcd[0]
        env = self.run(member, "cat", "/etc/default/etcd").stdout
        etcd = dict(re.findall(r'^(ETCD_\w+)="?([^"\n]*)"?', env, re.M))
        return {
            "ttl": dcs.get("ttl"),
            "loop_wait": dcs.get("loop_wait"),
            "retry_timeout": dcs.get("retry_timeout"),
            "synchronous_mode": dcs.get("synchronous_mode"),
            "failsafe_mode": dcs.get("failsafe_mode"),
            "etcd_heartbeat_interval_ms": etcd.get("ETCD_HEARTBEAT_INTERVAL"),
            "etcd_election_timeout_ms": etcd.get("ETCD_ELECTION_TIMEOUT"),
        }

    def journal(self, name: str, since: float) -> list[tuple[float, str]]:
        """Patroni's unit journal in the container since the time: (time, message)."""
        out = self.run(
            name, "journalctl", "-u", SERVICE, "-o", "short-unix", "--no-pager",
            f"--since=@{int(since)}",
        ).stdout  # fmt: skip
        lines = []
        for line in out.splitlines():
            stamp, _, rest = line.partition(" ")
            with contextlib.suppress(ValueError):
                lines.append((float(stamp), rest))
        return lines


PATRONI_LINE = re.compile(r"\b(?:INFO|WARNING|ERROR|CRITICAL): (.*)")
QUIET = ("no action.", "Lock owner:", "heartbeat connection", "pg_controldata:", " P00 ")
# PostgreSQL's own lines worth showing beside Patroni's.
POSTGRES_LINE = re.compile(
    r"(?:LOG|FATAL):  (database system is shut down|database system is ready to accept connections"
    r"|standby \S+ is now a candidate for quorum synchronous standby"
    r"|received SIGHUP|parameter \"primary_conninfo\" changed"
    r"|started streaming WAL from primary|fetching timeline history file|new target timeline is"
    r"|replication terminated by primary server|could not connect to the primary server"
    r"|restored log file|redo starts at|consistent recovery state reached)"
)


def events(journal: list[tuple[float, str]], ref: float, since: float, until: float) -> list[str]:
    """Patroni's own log lines (not the routine ones) and PostgreSQL's landmarks between
    since and until, each with its time relative to ref: what a delay was spent on."""
    found = []
    for t, line in journal:
        match = POSTGRES_LINE.search(line) or PATRONI_LINE.search(line)
        if since <= t <= until and match and not any(q in line for q in QUIET):
            found.append(f"{t - ref:+.2f}s {match.group(1)[:150]}")
    return found[:25]


def wait_acks(log: Path, count: int, timeout: float) -> None:
    end = time.time() + timeout
    while len(acks(log)) < count:
        if time.time() > end:
            sys.exit(
                f"the writer has fewer than {count} acknowledgements after {timeout:.0f} s: "
                f"see {log.with_suffix('.err')}"
            )
        time.sleep(0.1)


def wait_ack(log: Path, since: float, timeout: float, server: str = "", other: str = "") -> tuple:
    """(time, server) of the first acknowledgement at or after since by the server (or by
    any server but other); exits after the timeout."""
    end = time.time() + timeout
    while True:
        for _, t, s in acks(log):
            if t >= since and (s == server if server else s != other):
                return t, s
        if time.time() > end:
            who = server or f"a server other than {other}"
            sys.exit(
                f"no write acknowledged by {who} within {timeout:.0f} s: "
                f"see {log} and {log.with_suffix('.err')}"
            )
        time.sleep(0.1)


def widest(
    rows: list[tuple[int, float, str]], start: float = 0, end: float = math.inf
) -> tuple[float, float]:
    """The longest interval between acknowledgements that overlaps [start, end]: (a, b)."""
    times = [t for _, t, _ in rows]
    pairs = [(a, b) for a, b in itertools.pairwise(times) if b >= start and a <= end]
    return max(pairs, key=lambda p: p[1] - p[0], default=(math.nan, math.nan))


class Poller:
    """A thread polling GET /cluster until check(members) gives a result (or stop())."""

    def __init__(self, lab: Lab, among: list[str], check, timeout: float) -> None:
        self.result: tuple[float, object] | None = None
        self._stop = threading.Event()
        self._end = time.time() + timeout

        def poll() -> None:
            while not self._stop.is_set() and time.time() < self._end:
                members = lab.cluster(among)
                seen = time.time()
                found = check(members) if members else None
                if found is not None:
                    self.result = (seen, found)
                    return
                self._stop.wait(POLL_S)

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()

    def wait(self) -> tuple[float, object] | None:
        self._thread.join()
        return self.result

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def host_loss(lab: Lab, args: argparse.Namespace, run: int, notes: dict) -> tuple[str, dict]:
    members = lab.wait_healthy(args.timeout)
    old = lab.leader(members)["name"]
    survivors = [n for n in lab.names if n != old]
    log = WORK / f"host-loss-{run}.log"

    def new_leader(ms: list[dict]) -> str | None:
        lead = lab.leader(ms)
        return lead["name"] if lead and lead["name"] != old else None

    with writer(lab.dsn, log, TABLE, lab.password_file):
        wait_acks(log, MIN_ACKS, args.timeout)
        etcd_leader = lab.etcd_leader_on(old)
        poller = Poller(lab, survivors, new_leader, args.timeout)
        killed = time.time()
        try:
            lab.killed.add(old)
            subprocess.run(
                ["podman", "kill", lab.container[old]], check=True, capture_output=True, timeout=60
            )
            first, server = wait_ack(log, killed, args.timeout, other=lab.address[old])
            seen = poller.wait()
        finally:
            poller.stop()
        time.sleep(1)
    rows = acks(log)
    gap_start, gap_end = widest(rows)
    last_old = [t for _, t, s in rows if s == lab.address[old] and t <= first]
    new = next((n for n, a in lab.address.items() if a == server), server)
    promoted = seen[0] if seen else first
    journal = lab.journal(new, killed - 1) if new in lab.container else []
    notes[f"host-loss-{run}"] = {
        "killed": old,
        "killed_at": round(killed, 3),
        "etcd_leader_killed": etcd_leader,
        "new_leader": seen[1] if seen else None,
        "first_write_by": new,
        "last_ack_by_killed_after_kill_s": round(last_old[-1] - killed, 3) if last_old else None,
        "writer_errors": log.with_suffix(".err").read_text().count("\n"),
        "events_on_new_leader": events(journal, killed, killed, promoted + 1),
    }
    return old, {
        "host_loss_to_write_s": first - killed,
        "host_loss_to_leader_s": seen[0] - killed if seen else math.nan,
        "host_loss_max_gap_s": gap_end - gap_start,
    }


def rejoin(lab: Lab, args: argparse.Namespace, run: int, name: str, notes: dict) -> dict:
    survivors = [n for n in lab.names if n != name]

    def streaming(ms: list[dict]) -> bool | None:
        lead = lab.leader(ms)
        me = [m for m in ms if m.get("name") == name]
        if lead and me and me[0].get("state") == "streaming":
            return me[0].get("timeline") == lead.get("timeline") or None
        return None

    before = time.time()
    lab.start(name)
    started = time.time()
    seen = Poller(lab, survivors, streaming, args.timeout).wait()
    if seen is None:
        sys.exit(
            f"{name} is not streaming on the leader's timeline {args.timeout:.0f} s after start"
        )
    at = seen[0]
    journal = lab.journal(name, before - 1)
    patroni = journal[0][0] if journal else math.nan
    notes[f"rejoin-{run}"] = {
        "host": name,
        "container_start_to_patroni_start_s": round(patroni - started, 2),
        "events": events(journal, started, started - 5, at),
    }
    return {"rejoin_s": at - started, "rejoin_patroni_s": at - patroni}


def switchover(lab: Lab, args: argparse.Namespace, run: int, notes: dict) -> dict:
    members = lab.wait_healthy(args.timeout)
    old = lab.leader(members)["name"]
    replicas = [n for n in lab.names if n != old]
    target = replicas[(run - 1) % len(replicas)]
    log = WORK / f"switchover-{run}.log"
    with writer(lab.dsn, log, TABLE, lab.password_file):
        wait_acks(log, MIN_ACKS, args.timeout)
        start, end, out = playbook(
            args.inventory, "switchover.yml", "-e", f"switchover_to={target}",
            log=WORK / f"switchover-{run}.ansible.log", timeout=args.timeout * 5,
        )  # fmt: skip
        wait_ack(log, start, args.timeout, server=lab.address[target])
        time.sleep(1)
    rep = report(out)
    gap_start, gap_end = widest(acks(log), start, end)
    notes[f"switchover-{run}"] = {
        "from": old,
        "to": target,
        "gap_from": round(gap_start, 3),
        "events_on_old_leader": events(
            lab.journal(old, start - 1), gap_start, gap_start - 1, gap_end + 0.5
        ),
        "events_on_target": events(
            lab.journal(target, start - 1), gap_start, gap_start - 1, gap_end + 0.5
        ),
        "events_on_others": {
            name: events(lab.journal(name, start - 1), gap_start, gap_start - 1, gap_end + 0.5)
            for name in lab.names
            if name not in (old, target)
        },
    }
    return {
        "switchover_gap_s": gap_end - gap_start,
        "switchover_reported_s": float(rep.get("write_unavailable_seconds", math.nan)),
        "switchover_playbook_s": end - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", default="inventory/lab-patroni")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--timeout", type=float, default=120, help="seconds any one wait may take (120)"
    )
    parser.add_argument(
        "--tcp-user-timeout-ms", type=int, default=0,
        help="tcp_user_timeout for the writer's connections; 0 (the default) leaves it out. "
        "podman kill closes the host's sockets (the writer sees EOF at once); a host that "
        "vanishes without a word would leave it in TCP retransmissions for minutes",
    )  # fmt: skip
    args = parser.parse_args()
    os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "lab/containers.conf"))
    began = time.time()
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    lab = Lab(args.inventory, args.tcp_user_timeout_ms)
    members = lab.wait_healthy(args.timeout)
    settings = lab.settings(lab.leader(members)["name"])
    print(
        f"Patroni: ttl {settings['ttl']} s, loop_wait {settings['loop_wait']} s, retry_timeout "
        f"{settings['retry_timeout']} s, synchronous_mode {settings['synchronous_mode']}, "
        f"failsafe_mode {settings['failsafe_mode']}; etcd: heartbeat "
        f"{settings['etcd_heartbeat_interval_ms']} ms, election timeout "
        f"{settings['etcd_election_timeout_ms']} ms",
        flush=True,
    )
    results: dict[str, list[float]] = {}
    notes: dict = {}
    try:
        for run in range(1, args.runs + 1):
            figures: dict[str, float] = {}
            killed, more = host_loss(lab, args, run, notes)
            figures |= more
            figures |= rejoin(lab, args, run, killed, notes)
            lab.wait_healthy(args.timeout)
            figures |= switchover(lab, args, run, notes)
            for key, value in figures.items():
                results.setdefault(key, []).append(round(value, 2))
            loss, sw = notes[f"host-loss-{run}"], notes[f"switchover-{run}"]
            print(
                f"run {run}: host loss {killed} (etcd leader: {loss['etcd_leader_killed']}) -> "
                f"write on {loss['first_write_by']} {figures['host_loss_to_write_s']:.2f} s "
                f"(leader {loss['new_leader']} at {figures['host_loss_to_leader_s']:.2f} s, "
                f"max gap {figures['host_loss_max_gap_s']:.2f} s); rejoin "
                f"{figures['rejoin_s']:.2f} s (Patroni start -> streaming "
                f"{figures['rejoin_patroni_s']:.2f} s); switchover {sw['from']}->{sw['to']} "
                f"gap {figures['switchover_gap_s']:.2f} s",
                flush=True,
            )
    finally:
        for name in sorted(lab.killed):
            print(f"starting {name} again ...", file=sys.stderr, flush=True)
            with contextlib.suppress(subprocess.SubprocessError):
                lab.start(name)
    final = lab.wait_healthy(args.timeout * 2)
    lead = lab.leader(final)

    meds = {k: median(v) for k, v in results.items()}
    labels = {
        "host_loss_to_write_s": "host loss -> write",
        "host_loss_to_leader_s": "host loss -> Patroni leader",
        "host_loss_max_gap_s": "host loss: writer max gap",
        "rejoin_s": "container start -> streaming",
        "rejoin_patroni_s": "Patroni start -> streaming",
        "switchover_gap_s": "switchover: writer max gap",
        "switchover_reported_s": "switchover: playbook figure",
        "switchover_playbook_s": "switchover.yml wall time",
    }
    targets = {}
    for key, limit in TARGETS.items():
        med = meds.get(key)
        targets[key] = {
            "limit_s": limit,
            "median_s": med,
            "met": None if med is None else med <= limit,
        }
    total = round(time.time() - began, 1)
    print(
        f"\nlab: {len(lab.names)} Patroni members, leader now {lead['name']} "
        f"(timeline {lead.get('timeline')}), {args.runs} runs, writer logs in {WORK}"
    )
    print(f"  {'measure':30s} {'median':>7s} {'min':>7s} {'max':>7s}   {'target':17s} runs")
    for key, values in results.items():
        known = [v for v in values if not math.isnan(v)]
        cells = [meds[key], min(known, default=None), max(known, default=None)]
        shown = " ".join(f"{c:7.2f}" if c is not None else "    n/a" for c in cells)
        goal = ""
        if key in targets:
            t = targets[key]
            verdict = "n/a" if t["met"] is None else "met" if t["met"] else "NOT met"
            goal = f"<= {t['limit_s']:g} s {verdict}"
        print(f"  {labels.get(key, key):30s} {shown}   {goal:17s} {values}")
    lost = [v["etcd_leader_killed"] for k, v in notes.items() if k.startswith("host-loss-")]
    print(f"  the killed host was etcd's leader in {lost.count(True)} of {len(lost)} runs")
    print(f"  total wall time {total} s")
    out = {
        "inventory": args.inventory,
        "runs": args.runs,
        "settings": settings,
        "writer_tcp_user_timeout_ms": args.tcp_user_timeout_ms,
        "median": meds,
        "min": {
            k: min((x for x in v if not math.isnan(x)), default=None) for k, v in results.items()
        },
        "max": {
            k: max((x for x in v if not math.isnan(x)), default=None) for k, v in results.items()
        },
        "values": {k: [finite(x) for x in v] for k, v in results.items()},
        "targets": targets,
        "etcd_leader_killed": lost,
        "notes": notes,
        "leader_at_end": lead["name"],
        "total_s": total,
    }
    # bench/results/patroni.json for the default lab, patroni-<inventory>.json for another.
    name = Path(args.inventory).name
    out_file = RESULTS / ("patroni.json" if name == "lab-patroni" else f"patroni-{name}.json")
    out_file.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
