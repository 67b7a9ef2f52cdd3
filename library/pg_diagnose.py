#!/usr/bin/python3
"""Ansible module: a read-only diagnosis of one PostgreSQL server (locks, connections,
space, replication, queries), in read-only transactions."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_diagnose
short_description: Read what an on-call engineer asks a PostgreSQL server first
description:
  - Opens psql sessions as postgres over the local socket through the project's session
    helper (pgfleet.session; names resolve in pg_catalog only), each with
    C(default_transaction_read_only=on), a C(lock_timeout) of 2 s and
    C(pg_stat_statements.track=none) (its own statements stay out of the statistics),
    names itself C(pgfleet-diagnose) and runs every query inside C(BEGIN READ ONLY).
    Writes nothing, on the server or on the host; runs in check mode.
  - The sizes of the largest relations take a short lock on each; behind a relation held
    exclusively the lock timeout ends that query and the sizes are estimated from
    pg_class instead (C(relations_estimated)). Query texts are cut to 200 characters, a
    password literal masked.
  - The SQL and the shaping of the rows are pgfleet.diagnose's; the report lines are built
    on the controller (filter C(pg_diagnose_report)).
  - C(locks) every session waiting for a lock and its blockers, up to the root holders
    (pg_blocking_pids()), with their lock modes and relations; C(connections) the client
    sessions by state, application, role and client address against max_connections less
    the reserved ones; C(space) the 20 largest relations of O(database), a table bloat
    estimate, the database sizes, pg_wal and its archive_status spool; C(replication) on a
    primary its replicas and slots, on a replica its WAL receiver; C(queries) the top 15
    statements of pg_stat_statements by total and by mean time (or why there are none).
options:
  what:
    description: What to diagnose.
    type: str
    choices: [locks, connections, space, replication, queries]
    required: true
  port:
    description: PostgreSQL's port (postgresql_cluster.port).
    type: int
    default: 5432
  database:
    description: >-
      The database the session connects to: whose relations, bloat and pg_stat_statements
      are read, and where the relations in pg_locks get their names.
    type: str
    default: postgres
  timeout:
    description: Seconds each query may take, connection included.
    type: float
    default: 20
author: pgfleet
"""

EXAMPLES = r"""
- name: Who blocks whom
  pg_diagnose:
    what: locks
    port: "{{ postgresql_cluster.port }}"
    database: learning
  register: diagnosis
"""

RETURN = r"""
what:
  description: What was diagnosed.
  returned: always
  type: str
database:
  description: The database the session read.
  returned: always
  type: str
in_recovery:
  description: Whether the server is a replica.
  returned: always
  type: bool
sections:
  description: >-
    The rows of each query, as dicts (pgfleet.diagnose.collect): locks (sessions, tree),
    connections (limits, by_state, by_application, by_role, by_client), space (relations,
    relations_estimated, bloat, databases, wal), replication (primary, replicas, slots; or
    receiver on a replica), queries (extension, by_total, by_mean, missing).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pgfleet.diagnose import SESSION_OPTIONS, collect
from ansible.module_utils.pgfleet.errors import InputError
from ansible.module_utils.pgfleet.session import Session, SessionError


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "what": {
                "type": "str",
                "choices": ["locks", "connections", "space", "replication", "queries"],
                "required": True,
            },
            "port": {"type": "int", "default": 5432},
            "database": {"type": "str", "default": "postgres"},
            "timeout": {"type": "float", "default": 20},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        session = Session(p["port"], p["database"], options=SESSION_OPTIONS, timeout=p["timeout"])
        result = collect(p["what"], lambda sql: session.script(sql).rows)
    except (SessionError, InputError) as exc:
        module.fail_json(msg=f"diagnose {p['what']} on {p['database']}: {exc}")
    module.exit_json(changed=False, what=p["what"], database=p["database"], **result)


if __name__ == "__main__":
    main()
