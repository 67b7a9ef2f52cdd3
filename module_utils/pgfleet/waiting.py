"""Waiting for a condition on the local PostgreSQL server: the query for each kind of
condition, reading psql's answer, and the wait with a deadline that remembers what it saw
last (the Ansible modules pg_wait and pg_promote use it)."""

from __future__ import annotations

import time
from collections.abc import Callable

from .errors import InputError
from .lsn import lsn_int, lsn_text
from .quoting import quote_literal
from .session import Session, SessionError


def condition(params: dict) -> tuple[str, str]:
    """(query, what is awaited) for the one condition given: the query returns one row,
    a boolean and a description of what is seen."""
    given = [k for k in ("sql", "lsn", "streaming") if params.get(k) not in (None, "", False)]
    if len(given) != 1:
        raise InputError(f"pg_wait: exactly one of sql, lsn, streaming is required; got {given}")
    if params.get("sql"):
        return params["sql"], "the condition"
    if params.get("lsn"):
        target = lsn_text(lsn_int(params["lsn"], "lsn"))
        op = ">" if params.get("past") else ">="
        if params.get("lsn_kind", "replay") == "replay":
            pos = "pg_last_wal_replay_lsn()"
            what = f"replay {'past' if params.get('past') else 'of'} {target}"
        else:
            pos = (
                "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()"
                " ELSE pg_current_wal_flush_lsn() END"
            )
            what = f"WAL flushed {'past' if params.get('past') else 'to'} {target}"
        query = (
            f"SELECT coalesce({pos} {op} {quote_literal(target)}::pg_lsn, false),"
            f" coalesce(({pos})::text, 'no position (not a standby?)')"
        )
        return query, what
    where = ["status = 'streaming'"]
    what = "streaming"
    if params.get("sender"):
        where.append(f"sender_host = {quote_literal(params['sender'])}")
        what += f" from {params['sender']}"
    if params.get("timeline") is not None:
        where.append(f"received_tli = {int(params['timeline'])}")
        what += f" on timeline {int(params['timeline'])}"
    query = (
        "SELECT coalesce((SELECT " + " AND ".join(where) + " FROM pg_stat_wal_receiver), false),"
        " coalesce((SELECT format('receiver %s from %s on timeline %s', status, sender_host,"
        " received_tli) FROM pg_stat_wal_receiver),"
        " CASE WHEN pg_is_in_recovery() THEN 'no WAL receiver' ELSE 'not a standby' END)"
    )
    return query, what


def interpret(rc: int, rows: list[list[str]], err: str) -> tuple[bool, str]:
    """(condition holds, what is seen) from one psql run: its exit code, its rows, its
    error output."""
    if rc != 0:
        lines = [line for line in err.strip().splitlines() if line.strip()]
        return False, f"error: {lines[-1] if lines else f'psql exited with {rc}'}"
    if not rows or not rows[0]:
        return False, "no row"
    value = rows[0][0]
    return value == "t", (rows[0][1] if len(rows[0]) > 1 else "") or value or "null"


def query_probe(session: Session, query: str) -> Callable[[], tuple[bool, str]]:
    """A probe for ``wait``: one run of query; an error (a server that hangs included) is
    seen, not raised, and polled again."""

    def probe() -> tuple[bool, str]:
        try:
            result = session.run(query, check=False)
        except SessionError as exc:
            return False, f"error: {exc}"
        return interpret(result.returncode, result.rows, result.stderr)

    return probe


def wait(
    probe: Callable[[], tuple[bool, str]],
    timeout: float,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    once: bool = False,
) -> dict:
    """Poll probe until it holds or timeout seconds have passed (at least one poll)."""
    start = clock()
    polls = 0
    while True:
        met, seen = probe()
        polls += 1
        elapsed = clock() - start
        if met or once or elapsed + interval > timeout:
            return {"met": met, "seen": seen, "elapsed": round(elapsed, 2), "polls": polls}
        sleep(interval)


def message(what: str, result: dict, timeout: float) -> str:
    return f"no {what} within {timeout:g} s ({result['polls']} polls); last seen: {result['seen']}"
