#!/usr/bin/python3
"""Ansible module: roles, databases and grants in one round trip (the postgresql_access role)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_access_apply
short_description: Enforce the declared roles, databases and grants in one round trip
description:
  - Reads the roles (with their stored password verifiers), the databases and the
    extension versions Debian ships, then sends, as the postgres user over the local socket
    (the project's session, pgfleet.session), one transaction for the roles, a
    C(CREATE DATABASE) for each missing database, one transaction per database for its
    extensions, schemas, settings and grants, and one for the roles marked absent.
  - The SQL is what pgfleet.access builds (the same code as the pg_access_* filters).
  - Each transaction is framed by a fingerprint of the catalogs it can change; C(changed)
    is reported only when a fingerprint moved.
  - Passwords are sent as SCRAM verifiers, only when the stored verifier does not match,
    after the same transaction switched off everything that writes statement text to a log
    (see pgfleet.access.PASSWORD_SESSION_SETTINGS). The script goes to psql on stdin; an
    error never shows a verifier.
  - Extensions with a known advisory are returned in RV(advisories); with
    O(mitigate_advisories) their mitigation settings are applied to the databases that use
    pgvector.
  - In check mode every transaction is rolled back and no database is created.
options:
  roles:
    description: postgresql_access_roles, as declared (checked by pgfleet.access, which
      names the variable). Only the passwords are kept out of the output.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The role's name.
        type: raw
      state:
        description: present or absent.
        type: raw
      login:
        description: Whether it logs in.
        type: raw
      password:
        description: Its password (never logged or returned).
        type: raw
      password_next:
        description: The password a rotation gives it (never logged or returned).
        type: raw
      connection_limit:
        description: Its CONNECTION LIMIT.
        type: raw
      member_of:
        description: The roles it is a member of.
        type: raw
      settings:
        description: Its settings.
        type: raw
      replication:
        description: Whether it is a replication role.
        type: raw
  databases:
    description: postgresql_access_databases, as declared.
    type: list
    elements: raw
    default: []
  rewind_user:
    description: The role pg_rewind connects as (see pgfleet.access.pg_access_roles_sql).
    type: str
  rewind_login:
    description: Whether that role may log in.
    type: bool
    default: true
  mitigate_advisories:
    description: Apply the mitigation settings of the advisories that apply.
    type: bool
    default: true
  port:
    description: The server's port.
    type: int
    default: 5432
  timeout:
    description: Seconds for each step (connection included).
    type: float
    default: 600
  rotate_role:
    description:
      - An application role to rotate instead of enforcing everything (rotate.yml), one
        phase of its alternating logins (pgfleet.access.pg_access_rotation_sql), from the
        role's password_next. Nothing else is applied.
    type: str
    default: ""
  rotate_phase:
    description: start (the idle login gets password_next and LOGIN) or finish (the old
      login loses LOGIN and its password).
    type: str
    choices: [start, finish]
    default: start
author: pgfleet
"""

EXAMPLES = r"""
- name: Roles, databases and grants
  pg_access_apply:
    roles: "{{ postgresql_access_roles }}"
    databases: "{{ postgresql_access_databases }}"
    rewind_user: rewinder
    rewind_login: false
  register: access
"""

RETURN = r"""
advisories:
  description: The advisories that apply to the extensions in use (pgfleet.advisories).
  returned: always
  type: list
created_databases:
  description: Databases created (or that would be, in check mode).
  returned: always
  type: list
changed_databases:
  description: Databases whose extensions, schemas, settings or grants changed.
  returned: always
  type: list
roles_changed:
  description: Whether a role, its attributes, settings, memberships or password changed.
  returned: always
  type: bool
dropped_roles:
  description: Roles marked absent that existed and were dropped.
  returned: always
  type: list
missing_tables:
  description: Per database, the granted tables that do not exist yet (their grants wait).
  returned: always
  type: dict
rotation:
  description: With rotate_role, the old and new login, whether this run changed them, and
    the sessions the old login still has on this server (sessions_of_old_login).
  returned: with rotate_role
  type: dict
"""

import json
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pgfleet import access, advisories
from ansible.module_utils.pgfleet.errors import InputError
from ansible.module_utils.pgfleet.quoting import quote_ident, quote_literal
from ansible.module_utils.pgfleet.session import Session, SessionError

# Everything the roles step needs to know: stored verifiers, databases, extension versions.
STATE = (
    "SELECT json_build_object("
    "'roles', (SELECT coalesce(json_object_agg(rolname, rolpassword), '{}') FROM pg_authid),"
    "'logins', (SELECT coalesce(json_object_agg(rolname, rolcanlogin), '{}') FROM pg_authid),"
    "'databases', (SELECT coalesce(json_agg(datname), '[]') FROM pg_database),"
    "'extensions', (SELECT coalesce(json_object_agg(name, default_version), '{}')"
    " FROM pg_available_extensions))"
)

# A fingerprint of everything the cluster-wide step can change: roles and their
# attributes and passwords, memberships, role settings, the ACL of the postgres database,
# and who may call the functions pg_rewind reads files with.
CLUSTER_SNAPSHOT = (
    "SELECT md5(concat_ws('|',"
    " (SELECT string_agg(concat_ws(':', rolname, rolsuper, rolinherit, rolcreaterole,"
    " rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, rolconnlimit, rolpassword), ','"
    " ORDER BY rolname) FROM pg_authid),"
    " (SELECT string_agg(roleid || '>' || member, ',' ORDER BY roleid, member)"
    " FROM pg_auth_members),"
    " (SELECT string_agg(concat_ws(':', setdatabase, setrole, array_to_string(setconfig, ',')),"
    " ';' ORDER BY setdatabase, setrole) FROM pg_db_role_setting),"
    " (SELECT datacl::text FROM pg_database WHERE datname = 'postgres'),"
    " (SELECT string_agg(coalesce(proacl::text, '-'), ',' ORDER BY oid) FROM pg_proc"
    " WHERE pronamespace = 'pg_catalog'::regnamespace"
    " AND proname IN ('pg_ls_dir', 'pg_stat_file', 'pg_read_binary_file'))))"
)

# The same for one database: schemas, relations, functions and procedures (outside the
# system catalogs) and their ACLs, default privileges, extensions, the database's owner,
# ACL and settings.
DATABASE_SNAPSHOT = (
    "SELECT md5(concat_ws('|',"
    " (SELECT string_agg(concat_ws(':', nspname, nspowner, nspacl::text), ',' ORDER BY nspname)"
    " FROM pg_namespace),"
    " (SELECT string_agg(concat_ws(':', oid, relowner, relacl::text), ',' ORDER BY oid)"
    " FROM pg_class WHERE relkind IN ('r', 'p', 'v', 'm', 'S', 'f')),"
    " (SELECT string_agg(concat_ws(':', oid, proowner, proacl::text), ',' ORDER BY oid)"
    " FROM pg_proc"
    " WHERE pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)),"
    " (SELECT string_agg(concat_ws(':', oid, defaclrole, defaclnamespace, defaclobjtype,"
    " defaclacl::text), ',' ORDER BY oid) FROM pg_default_acl),"
    " (SELECT string_agg(extname || ':' || extversion, ',' ORDER BY extname) FROM pg_extension),"
    " (SELECT concat_ws(':', datdba, datacl::text) FROM pg_database"
    " WHERE datname = current_database()),"
    " (SELECT string_agg(concat_ws(':', setrole, array_to_string(setconfig, ',')), ';'"
    " ORDER BY setrole) FROM pg_db_role_setting"
    " WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()))))"
)

_VERIFIER = re.compile(r"SCRAM-SHA-256\$[^\s'\"]*")


def redact(text: str) -> str:
    """Any SCRAM verifier in a message replaced (a failed statement may be quoted)."""
    return _VERIFIER.sub("SCRAM-SHA-256$<redacted>", text)


def framed(statements: list[str], snapshot: str, answer: str, commit: bool) -> str:
    """A psql script: one transaction that takes the fingerprint, runs each statement on
    its own (a SET LOCAL covers only the statements after it), prints `answer` (which may
    compare current_setting('pgfleet.before') with the fingerprint) and commits, or rolls
    back (check mode). Errors are terse: psql quotes no statement."""
    lines = [
        "\\set VERBOSITY terse",
        "BEGIN;",
        "DO $pgfleet$BEGIN"
        f" PERFORM set_config('pgfleet.before', ({snapshot}), true); END$pgfleet$;",
    ]
    lines += [f"{statement};" for statement in statements]
    lines += [f"{answer};", "COMMIT;" if commit else "ROLLBACK;"]
    return "\n".join(lines) + "\n"


def moved(snapshot: str) -> str:
    return f"current_setting('pgfleet.before') IS DISTINCT FROM ({snapshot})"


def roles_script(roles, state, rewind_user, rewind_login, commit: bool) -> str:
    """The roles step: role DDL, then the passwords that do not match (pgfleet.access).
    state: the STATE answer (stored verifiers and logins)."""
    current, logins = state["roles"], state.get("logins") or {}
    statements = access.pg_access_roles_sql(
        roles, current, rewind_user=rewind_user, rewind_login=rewind_login, logins=logins
    )
    statements += access.pg_access_password_sql(
        roles, current, logins=logins, rewind_user=rewind_user
    )
    return framed(statements, CLUSTER_SNAPSHOT, f"SELECT {moved(CLUSTER_SNAPSHOT)}", commit)


def rotation_script(roles, state, role, phase, rewind_user, commit: bool) -> tuple[str, dict]:
    """One phase of an application role's rotation (pgfleet.access.pg_access_rotation_sql),
    in one transaction; and what it does."""
    statements, info = access.pg_access_rotation_sql(
        roles, role, phase, state["roles"], state.get("logins") or {}, rewind_user=rewind_user
    )
    answer = f"SELECT {moved(CLUSTER_SNAPSHOT)}"
    return framed(statements, CLUSTER_SNAPSHOT, answer, commit), info


def database_script(name, databases, roles, extra_settings, commit: bool) -> str:
    """One database's step; answers {"changed": bool, "missing": [tables]}."""
    statements = access.pg_access_database_sql(
        name, databases, roles, extra_settings=extra_settings
    )
    tables = access.pg_access_tables(name, databases)
    listed = ", ".join(quote_literal(t) for t in tables) or "NULL"
    answer = (
        f"SELECT json_build_object('changed', {moved(DATABASE_SNAPSHOT)}, 'missing',"
        f" ARRAY(SELECT t FROM unnest(ARRAY[{listed}]::text[]) AS t"
        " WHERE t IS NOT NULL AND to_regclass(t) IS NULL))::text"
    )
    return framed(statements, DATABASE_SNAPSHOT, answer, commit)


def present(items) -> list:
    return [
        i for i in items or [] if isinstance(i, dict) and i.get("state", "present") == "present"
    ]


def extensions_in_use(databases) -> set[str]:
    return {e for d in present(databases) for e in d.get("extensions") or []}


def mitigation_for(database: dict, settings: dict) -> dict:
    """The advisories' settings for a database that uses pgvector (the one extension with
    advisories and mitigations in pgfleet.advisories), else none."""
    return settings if "vector" in (database.get("extensions") or []) else {}


def create_database_sql(database: dict) -> str:
    return (
        f"CREATE DATABASE {quote_ident(database['name'])}"
        f" OWNER {quote_ident(database['owner'])} ENCODING 'UTF8'"
    )


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            # Only the passwords are secret: role names must stay readable in what the
            # module returns (a rotation's logins), so no_log is on those two keys alone.
            "roles": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "name": {"type": "raw"},
                    "state": {"type": "raw"},
                    "login": {"type": "raw"},
                    "password": {"type": "raw", "no_log": True},
                    "password_next": {"type": "raw", "no_log": True},
                    "connection_limit": {"type": "raw"},
                    "member_of": {"type": "raw"},
                    "settings": {"type": "raw"},
                    "replication": {"type": "raw"},
                },
            },
            "databases": {"type": "list", "elements": "raw", "default": []},
            "rewind_user": {"type": "str"},
            "rewind_login": {"type": "bool", "default": True},
            "mitigate_advisories": {"type": "bool", "default": True},
            "port": {"type": "int", "default": 5432},
            "timeout": {"type": "float", "default": 600},
            "rotate_role": {"type": "str", "default": ""},
            "rotate_phase": {"type": "str", "choices": ["start", "finish"], "default": "start"},
        },
        supports_check_mode=True,
    )
    p = module.params
    commit = not module.check_mode
    result = {
        "changed": False, "advisories": [], "created_databases": [], "changed_databases": [],
        "roles_changed": False, "dropped_roles": [], "missing_tables": {},
    }  # fmt: skip
    session = Session(p["port"], "postgres", timeout=p["timeout"])
    step = "reading roles, databases and extension versions"
    # Ansible fills a key a role leaves out with None: drop them (the declared form).
    p["roles"] = [{k: v for k, v in r.items() if v is not None} for r in p["roles"]]
    try:
        state = json.loads(session.value(STATE))
        versions = {
            k: v for k, v in state["extensions"].items() if k in extensions_in_use(p["databases"])
        }
        result["advisories"] = advisories.applying(versions, name="pg_available_extensions")
        settings = advisories.settings(result["advisories"]) if p["mitigate_advisories"] else {}

        if p["rotate_role"]:
            step = f"the {p['rotate_phase']} of the rotation of role {p['rotate_role']}"
            script, info = rotation_script(
                p["roles"], state, p["rotate_role"], p["rotate_phase"], p["rewind_user"], commit
            )
            result["rotation"] = info
            if info["changed"]:
                session.script(script)
            result["rotation"]["sessions_of_old_login"] = int(
                session.value(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = "
                    + quote_literal(info["old_login"])
                )
                or 0
            )
            result["changed"] = info["changed"]
            module.exit_json(**result)

        step = "the roles (attributes, settings, memberships, passwords)"
        answer = session.script(
            roles_script(p["roles"], state, p["rewind_user"], p["rewind_login"], commit)
        ).value
        result["roles_changed"] = answer == "t"

        for database in present(p["databases"]):
            name = database["name"]
            if name not in state["databases"]:
                step = f"creating database {name}"
                result["created_databases"].append(name)
                if not commit:
                    continue  # nothing to look into: it does not exist yet
                session.run(create_database_sql(database))
            step = f"database {name} (extensions, schemas, settings, grants)"
            script = database_script(
                name, p["databases"], p["roles"], mitigation_for(database, settings), commit
            )
            answer = json.loads(session.script(script, db=name).value)
            if answer["changed"]:
                result["changed_databases"].append(name)
            if answer["missing"]:
                result["missing_tables"][name] = answer["missing"]

        drops = [
            r["name"]
            for r in p["roles"]
            if isinstance(r, dict)
            and r.get("state") == "absent"
            and r.get("name") in state["roles"]
        ]
        if drops:
            step = "dropping the roles marked absent"
            if commit:
                session.script("".join(f"{s};\n" for s in access.pg_access_drop_sql(p["roles"])))
            result["dropped_roles"] = drops
    except (InputError, SessionError, KeyError, ValueError) as exc:
        module.fail_json(msg=redact(f"pg_access_apply: {step}: {exc}"), **result)
    result["changed"] = bool(
        result["roles_changed"] or result["created_databases"] or result["changed_databases"]
        or result["dropped_roles"]
    )  # fmt: skip
    module.exit_json(**result)


if __name__ == "__main__":
    main()
