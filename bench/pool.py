#!/usr/bin/env python3
"""PgBouncer on the lab: a spike of clients through it and directly, a switchover under
that load, and a thousand idle clients held.

1. Spike: --clients clients (100) each connect, then run --queries queries (50), mixed
   reads and writes on the demo schema as the `app` role (a read of a course by id, a
   count, an insert of a course), first through the primary's PgBouncer, then directly.
   Prints p50/p95/p99 of the query latency (connection included in the first query),
   the errors, and the ratio of the two p95. Goal: p95 < 500 ms and 0 errors through
   PgBouncer.
2. Switchover under load (with --switchover): the same clients keep running through
   pg2's PgBouncer while switchover.yml moves the primary to another node and back;
   prints the failed transactions and the longest wait of a query.
3. Idle (with --idle N): N client connections opened through the primary's PgBouncer and
   held; prints the server connections PgBouncer uses meanwhile and its memory.

Needs `make lab`. Not a test: it asserts nothing, it prints figures.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from contextlib import closing

import psycopg2
from common import ROOT, Lab, percentile, playbook

SECRETS = ROOT / ".lab/secrets"


class Load:
    """Clients running queries on one address and port; latencies and errors recorded."""

    def __init__(self, lab: Lab, host: str, port: int, clients: int, queries: int) -> None:
        self.lab, self.host, self.port = lab, host, port
        self.clients, self.queries = clients, queries
        self.password = (SECRETS / "pg_app").read_text().strip()
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def connect(self):
        conn = psycopg2.connect(
            host=self.host, port=self.port, dbname="learning", user="app",
            password=self.password, sslmode="verify-full", sslrootcert=str(self.lab.ca),
            connect_timeout=30, application_name="pgfleet-bench-pool",
        )  # fmt: skip
        conn.autocommit = True
        return conn

    def client(self, seed: int, forever: bool) -> None:
        rng = random.Random(seed)
        conn = None
        done = 0
        while (forever and not self.stop.is_set()) or (not forever and done < self.queries):
            kind = rng.random()
            start = time.monotonic()
            try:
                if conn is None:
                    conn = self.connect()
                with conn.cursor() as cur:
                    if kind < 0.6:
                        cur.execute(
                            "SELECT title FROM app.courses WHERE id = %s", (rng.randint(1, 20),)
                        )
                    elif kind < 0.8:
                        cur.execute("SELECT count(*) FROM app.courses")
                    else:
                        cur.execute(
                            "INSERT INTO app.courses (title) VALUES (%s)", (f"bench {seed}",)
                        )
                    if cur.description:
                        cur.fetchall()
                with self.lock:
                    self.latencies.append(time.monotonic() - start)
            except psycopg2.Error as exc:
                with self.lock:
                    self.errors.append(
                        str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                    )
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
            done += 1
        if conn is not None:
            conn.close()

    def run(self, forever: bool = False) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self.client, args=(i, forever), daemon=True)
            for i in range(self.clients)
        ]
        for t in threads:
            t.start()
        return threads

    def summary(self) -> dict:
        ms = [v * 1000 for v in self.latencies]
        return {
            "queries": len(ms),
            "errors": len(self.errors),
            "p50_ms": round(percentile(ms, 0.50), 1),
            "p95_ms": round(percentile(ms, 0.95), 1),
            "p99_ms": round(percentile(ms, 0.99), 1),
            "max_ms": round(max(ms), 1) if ms else None,
            "first_errors": sorted(set(self.errors))[:3],
        }


def spike(lab: Lab, host: str, port: int, clients: int, queries: int) -> dict:
    load = Load(lab, host, port, clients, queries)
    start = time.monotonic()
    for t in load.run():
        t.join()
    out = load.summary()
    out["seconds"] = round(time.monotonic() - start, 2)
    return out


def pooler_memory_kb(lab: Lab, name: str) -> str:
    return lab.run(name, "ps", "-o", "rss=", "-C", "pgbouncer").stdout.strip()


def server_connections(lab: Lab, name: str) -> str:
    return lab.psql(
        name,
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
        " AND usename = 'app'",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", default="inventory/lab")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--pgbouncer-port", type=int, default=6432)
    parser.add_argument("--switchover", action="store_true")
    parser.add_argument("--idle", type=int, default=0)
    args = parser.parse_args()
    lab = Lab(args.inventory)
    primary = lab.names[0]
    address = lab.address[primary]

    pooled = spike(lab, address, args.pgbouncer_port, args.clients, args.queries)
    direct = spike(lab, address, lab.port, args.clients, args.queries)
    print(f"spike: {args.clients} clients x {args.queries} queries on {primary}")
    for name, figures in (("through PgBouncer", pooled), ("direct", direct)):
        print(f"  {name:18} {figures}")
    if direct["p95_ms"]:
        print(f"  p95 ratio PgBouncer/direct: {pooled['p95_ms'] / direct['p95_ms']:.2f}")

    if args.switchover and len(lab.names) > 1:
        other = lab.names[1]
        load = Load(lab, lab.address[other], args.pgbouncer_port, args.clients, args.queries)
        threads = load.run(forever=True)
        time.sleep(3)
        log_dir = ROOT / ".lab/bench-pool"
        log_dir.mkdir(mode=0o700, exist_ok=True)
        log = log_dir / "switchover.log"
        for target in (other, primary):
            playbook(args.inventory, "switchover.yml", "-e", f"switchover_to={target}", log=log)
            time.sleep(3)
        load.stop.set()
        for t in threads:
            t.join()
        figures = load.summary()
        print(
            f"switchover {primary} -> {other} -> {primary} under load through {other}'s PgBouncer:"
        )
        print(
            f"  failed queries {figures['errors']}, longest query {figures['max_ms']} ms, {figures}"
        )

    if args.idle:
        load = Load(lab, address, args.pgbouncer_port, 0, 0)
        conns = []
        start = time.monotonic()
        for _ in range(args.idle):
            conns.append(load.connect())
        opened = time.monotonic() - start
        with closing(conns[0].cursor()) as cur:
            cur.execute("SELECT 1")
        print(
            f"idle: {len(conns)} client connections through PgBouncer on {primary} "
            f"(opened in {opened:.1f} s); app's server connections on the primary: "
            f"{server_connections(lab, primary)}; PgBouncer RSS {pooler_memory_kb(lab, primary)} kB"
        )
        for conn in conns:
            conn.close()


if __name__ == "__main__":
    main()
