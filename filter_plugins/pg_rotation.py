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


def pg_rotation_refusals(
    request: Any,
    secrets: Any,
    record: Any,
    roles: Any,
    replica_user: str,
    rewind_user: str,
) -> list[str]:
    """Why the request is refused ([] when it may go on). record: the whole record of the
    primary (its entry for the WHAT is taken here)."""
    if not isinstance(request, dict):
        raise AnsibleFilterError("pg_rotation_refusals: expected the request {what, finish}")
    entry = ((record or {}).get("secrets") or {}).get(request.get("what") or "") or {}
    try:
        return rotation.request_problems(
            request, secrets or {}, entry, rotation.login_roles(roles, replica_user, rewind_user)
        )
    except InputError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    """Rotation filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "pg_rotation_refusals": pg_rotation_refusals,
            "pg_rotation_tracked": pg_rotation_tracked,
            "pg_rotation_roles": pg_rotation_roles,
            "pg_rotation_ages": pg_rotation_ages,
        }
