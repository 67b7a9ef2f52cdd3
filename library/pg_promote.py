#!/usr/bin/python3
"""Ansible module: promote the local standby, once it has replayed what it must."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_promote
short_description: Promote the local standby after it has replayed what it must
description:
  - >-
    Waits (with a deadline, like pg_wait) until the standby has replayed past O(after_lsn)
    (a switchover's shutdown checkpoint of the old primary) or, with O(replay_all), everything
    it received or could replay (a failover: the startup process waits for more WAL), then
    promotes it: one psql script reads the replayed position, asks for the promotion
    (C(pg_promote(false))) and waits in the server, in 10 ms steps for up to O(wait)
    seconds, until the standby is a primary (C(pg_promote(true)) looks only every 100 ms).
  - >-
    Once the promotion was asked for, a failure returns C(requested=true): the standby may
    still finish its promotion, and the caller must find out before it lets any other
    node accept writes.
  - >-
    Returns the position it had replayed, the time right after the promotion on this host,
    the new timeline and its history file: one round trip for the write-unavailable step.
  - Connects as the postgres user over the local socket (the project's session,
    pgfleet.session).
options:
  after_lsn:
    description: Promote only once the standby has replayed strictly past this position (X/Y).
    type: str
  replay_all:
    description: Promote only once the standby has replayed everything it received.
    type: bool
    default: false
  timeout:
    description: Seconds to wait for the replay before giving up (nothing is promoted then).
    type: float
    default: 60
  interval:
    description: Seconds between two polls.
    type: float
    default: 0.1
  wait:
    description:
      - Seconds the server waits for the end of recovery after the request (0 to 3600).
      - 0 asks and returns at once; the module then fails with C(requested=true) and the
        caller confirms the promotion itself.
    type: float
    default: 60
  port:
    description: The server's port.
    type: int
    default: 5432
author: pgfleet
"""

EXAMPLES = r"""
- name: The target replayed the shutdown checkpoint, then is promoted
  pg_promote:
    after_lsn: "{{ checkpoint }}"
    timeout: 10
    interval: 0.05
  register: promoted
"""

RETURN = r"""
replayed:
  description: The position replayed before the promotion.
  returned: success
  type: str
t1:
  description: This host's clock (epoch seconds) right after the promotion.
  returned: success
  type: float
timeline:
  description: The new timeline.
  returned: success
  type: int
history:
  description: The new timeline's history file.
  returned: success
  type: str
waited:
  description: Seconds waited for the replay.
  returned: success
  type: float
requested:
  description: Whether the promotion was asked for (on failure, the standby may still promote).
  returned: always
  type: bool
"""

import json
import math
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pgfleet.errors import InputError
from ansible.module_utils.pgfleet.session import Session, SessionError
from ansible.module_utils.pgfleet.waiting import condition, message, query_probe, wait

# Everything received is replayed, or the startup process waits for more WAL: after a
# crash of the primary the standby may hold the start of a record that never completes
# (the receive position stays past the replay position for good); the startup process then
# waits for WAL with everything it can replay replayed.
REPLAY_ALL = (
    "SELECT pg_last_wal_replay_lsn()"
    " >= coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())"
    " OR coalesce(s.wait_event IN ('RecoveryWalStream', 'RecoveryRetrieveRetryInterval'), false),"
    " format('replayed %s of %s received; startup process: %s', pg_last_wal_replay_lsn(),"
    " pg_last_wal_receive_lsn(), coalesce(s.wait_event, 'busy'))"
    " FROM (SELECT NULL) AS one"
    " LEFT JOIN pg_stat_activity AS s ON s.backend_type = 'startup'"
)
# After the promotion, in the same session: the new timeline (from the current WAL file's
# name) and its history file.
AFTER = (
    "SELECT json_build_object('timeline', tl, 'history',"
    " pg_read_file('pg_wal/' || upper(lpad(to_hex(tl), 8, '0')) || '.history'))"
    " FROM (SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int"
    " AS tl) AS current"
)


# The promotion in one session: the position replayed and the request (rows: [replayed,
# asked]), then, unless the wait is 0, a wait in the server in 10 ms steps until recovery
# has ended (row: [promoted]).
ASK = "SELECT pg_last_wal_replay_lsn(), pg_promote(false);\n"
AWAIT = """\
DO $$BEGIN
  FOR i IN 1..{steps} LOOP
    EXIT WHEN NOT pg_is_in_recovery();
    PERFORM pg_sleep(0.01);
  END LOOP;
END$$;
SELECT NOT pg_is_in_recovery();
"""
MAX_WAIT = 3600


def promote_script(wait: float) -> str:
    """The promotion script for a server-side wait of `wait` seconds (0: ask only)."""
    if not 0 <= wait <= MAX_WAIT:
        raise InputError(f"pg_promote: wait must be from 0 to {MAX_WAIT} seconds, got {wait:g}")
    if wait == 0:
        return ASK
    return ASK + AWAIT.format(steps=math.ceil(wait / 0.01))


def promotion(rows: list[list[str]], wait: float = 60) -> tuple[str, str]:
    """(replayed, '') from the promotion script's rows, or (replayed, why it failed)."""
    if not rows or len(rows[0]) < 2 or (wait > 0 and (len(rows) < 2 or not rows[-1])):
        return "", f"unexpected answer {rows!r}"
    replayed, asked = rows[0][0], rows[0][1]
    if asked != "t":
        return replayed, "pg_promote(false) could not signal the startup process"
    if wait == 0:
        return replayed, "the promotion was asked for and not awaited (wait 0)"
    if rows[-1][0] != "t":
        return replayed, f"the standby was still in recovery {wait:g} s after pg_promote"
    return replayed, ""


def awaited(after_lsn: str | None, replay_all: bool) -> tuple[str, str] | None:
    """(query, what) of the replay to wait for; None when nothing is awaited."""
    if after_lsn and replay_all:
        raise InputError("pg_promote: after_lsn and replay_all exclude each other")
    if after_lsn:
        return condition({"lsn": after_lsn, "past": True, "lsn_kind": "replay"})
    if replay_all:
        return REPLAY_ALL, "replay of everything received"
    return None


def promoted(answer: str, t1: float, replayed: str) -> dict:
    """The module's result from the JSON read after the promotion."""
    data = json.loads(answer)
    return {
        "t1": t1,
        "replayed": replayed,
        "timeline": int(data["timeline"]),
        "history": data["history"],
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "after_lsn": {"type": "str"},
            "replay_all": {"type": "bool", "default": False},
            "timeout": {"type": "float", "default": 60},
            "interval": {"type": "float", "default": 0.1},
            "wait": {"type": "float", "default": 60},
            "port": {"type": "int", "default": 5432},
        },
        mutually_exclusive=[("after_lsn", "replay_all")],
    )
    p = module.params
    try:
        todo = awaited(p["after_lsn"], p["replay_all"])
        script = promote_script(p["wait"])
    except InputError as exc:
        module.fail_json(msg=str(exc), requested=False)
    session = Session(p["port"], "postgres", timeout=min(max(p["timeout"], 2), 15))
    waited = 0.0
    if todo:
        query, what = todo

        probe = query_probe(session, query)
        result = wait(probe, p["timeout"], p["interval"])
        if not result["met"]:
            module.fail_json(
                msg=message(what, result, p["timeout"]) + "; not promoted",
                requested=False,
                **result,
            )
        waited = result["elapsed"]
    # From here the request may have reached the server: every failure says so.
    slow = Session(p["port"], "postgres", timeout=p["wait"] + 30)
    try:
        replayed, why = promotion(slow.script(script).rows, p["wait"])
        t1 = time.time()
        if why:
            module.fail_json(
                msg=f"not confirmed promoted: {why}",
                changed=True,
                requested=True,
                replayed=replayed,
            )
        out = promoted(slow.value(AFTER), t1, replayed)
    except SessionError as exc:
        module.fail_json(msg=str(exc), changed=True, requested=True)
    module.exit_json(changed=True, requested=True, waited=waited, **out)


if __name__ == "__main__":
    main()
