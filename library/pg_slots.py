#!/usr/bin/python3
"""Ansible module: the physical replication slots of the local PostgreSQL server."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_slots
short_description: Create or drop a set of physical replication slots in one round trip
description:
  - >-
    One way to keep the member slots, on a primary (or a standby about to be promoted:
    PostgreSQL keeps its slots through the promotion) and off a standby.
  - O(state=present) creates the slots that are missing (reserving WAL at once). With
    O(recreate_invalid), a slot invalidated past C(max_slot_wal_keep_size) (it holds no WAL
    any more, even once its replica streams through it again) is dropped, its walsender
    ended first, and created again.
  - O(state=absent) drops the named slots that no walsender uses.
  - Connects as the postgres user over the local socket (the project's session,
    pgfleet.session). Check mode reads the slots and reports what would change.
options:
  slots:
    description: Slot names (a-z, 0-9 and _; the C(pg_slot_name) filter makes them).
    type: list
    elements: str
    required: true
  state:
    description: Whether the slots exist.
    type: str
    choices: [present, absent]
    default: present
  recreate_invalid:
    description: With O(state=present), drop and create again the slots that lost their WAL.
    type: bool
    default: false
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
- name: A slot for every other member on the new primary
  pg_slots:
    slots: "{{ groups['postgresql'] | reject('eq', new) | map('pg_slot_name') | list }}"
    port: "{{ postgresql_cluster.port }}"
  delegate_to: "{{ new }}"

- name: A standby keeps no member slots
  pg_slots:
    slots: "{{ groups['postgresql'] | map('pg_slot_name') | list }}"
    state: absent
"""

RETURN = r"""
created:
  description: Slots created (recreated ones included).
  returned: always
  type: list
  elements: str
recreated:
  description: Invalidated slots dropped and created again.
  returned: always
  type: list
  elements: str
dropped:
  description: Slots dropped (state=absent).
  returned: always
  type: list
  elements: str
busy:
  description: Slots not dropped because a walsender uses them (state=absent).
  returned: always
  type: list
  elements: str
"""

import json
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pgfleet.errors import InputError
from ansible.module_utils.pgfleet.quoting import quote_literal
from ansible.module_utils.pgfleet.session import Session, SessionError

NAME = re.compile(r"^[a-z0-9_]{1,63}$")

# What the server has: one JSON array of {name, type, active, pid, invalid}.
READ = (
    "SELECT coalesce(json_agg(json_build_object('name', slot_name, 'type', slot_type,"
    " 'active', active, 'pid', active_pid,"
    " 'invalid', invalidation_reason IS NOT NULL OR wal_status = 'lost')), '[]')"
    " FROM pg_replication_slots"
)


def check_names(slots: list) -> list[str]:
    bad = [s for s in slots if not isinstance(s, str) or not NAME.match(s)]
    if bad:
        raise InputError(
            f"slots: {bad} are not slot names; expected lowercase letters, digits and _ "
            "(at most 63), as the pg_slot_name filter makes them"
        )
    return list(dict.fromkeys(slots))


def plan(existing: list[dict], slots: list[str], state: str, recreate_invalid: bool) -> dict:
    """What to do: create, recreate (drop, then create) and drop, each a list of names;
    busy: slots to drop that a walsender uses (left alone); clash: a wanted name held by a
    logical slot (an error)."""
    have = {s["name"]: s for s in existing}
    out: dict[str, list] = {"create": [], "recreate": [], "drop": [], "busy": [], "clash": []}
    for name in slots:
        slot = have.get(name)
        if state == "absent":
            if slot is None:
                continue
            out["busy" if slot.get("active") else "drop"].append(name)
        elif slot is None:
            out["create"].append(name)
        elif slot.get("type") != "physical":
            out["clash"].append(name)
        elif recreate_invalid and slot.get("invalid"):
            out["recreate"].append(name)
    return out


def statements(todo: dict, pids: dict[str, int | None]) -> str:
    """The SQL that carries out a plan, a script of single statements; guarded so that a slot
    created or dropped by someone else meanwhile is no error."""
    sql = []
    for name in todo["recreate"]:
        if pids.get(name):
            sql.append(f"SELECT pg_terminate_backend({int(pids[name])}, 10000);")
    # A slot to recreate must go (an error if a walsender took it again meanwhile); one to
    # drop goes only while unused.
    for name in todo["recreate"]:
        sql.append(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
            f" WHERE slot_name = {quote_literal(name)};"
        )
    for name in todo["drop"]:
        sql.append(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
            f" WHERE slot_name = {quote_literal(name)} AND NOT active;"
        )
    for name in todo["recreate"] + todo["create"]:
        sql.append(
            f"SELECT pg_create_physical_replication_slot({quote_literal(name)}, true)"
            f" WHERE NOT EXISTS (SELECT FROM pg_replication_slots"
            f" WHERE slot_name = {quote_literal(name)});"
        )
    return "\n".join(sql)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "slots": {"type": "list", "elements": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "recreate_invalid": {"type": "bool", "default": False},
            "port": {"type": "int", "default": 5432},
            "db": {"type": "str", "default": "postgres"},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        slots = check_names(params["slots"])
    except InputError as exc:
        module.fail_json(msg=str(exc))
    session = Session(params["port"], params["db"], timeout=30)
    try:
        existing = json.loads(session.value(READ) or "[]")
    except SessionError as exc:
        module.fail_json(msg=str(exc))
    todo = plan(existing, slots, params["state"], params["recreate_invalid"])
    if todo["clash"]:
        module.fail_json(msg=f"slots {todo['clash']} exist and are not physical slots")
    result = {
        "created": todo["create"] + todo["recreate"],
        "recreated": todo["recreate"],
        "dropped": todo["drop"],
        "busy": todo["busy"],
    }
    changed = bool(result["created"] or result["dropped"])
    if changed and not module.check_mode:
        try:
            session.script(statements(todo, {s["name"]: s.get("pid") for s in existing}))
        except SessionError as exc:
            module.fail_json(msg=str(exc), **result)
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
