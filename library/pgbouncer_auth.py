#!/usr/bin/python3
"""Ansible module: PgBouncer's login lookup on PostgreSQL (the pgbouncer role, on the primary)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pgbouncer_auth
short_description: The auth role, schema and lookup function of PgBouncer's auth_query
description:
  - PgBouncer learns a login's SCRAM verifier from PostgreSQL through C(auth_query), run as
    a dedicated role. This module makes that role (LOGIN, no password, nothing else, a
    connection limit), a schema only the superuser owns and may create in, and the lookup
    function in it (SECURITY DEFINER, its own C(search_path = pg_catalog, pg_temp),
    executable by the auth role alone).
  - The function returns the verifier of a LOGIN role that is not a superuser, a
    replication or BYPASSRLS role, has a SCRAM verifier and whose VALID UNTIL has not
    passed (a passed one returns NULL, so the login fails, CVE-2025-2291); for any other
    name it returns no row.
  - One read tells whether everything is already exactly so; only then is nothing sent.
    Otherwise one transaction, as the postgres user over the local socket (the project's
    session, pgfleet.session), makes it so, and the read is repeated to prove it.
  - In check mode nothing is written; C(changed) tells whether it would be.
options:
  auth_user:
    description: The auth role (pgbouncer_auth_user).
    type: str
    required: true
  db:
    description: The database PgBouncer runs its auth_query in.
    type: str
    default: postgres
  port:
    description: The server's port.
    type: int
    default: 5432
author: pgfleet
"""

EXAMPLES = r"""
- name: PgBouncer's login lookup
  pgbouncer_auth:
    auth_user: pgbouncer_auth
    port: 5432
"""

RETURN = r"""
auth_query:
  description: The query for pgbouncer.ini's auth_query.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pgfleet.pgbouncer import (
    AUTH_QUERY,
    LOOKUP_BODY,
    auth_apply_sql,
    auth_state_sql,
)
from ansible.module_utils.pgfleet.session import Session, SessionError


def in_place(session: Session, auth_user: str, db: str) -> bool:
    value = session.run(
        auth_state_sql(auth_user), db=db, stdin=True, variables={"body": LOOKUP_BODY}
    ).value
    return value == "t"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "auth_user": {"type": "str", "required": True},
            "db": {"type": "str", "default": "postgres"},
            "port": {"type": "int", "default": 5432},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        auth_apply_sql(params["auth_user"])
    except ValueError as exc:
        module.fail_json(msg=f"auth_user: {exc}")
    session = Session(params["port"], params["db"], timeout=30)
    result = {"changed": False, "auth_query": AUTH_QUERY}
    try:
        if in_place(session, params["auth_user"], params["db"]):
            module.exit_json(**result)
        result["changed"] = True
        if module.check_mode:
            module.exit_json(**result)
        session.script(
            auth_apply_sql(params["auth_user"]), db=params["db"], variables={"body": LOOKUP_BODY}
        )
        if not in_place(session, params["auth_user"], params["db"]):
            module.fail_json(
                msg="The auth role, schema or lookup function differ from what was just "
                "written: someone changed them at the same time, or a role named like the "
                "auth role has rights it must not have.",
                **result,
            )
    except SessionError as exc:
        module.fail_json(msg=str(exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
