#!/usr/bin/python3
"""Ansible module: log in to PostgreSQL as a role with a password, over verified TLS."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_login
short_description: Prove that a role's password is accepted, or refused, over verified TLS
description:
  - Logs in to O(host):O(port) as O(user) with O(password), TLS verified against
    O(sslrootcert) (C(sslmode=verify-full)), and asks the server for C(session_user) and
    C(current_user). The password goes into a libpq password file (mode 0600) for the
    call, never into argv or the environment (pgfleet.session).
  - With O(expect=accepted) a refused login fails the task; with O(expect=refused) an
    accepted one does (a retired password that still works). A server that does not
    answer fails either way.
  - A server whose pg_hba admits no such login from this host (C(no pg_hba.conf entry))
    proves nothing either way; the module says so (RV(proved) false) and does not fail.
  - Changes nothing. rotate.yml proves each new login with it, and each retired one.
options:
  host:
    description: The server's address (the name the certificate is checked against).
    type: str
    required: true
  port:
    description: The server's port.
    type: int
    default: 5432
  user:
    description: The role that logs in.
    type: str
    required: true
  password:
    description: Its password.
    type: str
    required: true
  dbname:
    description: The database.
    type: str
    default: postgres
  sslrootcert:
    description: The CA file the server's certificate is checked against.
    type: path
    required: true
  expect:
    description: accepted or refused.
    type: str
    choices: [accepted, refused]
    default: accepted
  timeout:
    description: Seconds for the login and the query.
    type: float
    default: 15
author: pgfleet
"""

EXAMPLES = r"""
- name: The new login works
  pg_login:
    host: 10.89.74.11
    user: app_alt
    password: "{{ new_password }}"
    dbname: learning
    sslrootcert: /etc/postgresql/tls/ca.crt
  no_log: true
"""

RETURN = r"""
accepted:
  description: Whether the server let the role in.
  returned: always
  type: bool
proved:
  description: False when pg_hba admits no such login from this host (nothing proved).
  returned: always
  type: bool
session_user:
  description: The login role, when accepted.
  returned: when accepted
  type: str
current_user:
  description: The role the session runs as (an alternate login's SET role), when accepted.
  returned: when accepted
  type: str
message:
  description: The server's answer to a refused login (never the password).
  returned: when refused
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pgfleet.session import Session, SessionError, run_bounded

# What the server (or PgBouncer, for a pooled login) answers when it refuses the password
# or the login itself.
REFUSALS = (
    "password authentication failed",
    "is not permitted to log in",
    "SASL authentication failed",
)
# What it answers when no pg_hba rule admits the login from here: nothing is proved.
UNPROVABLE = "no pg_hba.conf entry"


def refused(stderr: str) -> bool:
    """Whether psql's error is the server refusing the login (not a server that is down)."""
    return any(text in stderr for text in REFUSALS)


def as_a_client(argv, *, input, env, timeout):
    """Run psql as an application's client would log in: without PGOPTIONS (PgBouncer
    refuses startup options, and this session is the role's own, never a superuser's)."""
    env = {k: v for k, v in env.items() if k != "PGOPTIONS"}
    return run_bounded(argv, input=input, env=env, timeout=timeout)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "host": {"type": "str", "required": True},
            "port": {"type": "int", "default": 5432},
            "user": {"type": "str", "required": True},
            "password": {"type": "str", "required": True, "no_log": True},
            "dbname": {"type": "str", "default": "postgres"},
            "sslrootcert": {"type": "path", "required": True},
            "expect": {"type": "str", "choices": ["accepted", "refused"], "default": "accepted"},
            "timeout": {"type": "float", "default": 15},
        },
        supports_check_mode=True,
    )
    p = module.params
    tls = {"PGSSLMODE": "verify-full", "PGSSLROOTCERT": p["sslrootcert"]}
    os.environ.update(tls, PGAPPNAME="pgfleet-login")
    session = Session(
        p["port"], p["dbname"], host=p["host"], user=p["user"], password=p["password"],
        timeout=p["timeout"], runner=as_a_client,
    )  # fmt: skip
    try:
        result = session.run("SELECT session_user, current_user", check=False)
    except SessionError as exc:
        module.fail_json(msg=f"pg_login: {exc}", accepted=False)
    if result.returncode == 0:
        session_user, current_user = (result.rows or [["", ""]])[0][:2]
        out = {"accepted": True, "proved": True, "session_user": session_user,
               "current_user": current_user}  # fmt: skip
        if p["expect"] == "refused":
            module.fail_json(
                msg=f"pg_login: {p['user']} logged in to {p['host']} with a password that should"
                " be refused",
                **out,
            )
        module.exit_json(changed=False, **out)
    message = " ".join(result.stderr.split())[-400:]
    if UNPROVABLE in result.stderr:
        module.exit_json(changed=False, accepted=False, proved=False, message=message)
    if refused(result.stderr) and p["expect"] == "refused":
        module.exit_json(changed=False, accepted=False, proved=True, message=message)
    module.fail_json(
        msg=f"pg_login: {p['user']} at {p['host']}: {message}", accepted=False, proved=True
    )


if __name__ == "__main__":
    main()
