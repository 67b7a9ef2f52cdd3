"""Credential rotation (pgfleet.rotation), for playbooks/rotate.yml and status.yml.

``pg_rotation_refusals`` says why a request is refused (before any change);
``pg_rotation_tracked`` lists the secrets of this inventory; ``pg_rotation_roles`` gives
postgresql_access_roles with one role's new password; ``pg_rotation_ages`` is status.yml's
view of every secret's age against its policy.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from pgfleet import rotation
from pgfleet.errors import InputError
from pgfleet.filters import wrap

pg_rotation_tracked = wrap(rotation.tracked, AnsibleFilterError)
pg_rotation_roles = wrap(rotation.with_password, AnsibleFilterError)
pg_rotation_ages = wrap(rotation.ages, AnsibleFilterError)
pg_rotation_repo_finish_problems = wrap(rotation.repo_cipher_finish_problems, AnsibleFilterError)


def pg_rotation_refusals(
    request: Any,
    secrets: Any,
    record: Any,
    roles: Any,
    replica_user: str,
    rewind_user: str,
) -> list[str]:
    """Why the request is refused ([] when it may go on). record: the whole record of the
    primary (its entry for the WHAT is taken here), or None when not read yet."""
    if not isinstance(request, dict):
        raise AnsibleFilterError("pg_rotation_refusals: expected the request {what, finish}")
    entry = None  # not read yet: the checks that depend on it wait for the hosts'
    if record is not None:
        entry = ((record or {}).get("secrets") or {}).get(request.get("what") or "") or {}
    try:
        return rotation.request_problems(
            request, secrets or {}, entry, rotation.login_roles(roles, replica_user, rewind_user)
        )
    except InputError as exc:
        raise AnsibleFilterError(str(exc)) from None


def pg_rotation_login_database(databases: Any, role: str) -> str:
    """The database a login check of ``role`` connects to: the first declared database it
    owns or is granted (and so may connect to), else postgres."""
    for database in databases or []:
        if not isinstance(database, dict) or database.get("state", "present") != "present":
            continue
        granted = any(
            isinstance(g, dict) and g.get("role") == role and g.get("state", "present") == "present"
            for g in database.get("grants") or []
        )
        if database.get("owner") == role or granted:
            return str(database["name"])
    return "postgres"


class FilterModule:
    """Rotation filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "pg_rotation_refusals": pg_rotation_refusals,
            "pg_rotation_tracked": pg_rotation_tracked,
            "pg_rotation_roles": pg_rotation_roles,
            "pg_rotation_ages": pg_rotation_ages,
            "pg_rotation_login_database": pg_rotation_login_database,
            "pg_rotation_repo_finish_problems": pg_rotation_repo_finish_problems,
        }
