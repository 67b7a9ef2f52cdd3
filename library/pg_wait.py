#!/usr/bin/python3
"""Ansible module: wait for a condition on the local PostgreSQL server, with a deadline."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_wait
short_description: Wait until a SQL condition holds, an LSN is reached, or a replica streams
description:
  - >-
    Polls the local PostgreSQL server as the postgres user over the local socket until the
    condition holds or the deadline passes (the project's session, pgfleet.session: psql
    with C(search_path=pg_catalog,pg_temp) last in C(PGOPTIONS)).
  - On timeout it fails (or, with O(fail=false), returns C(met=false)) with a message that
    says what was last seen, a connection error included.
  - Exactly one of O(sql), O(lsn), O(streaming) is given.
  - Reads only. In check mode it polls once and reports, without waiting or failing.
options:
  sql:
    description:
      - A query returning one row. The condition holds when its first column is true; a
        second column, when there is one, describes what is seen (shown on timeout).
    type: str
  lsn:
    description:
      - Wait until the server has reached this WAL position (X/Y). What "reached" means is
        O(lsn_kind).
    type: str
  lsn_kind:
    description:
      - V(replay) compares C(pg_last_wal_replay_lsn()) (a standby).
      - V(flush) compares the WAL flushed to this server's disk (received, on a standby;
        C(pg_current_wal_flush_lsn()) on a primary).
    type: str
    choices: [replay, flush]
    default: replay
  past:
    description: With O(lsn), wait for a position strictly past it (C(>)) instead of C(>=).
    type: bool
    default: false
  streaming:
    description: Wait until this standby's WAL receiver streams.
    type: bool
  sender:
    description: With O(streaming), the address it must stream from.
    type: str
  timeline:
    description: With O(streaming), the timeline it must receive.
    type: int
  timeout:
    description: Seconds before giving up.
    type: float
    default: 60
  interval:
    description: Seconds between two polls.
    type: float
    default: 0.2
  fail:
    description: Fail on timeout (false returns C(met=false) and the message instead).
    type: bool
    default: true
  port:
    description: The server's port.
    type: int
    default: 5432
  db:
    description: The database to connect to.
    type: str
    default: postgres
author: pgfleet
"""

EXAMPLES = r"""
- name: The candidate replays everything it received
  pg_wait:
    sql: >-
      SELECT pg_last_wal_replay_lsn()
               >= coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()),
             format('replayed %s, received %s',
                    pg_last_wal_replay_lsn(), pg_last_wal_receive_lsn())
    timeout: 60
    port: "{{ postgresql_cluster.port }}"

- name: The target replayed past the old primary's shutdown checkpoint
  pg_wait:
    lsn: "{{ checkpoint }}"
    past: true
    timeout: 10
    interval: 0.05

- name: It streams on the new timeline
  pg_wait:
    streaming: true
    timeline: 3
    timeout: 120
"""

RETURN = r"""
met:
  description: Whether the condition held before the deadline.
  returned: always
  type: bool
seen:
  description: What was last seen (the description column, the position, the receiver, or an error).
  returned: always
  type: str
elapsed:
  description: Seconds waited.
  returned: always
  type: float
polls:
  description: How many times the server was asked.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pgfleet.errors import InputError
from ansible.module_utils.pgfleet.session import Session
from ansible.module_utils.pgfleet.waiting import condition, message, query_probe, wait


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "sql": {"type": "str"},
            "lsn": {"type": "str"},
            "lsn_kind": {"type": "str", "choices": ["replay", "flush"], "default": "replay"},
            "past": {"type": "bool", "default": False},
            "streaming": {"type": "bool"},
            "sender": {"type": "str"},
            "timeline": {"type": "int"},
            "timeout": {"type": "float", "default": 60},
            "interval": {"type": "float", "default": 0.2},
            "fail": {"type": "bool", "default": True},
            "port": {"type": "int", "default": 5432},
            "db": {"type": "str", "default": "postgres"},
        },
        mutually_exclusive=[("sql", "lsn", "streaming")],
        required_one_of=[("sql", "lsn", "streaming")],
        supports_check_mode=True,
    )
    params = module.params
    try:
        query, what = condition(params)
    except InputError as exc:
        module.fail_json(msg=str(exc))
    # Each poll is bounded too: a server that hangs is seen as an error, then polled again.
    session = Session(params["port"], params["db"], timeout=min(max(params["timeout"], 2), 15))

    probe = query_probe(session, query)
    result = wait(probe, params["timeout"], params["interval"], once=module.check_mode)
    if not result["met"]:
        result["msg"] = message(what, result, params["timeout"])
        if params["fail"] and not module.check_mode:
            module.fail_json(**result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
