"""The access filters (roles, databases, grants as SQL): pgfleet.access, raising
AnsibleFilterError. The postgresql_access role's module (pg_access_apply) runs the same code on
the host."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from pgfleet import access
from pgfleet.filters import wrap
from pgfleet.quoting import quote_ident, quote_literal

PASSWORD_SESSION_SETTINGS = access.PASSWORD_SESSION_SETTINGS
pg_access_validate = wrap(access.pg_access_validate, AnsibleFilterError)
pg_access_roles_sql = wrap(access.pg_access_roles_sql, AnsibleFilterError)
pg_access_password_sql = wrap(access.pg_access_password_sql, AnsibleFilterError)
pg_access_database_sql = wrap(access.pg_access_database_sql, AnsibleFilterError)
pg_access_tables = wrap(access.pg_access_tables, AnsibleFilterError)
pg_access_drop_sql = wrap(access.pg_access_drop_sql, AnsibleFilterError)
pg_access_alternates = wrap(access.pg_access_alternates, AnsibleFilterError)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "pg_access_validate": pg_access_validate,
            "pg_access_roles_sql": pg_access_roles_sql,
            "pg_access_password_sql": pg_access_password_sql,
            "pg_access_database_sql": pg_access_database_sql,
            "pg_access_tables": pg_access_tables,
            "pg_access_drop_sql": pg_access_drop_sql,
            "pg_access_alternates": pg_access_alternates,
            "pg_quote_literal": quote_literal,
            "pg_quote_ident": quote_ident,
        }
