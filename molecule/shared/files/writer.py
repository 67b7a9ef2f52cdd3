#!/usr/bin/env python3
"""Commit numbered rows one by one and log each acknowledged id.

The failover scenario and bench/failover.py run it on the controller against a
multi-host connection string (target_session_attrs=read-write), so it follows the primary
through a failover or a switchover the way an application driver would. An id is logged
only after its COMMIT returned: every logged id must survive. An id whose COMMIT failed
is never reused. Each log line: "<id> <unix time> <server address>", the server that took
that row (asked in the same transaction).

The writer is an application's session: it ignores PGOPTIONS, which a test may set for its
own sessions (synchronous_commit=local there would make every commit asynchronous and a
lost acknowledged row the expected outcome). With --require-synchronous it stops with an
error, before writing, whenever a server it reaches would acknowledge a commit that no
standby has confirmed (a misconfigured test). With --require-synchronous=skip it rolls such
a transaction back instead, logs nothing for it and tries again: for a cluster that may
legitimately commit asynchronously for a while (Patroni without synchronous_mode_strict,
between a promotion and its first synchronous standby), so that only ids committed while a
standby had to confirm them are logged, and checked.

A credential rotation's test switches the writer's login halfway: with --login-file (two
lines: the user name, then the password; replaced by a rename, so a connection reads both
of one version) the login is read at each connection, and with
--reconnect-every N each connection ends after N commits, so every few transactions log in
again with whatever the files then hold. --no-create is for a role that may not create the
table (it exists). The summary counts the failed transactions (errors).

  writer.py --dsn DSN --password-file FILE --log FILE [--table app.failover_probe] [--interval 0.05]
            [--stop-file PATH] [--duration SECONDS] [--require-synchronous[=stop|skip]]
            [--login-file FILE] [--reconnect-every N] [--no-create]
  writer.py --summarize FILE
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import sys
import time

_stop = False


def _on_signal(_signum: int, _frame: object) -> None:
    global _stop
    _stop = True


# The synchronous_commit values that wait for a standby's confirmation.
_WAITS_FOR_STANDBY = ("on", "remote_write", "remote_apply")


def asynchronous_reason(synchronous_commit: str, standby_names: str) -> str | None:
    """Why a session with these settings would acknowledge a commit no standby confirmed,
    or None when it waits for one."""
    if synchronous_commit not in _WAITS_FOR_STANDBY:
        waits = ", ".join(_WAITS_FOR_STANDBY)
        return f"synchronous_commit is {synchronous_commit!r}, not one of {waits}"
    if not standby_names.strip():
        return "synchronous_standby_names is empty"
    return None


def on_asynchronous(require: str | None, reason: str | None) -> str:
    """What to do with a transaction: "commit" it, "skip" it (roll back, log nothing, try
    again) or "stop" writing. require: None (no requirement), "stop" or "skip"."""
    if reason is None or require is None:
        return "commit"
    if require not in ("stop", "skip"):
        raise ValueError(f"--require-synchronous must be stop or skip, not {require!r}")
    return require


def _refuse(conn, message: str) -> int:
    """Stop writing: the message on stderr, the connection closed, exit code 3."""
    print(f"writer.py: {message}", file=sys.stderr)
    conn.close()
    return 3


def gaps(log_path: str) -> dict:
    """Summary of a writer log: counts and the largest gaps between acknowledgements."""
    rows = []
    with open(log_path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                rows.append((int(parts[0]), float(parts[1]), parts[2] if len(parts) > 2 else ""))
    intervals = sorted(
        ((b[1] - a[1], a[1], b[1]) for a, b in itertools.pairwise(rows)),
        reverse=True,
    )
    return {
        "acknowledged": len(rows),
        "first": rows[0][0] if rows else None,
        "last": rows[-1][0] if rows else None,
        "first_at": rows[0][1] if rows else None,
        "last_at": rows[-1][1] if rows else None,
        "servers": sorted({r[2] for r in rows}),
        "max_gap_s": round(intervals[0][0], 3) if intervals else 0.0,
        "gaps": [[round(a, 3), round(b, 3), round(s, 3)] for s, a, b in intervals[:5]],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn")
    # The password is read from a file and handed to libpq in-process: never in argv.
    parser.add_argument("--password-file", default="")
    parser.add_argument("--log")
    parser.add_argument("--table", default="app.failover_probe")
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--stop-file")
    parser.add_argument("--duration", type=float, default=0)
    parser.add_argument("--require-synchronous", nargs="?", const="stop", choices=("stop", "skip"))
    parser.add_argument("--summarize", metavar="LOG")
    parser.add_argument("--login-file", default="")
    parser.add_argument("--reconnect-every", type=int, default=0)
    parser.add_argument("--no-create", action="store_true")
    args = parser.parse_args()
    if args.summarize:
        print(json.dumps(gaps(args.summarize)))
        return 0
    if not args.dsn or not args.log:
        parser.error("--dsn and --log are required")

    def read(path: str) -> str | None:
        if not path:
            return None
        with open(path) as fh:
            return fh.read().strip()

    import psycopg2  # only the writing mode needs the driver

    os.environ.pop("PGOPTIONS", None)  # an application's session, not the test's

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    deadline = time.time() + args.duration if args.duration else None
    next_id = 0
    if os.path.exists(args.log):
        with open(args.log) as f:
            next_id = max((int(line.split()[0]) for line in f if line.strip()), default=0)
    conn = None
    errors = 0  # transactions that failed (their id is never logged)
    commits = 0  # on the current connection
    skipped = 0  # transactions rolled back because they would have committed asynchronously
    asynchronous_since = None  # when the current asynchronous stretch began
    with open(args.log, "a") as log:
        while not _stop:
            if args.stop_file and os.path.exists(args.stop_file):
                break
            if deadline and time.time() > deadline:
                break
            try:
                if conn is not None and args.reconnect_every and commits >= args.reconnect_every:
                    conn.close()
                    conn = None
                if conn is None:
                    login = {"password": read(args.password_file)}
                    if args.login_file:
                        user, password = (read(args.login_file) or "").split("\n", 1)
                        login = {"user": user.strip(), "password": password.strip()}
                    conn = psycopg2.connect(args.dsn, **login)
                    commits = 0
                    with conn.cursor() as cur:
                        if not args.no_create:
                            cur.execute(
                                f"CREATE TABLE IF NOT EXISTS {args.table} "
                                "(id bigint PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())"
                            )
                        cur.execute(f"SELECT coalesce(max(id), 0) FROM {args.table}")
                        next_id = max(next_id, cur.fetchone()[0])
                        cur.execute("SELECT host(inet_server_addr())")
                        server = cur.fetchone()[0] or "local"
                    conn.commit()
                next_id += 1  # never reused, even when its COMMIT fails
                with conn.cursor() as cur:
                    # The settings are read in every transaction, the first included: a
                    # reload may empty synchronous_standby_names while the session lasts.
                    # The server is asked in every transaction too: through a pooler the
                    # session outlives its server (a repointed PgBouncer), and the log
                    # must name the server that took the row.
                    cur.execute(
                        f"INSERT INTO {args.table} (id) VALUES (%s)"
                        " RETURNING current_setting('synchronous_commit'),"
                        " current_setting('synchronous_standby_names'),"
                        " host(inet_server_addr())",
                        (next_id,),
                    )
                    commit_mode, standbys, took = cur.fetchone()
                    server = took or "local"
                    reason = asynchronous_reason(commit_mode, standbys)
                action = on_asynchronous(args.require_synchronous, reason)
                if action == "stop":
                    conn.rollback()  # never acknowledged: not logged
                    return _refuse(conn, f"{server} would not wait for a standby: {reason}")
                if action == "skip":
                    conn.rollback()  # never acknowledged: not logged
                    skipped += 1
                    if asynchronous_since is None:
                        asynchronous_since = time.time()
                        print(
                            f"{asynchronous_since:.3f} {server} would not wait for a standby"
                            f" ({reason}): rolled back, trying again",
                            file=sys.stderr,
                            flush=True,
                        )
                    time.sleep(args.interval)
                    continue
                if asynchronous_since is not None:
                    print(
                        f"{time.time():.3f} {server} waits for a standby again after"
                        f" {time.time() - asynchronous_since:.1f} s",
                        file=sys.stderr,
                        flush=True,
                    )
                    asynchronous_since = None
                conn.commit()
                commits += 1
                log.write(f"{next_id} {time.time():.3f} {server}\n")
                log.flush()
                os.fsync(log.fileno())
            except psycopg2.Error as exc:
                errors += 1
                message = " ".join(str(exc).split())[:200]  # one line per error
                print(f"{time.time():.3f} id {next_id}: {message}", file=sys.stderr, flush=True)
                try:
                    if conn is not None:
                        conn.close()
                except psycopg2.Error:
                    pass
                conn = None
                time.sleep(0.05)
                continue
            time.sleep(args.interval)
    if conn is not None:
        conn.close()
    print(json.dumps(gaps(args.log) | {"skipped_asynchronous": skipped, "errors": errors}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
