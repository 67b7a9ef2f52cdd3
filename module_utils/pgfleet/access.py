"""Turn the inventory's databases, roles and grants into the SQL that enforces them.

Least privilege by construction: every declared role is NOSUPERUSER, NOCREATEDB,
NOCREATEROLE, NOBYPASSRLS, and is granted membership only in predefined monitoring roles or
in other declared roles. PUBLIC loses TEMP on the ``postgres`` database, CONNECT and TEMP
on every managed database, CREATE and USAGE on every managed schema, and EXECUTE on the
functions and procedures of the managed schemas, including those the database owner
creates later. Access is granted per database with one of four levels:

- ``connect``: CONNECT only (monitoring);
- ``readonly``: SELECT on every table and sequence of the listed schemas, now and later
  (default privileges for tables the database owner creates);
- ``readwrite``: readonly plus INSERT, UPDATE, DELETE, sequence USAGE and EXECUTE on the
  functions and procedures of the listed schemas, now and later;
- ``select``: SELECT on the listed tables only (the AI role), nothing else.

Nothing is revoked or dropped implicitly: a grant or a role goes away only when the
inventory marks it ``state: absent``. Passwords are sent as SCRAM verifiers computed on
the controller, only when the stored verifier does not match, and only after the same
transaction switched off everything that would write statement text to a log.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from . import conf, scram
from .errors import InputError
from .quoting import quote_ident, quote_literal

_conf_lines = conf.render_lines
_scram_matches = scram.matches
_scram_verifier = scram.verifier

ACCESS_LEVELS = ("connect", "readonly", "readwrite", "select")
ROLE_KEYS = {
    "name",
    "state",
    "login",
    "password",
    "connection_limit",
    "member_of",
    "settings",
    "replication",
    "password_next",
}
DATABASE_KEYS = {
    "name",
    "owner",
    "state",
    "schemas",
    "extensions",
    "settings",
    "audit_role",
    "grants",
}
GRANT_KEYS = {"role", "access", "schemas", "tables", "state"}
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_TABLE = re.compile(r"^([a-z_][a-z0-9_]{0,62})\.([A-Za-z_][A-Za-z0-9_]{0,62})$")
# The predefined roles member_of may name: they read statistics and settings, or let a
# monitoring agent use reserved_connections. Others are refused: pg_signal_backend
# (terminates sessions), pg_checkpoint (forces I/O), pg_create_subscription (connections
# to other servers), pg_read/write_server_files and pg_execute_server_program (the
# server's files and shell), pg_read/write_all_data, and roles the inventory does not
# declare (postgres among them).
MONITORING_ROLES = (
    "pg_monitor",
    "pg_read_all_settings",
    "pg_read_all_stats",
    "pg_stat_scan_tables",
    "pg_use_reserved_connections",
)
# Written to the transaction that sets passwords, before any verifier is sent: no
# statement text reaches the server log (log_statement, slow statements, sampled
# statements, failed statements), pgAudit, pg_stat_statements or pg_stat_activity.
PASSWORD_SESSION_SETTINGS = (
    ("log_statement", "'none'"),
    ("log_min_duration_statement", "-1"),
    ("log_min_duration_sample", "-1"),
    ("log_min_error_statement", "'panic'"),
    ("pgaudit.log", "'none'"),
    ("pg_stat_statements.track", "'none'"),
    ("track_activities", "off"),
)


def _fail(where: str, message: str) -> None:
    raise InputError(f"{where}: {message}")


def _check_keys(item: Any, allowed: set[str], where: str) -> None:
    if not isinstance(item, Mapping):
        _fail(where, f"expected a mapping, got {type(item).__name__}")
    unknown = sorted(set(item) - allowed)
    if unknown:
        _fail(where, f"unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(allowed))}")


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        _fail(
            where,
            f"{value!r} is not a valid name; expected lowercase letters, digits and "
            "underscores, starting with a letter or underscore (at most 63 characters)",
        )
    if value.startswith("pg_") or value == "postgres" or value == "public":
        _fail(where, f"{value!r} is reserved; choose another name")
    return value


def _state(item: Mapping[str, Any], where: str) -> str:
    state = item.get("state", "present")
    if state not in ("present", "absent"):
        _fail(f"{where}.state", f"{state!r} is not allowed; expected present or absent")
    return state


def _names_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        _fail(where, f"expected a list of names, got {type(value).__name__}")
    return [_name(v, f"{where}[{i}]") for i, v in enumerate(value)]


def _table(value: Any, where: str) -> tuple[str, str]:
    match = _TABLE.match(value) if isinstance(value, str) else None
    if not match:
        _fail(
            where,
            f"{value!r} is not a table name; expected schema.table such as "
            "'app.OptimizationLog' (the table part is case-sensitive)",
        )
    return match.group(1), match.group(2)


def _set_clauses(settings: Any, where: str) -> list[tuple[str, str | None]]:
    """Validate settings; return (name, 'name = value') pairs, None meaning RESET."""
    if settings is None:
        return []
    if not isinstance(settings, Mapping):
        _fail(
            where, f"expected a mapping of setting names to values, got {type(settings).__name__}"
        )
    clauses: list[tuple[str, str | None]] = []
    for key in sorted(settings):
        value = settings[key]
        if isinstance(value, list | tuple):
            _fail(f"{where}[{key!r}]", "lists cannot be set per database or role; use a string")
        if value is None:
            _conf_lines({key: 0}, name=where)  # validates the name only
            clauses.append((key, None))
        else:
            clauses.append((key, _conf_lines({key: value}, name=where)[0]))
    return clauses


def _named_entries(
    items: Any, keys: set[str], name: str, kind: str
) -> Iterator[tuple[str, Mapping[str, Any], str]]:
    """Yield (path, entry, name) for a list of named mappings, checking keys and duplicates."""
    if not isinstance(items, list):
        _fail(name, f"expected a list of {kind}, got {type(items).__name__}")
    seen: set[str] = set()
    for index, item in enumerate(items):
        where = f"{name}[{index}]"
        _check_keys(item, keys, where)
        item_name = _name(item.get("name"), f"{where}.name")
        if item_name in seen:
            _fail(f"{where}.name", f"{item_name!r} is declared twice")
        seen.add(item_name)
        yield where, item, item_name


def _roles(roles: Any, name: str) -> list[dict[str, Any]]:
    result = []
    for where, role, role_name in _named_entries(roles, ROLE_KEYS, name, "roles"):
        state = _state(role, where)
        limit = role.get("connection_limit", -1)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < -1:
            _fail(f"{where}.connection_limit", f"{limit!r} is not allowed; expected -1 or more")
        for flag in ("login", "replication"):
            if flag in role and not isinstance(role[flag], bool):
                _fail(f"{where}.{flag}", f"expected true or false, got {role[flag]!r}")
        member_of = role.get("member_of") or []
        if not isinstance(member_of, list):
            _fail(f"{where}.member_of", "expected a list of role names such as ['pg_monitor']")
        password = role.get("password")
        if password is not None and (not isinstance(password, str) or len(password) < 16):
            _fail(
                f"{where}.password", "expected a string of at least 16 characters (from the vault)"
            )
        password_next = role.get("password_next")
        if password_next is not None and (
            not isinstance(password_next, str) or len(password_next) < 16
        ):
            _fail(
                f"{where}.password_next",
                "expected a string of at least 16 characters (from the vault), the password"
                " a credential rotation gives the role",
            )
        result.append(
            {
                "name": role_name,
                "state": state,
                "login": role.get("login", True),
                "replication": role.get("replication", False),
                "connection_limit": limit,
                "member_of": member_of,
                "password": password,
                "password_next": password_next,
                "settings": _set_clauses(role.get("settings"), f"{where}.settings"),
                "where": where,
            }
        )
    present = {r["name"] for r in result if r["state"] == "present"}
    for role in result:
        base = role["name"][: -len(ALTERNATE_SUFFIX)]
        if role["name"].endswith(ALTERNATE_SUFFIX) and base in present:
            _fail(
                f"{role['where']}.name",
                f"{role['name']!r} is the alternate login of {base!r} that a credential"
                " rotation creates; choose another name",
            )
        for index, member in enumerate(role["member_of"]):
            here = f"{role['where']}.member_of[{index}]"
            if member == role["name"]:
                _fail(here, f"{member!r} is the role itself; a role cannot be a member of itself")
            if member not in MONITORING_ROLES and member not in present:
                _fail(
                    here,
                    f"{member!r} is not allowed; expected one of the predefined monitoring "
                    f"roles ({', '.join(MONITORING_ROLES)}) or a role declared present in {name}",
                )
    return result


def _grants(grants: Any, where: str, present_roles: set[str]) -> list[dict[str, Any]]:
    if grants is None:
        return []
    if not isinstance(grants, list):
        _fail(where, f"expected a list of grants, got {type(grants).__name__}")
    result = []
    for index, grant in enumerate(grants):
        here = f"{where}[{index}]"
        _check_keys(grant, GRANT_KEYS, here)
        role = _name(grant.get("role"), f"{here}.role")
        state = _state(grant, here)
        if state == "present" and role not in present_roles:
            _fail(f"{here}.role", f"{role!r} is not a present role in postgresql_access_roles")
        access = grant.get("access", "connect")
        if access not in ACCESS_LEVELS:
            _fail(
                f"{here}.access",
                f"{access!r} is not allowed; expected one of {', '.join(ACCESS_LEVELS)}",
            )
        schemas = _names_list(grant.get("schemas"), f"{here}.schemas")
        tables = [_table(t, f"{here}.tables[{i}]") for i, t in enumerate(grant.get("tables") or [])]
        if access in ("readonly", "readwrite") and not schemas and state == "present":
            _fail(f"{here}.schemas", f"access {access} needs the schemas it applies to")
        if access == "select" and not tables and state == "present":
            _fail(f"{here}.tables", "access select needs the tables it applies to")
        if access != "select" and tables:
            _fail(f"{here}.tables", "tables are only for access: select")
        result.append(
            {"role": role, "state": state, "access": access, "schemas": schemas, "tables": tables}
        )
    return result


def _databases(databases: Any, roles: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    present = {r["name"] for r in roles if r["state"] == "present"}
    result = []
    for where, database, db_name in _named_entries(databases, DATABASE_KEYS, name, "databases"):
        if _state(database, where) == "absent":
            _fail(f"{where}.state", "databases are never dropped by the playbook; drop it by hand")
        owner = _name(database.get("owner"), f"{where}.owner")
        if owner not in present:
            _fail(f"{where}.owner", f"{owner!r} is not a present role in postgresql_access_roles")
        extensions = database.get("extensions") or []
        if not isinstance(extensions, list) or not all(
            isinstance(e, str) and re.match(r"^[a-z_][a-z0-9_]*$", e) for e in extensions
        ):
            _fail(f"{where}.extensions", "expected a list of extension names such as ['vector']")
        audit_role = database.get("audit_role")
        if audit_role is not None:
            _name(audit_role, f"{where}.audit_role")
            if audit_role not in present:
                _fail(f"{where}.audit_role", f"{audit_role!r} is not a present role")
        result.append(
            {
                "name": db_name,
                "owner": owner,
                "schemas": _names_list(database.get("schemas"), f"{where}.schemas"),
                "extensions": extensions,
                "settings": _set_clauses(database.get("settings"), f"{where}.settings"),
                "audit_role": audit_role,
                "grants": _grants(database.get("grants"), f"{where}.grants", present),
            }
        )
    return result


def pg_access_validate(databases: Any, roles: Any, name: str = "postgresql_access") -> bool:
    """Validate the declarations; raise with the variable path on the first problem."""
    checked = _roles(roles, f"{name}_roles")
    _databases(databases, checked, f"{name}_databases")
    return True


# What pg_rewind calls on its source server, and the pgAudit classes logged for its role.
REWIND_FUNCTIONS = (
    "pg_catalog.pg_ls_dir(text, boolean, boolean)",
    "pg_catalog.pg_stat_file(text, boolean)",
    "pg_catalog.pg_read_binary_file(text)",
    "pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)",
)
REWIND_AUDIT = "read, function"


# --- Alternating logins (credential rotation of an application role) ------------------
# PostgreSQL keeps one password per role, so a role's password changes without an outage
# by alternating two logins: the declared role NAME keeps every grant and owns what it
# owns; NAME_alt is a login that is a member of NAME, with NAME's attributes, connection
# limit and settings, and `SET role = NAME` at login (so what it creates belongs to NAME).
# A rotation gives the idle login the new password and LOGIN (both log in: old clients on
# the old name and password, new ones on the other), and its finish takes LOGIN and the
# password from the old login. The catalog says which login is in use; the inventory's
# `password` is that login's. NAME_alt exists from a role's first rotation on.
ALTERNATE_SUFFIX = "_alt"
MAX_ROTATABLE_NAME = 63 - len(ALTERNATE_SUFFIX)


def alternate(name: str) -> str:
    """The other login of an application role (see the section's comment)."""
    return f"{name}{ALTERNATE_SUFFIX}"


def _rotatable(role: Mapping[str, Any], rewind_user: str | None) -> bool:
    """A checked role whose password a rotation alternates: present, a login with a
    password, not replication's role nor pg_rewind's (rotated in place)."""
    return (
        role["state"] == "present"
        and bool(role["login"])
        and not role["replication"]
        and role["password"] is not None
        and role["name"] != rewind_user
        and len(role["name"]) <= MAX_ROTATABLE_NAME
    )


def pg_access_alternates(
    roles: Any, rewind_user: str | None = None, name: str = "postgresql_access_roles"
) -> dict[str, str]:
    """{role: its alternate login} for every application login role: what pg_hba and
    PgBouncer admit alongside the role's name."""
    return {
        r["name"]: alternate(r["name"]) for r in _roles(roles, name) if _rotatable(r, rewind_user)
    }


def turn(name: str, logins: Mapping[str, Any]) -> str:
    """Which login of role ``name`` is in use, from the catalog's {role: rolcanlogin}:
    'base' (NAME; the alternate absent or without LOGIN), 'alternate' (NAME_alt only) or
    'both' (a rotation is open)."""
    alt = alternate(name)
    if not logins.get(alt):
        return "base"
    return "both" if logins.get(name) else "alternate"


def _attributes(login: bool, replication: bool, limit: int) -> str:
    return " ".join(
        [
            "NOSUPERUSER", "NOCREATEDB", "NOCREATEROLE", "NOBYPASSRLS", "INHERIT",
            "LOGIN" if login else "NOLOGIN",
            "REPLICATION" if replication else "NOREPLICATION",
            f"CONNECTION LIMIT {limit}",
        ]
    )  # fmt: skip


def _settings_sql(ident: str, settings: list[tuple[str, str | None]]) -> list[str]:
    return [
        f"ALTER ROLE {ident} RESET {setting}"
        if clause is None
        else f"ALTER ROLE {ident} SET {clause}"
        for setting, clause in settings
    ]


def _alternate_sql(role: Mapping[str, Any], login: bool) -> list[str]:
    """Align NAME_alt with NAME: attributes, connection limit, settings, membership, and
    NAME as the role of its sessions."""
    base, alt = quote_ident(role["name"]), quote_ident(alternate(role["name"]))
    return [
        f"ALTER ROLE {alt} WITH {_attributes(login, False, role['connection_limit'])}",
        *_settings_sql(alt, role["settings"]),
        f"GRANT {base} TO {alt}",
        f"ALTER ROLE {alt} SET role = {quote_literal(role['name'])}",
    ]


def pg_access_roles_sql(
    roles: Any,
    current: Mapping[str, Any] | None = None,
    name: str = "postgresql_access_roles",
    rewind_user: str | None = None,
    rewind_login: bool = True,
    logins: Mapping[str, Any] | None = None,
) -> list[str]:
    """SQL (cluster-wide, run once) that creates and aligns every present role.

    current maps existing role names to their stored password verifier (or None); logins
    maps them to rolcanlogin (the login in use of an application role, see turn()).
    Passwords are not set here: see pg_access_password_sql.

    rewind_user names the role pg_rewind connects as, when it is declared: it gets the
    four functions pg_rewind reads the server's files with (in the postgres database,
    where pg_rewind connects), pgAudit logs its reads and function calls, and it may log
    in only when rewind_login is true (Patroni rewinds by itself; under the streaming
    engine rejoin.yml lets it log in for the rewind only). Its declared `login` is ignored.

    An application role whose alternate login exists (it was rotated) keeps the logins as
    the catalog has them: the one in use logs in, the retired one does not (site.yml
    never brings a retired login back), and both do while a rotation is open.
    """
    current, logins = current or {}, logins or {}
    statements = ["REVOKE TEMPORARY ON DATABASE postgres FROM PUBLIC"]
    for role in _roles(roles, name):
        if role["state"] != "present":
            continue
        ident = quote_ident(role["name"])
        rewind = role["name"] == rewind_user
        login = bool(rewind_login) if rewind else role["login"]
        alternating = _rotatable(role, rewind_user) and alternate(role["name"]) in current
        in_use = turn(role["name"], logins) if alternating else "base"
        if role["name"] not in current:
            statements.append(f"CREATE ROLE {ident}")
        base_login = login and in_use != "alternate"
        statements.append(
            f"ALTER ROLE {ident} WITH"
            f" {_attributes(base_login, role['replication'], role['connection_limit'])}"
        )
        statements += _settings_sql(ident, role["settings"])
        statements.extend(f"GRANT {quote_ident(m)} TO {ident}" for m in role["member_of"])
        if rewind:
            statements.append(f"ALTER ROLE {ident} SET pgaudit.log = {quote_literal(REWIND_AUDIT)}")
            statements.append(f"GRANT EXECUTE ON FUNCTION {', '.join(REWIND_FUNCTIONS)} TO {ident}")
        if alternating:
            statements += _alternate_sql(role, in_use != "base")
    return statements


def _quiet_passwords(changes: list[str], roles: list[str]) -> list[str]:
    """The password statements, each to be sent on its own in one transaction: first the
    settings that keep statement text out of every log (PASSWORD_SESSION_SETTINGS, SET
    LOCAL), then the statements carrying verifiers, then a log line naming the roles. A
    statement's text is checked against log_statement before it runs, so a setting only
    covers later statements: the verifiers never share a batch with the SET."""
    if not changes:
        return []
    quiet = "; ".join(f"SET LOCAL {key} = {value}" for key, value in PASSWORD_SESSION_SETTINGS)
    trail = quote_literal(f"postgresql_access: new password for role(s) {', '.join(roles)}")
    return [quiet, *changes, f"DO $pgfleet$ BEGIN RAISE LOG {trail}; END $pgfleet$"]


def pg_access_password_sql(
    roles: Any,
    current: Mapping[str, Any] | None = None,
    name: str = "postgresql_access_roles",
    logins: Mapping[str, Any] | None = None,
    rewind_user: str | None = None,
) -> list[str]:
    """The statements that set the passwords whose stored verifier does not match (see
    _quiet_passwords for their order). No password to change: an empty list.

    An application role's password goes to its login in use (turn()); while a rotation is
    open neither login's password is touched (rotate.yml owns them until its finish). A
    login in use that has the role's password_next and not its password means a finished
    rotation whose new password never reached the inventory: refused, before any change,
    rather than setting the old password back.
    """
    current, logins = current or {}, logins or {}
    changes: list[str] = []
    changed_roles: list[str] = []
    for role in _roles(roles, name):
        password = role["password"]
        if role["state"] != "present" or password is None:
            continue
        target = role["name"]
        if _rotatable(role, rewind_user) and alternate(role["name"]) in current:
            in_use = turn(role["name"], logins)
            if in_use == "both":
                continue
            target = alternate(role["name"]) if in_use == "alternate" else role["name"]
        where = f"{name}.{role['name']}.password"
        stored = current.get(target)
        if _scram_matches(password, stored, name=where):
            continue
        if role["password_next"] is not None and _scram_matches(
            role["password_next"], stored, name=f"{name}.{role['name']}.password_next"
        ):
            raise InputError(
                f"{where}: the login {target!r} in use has the role's password_next, not its"
                " password: a rotation finished and the vault was not updated. Put the"
                f" password_next of {role['name']!r} into its password and remove"
                " password_next, then run this again (no role was changed)"
            )
        verifier = _scram_verifier(password, name=where)
        changes.append(f"ALTER ROLE {quote_ident(target)} PASSWORD {quote_literal(verifier)}")
        changed_roles.append(target)
    return _quiet_passwords(changes, changed_roles)


def pg_access_rotation_sql(
    roles: Any,
    role_name: str,
    phase: str,
    current: Mapping[str, Any] | None = None,
    logins: Mapping[str, Any] | None = None,
    rewind_user: str | None = None,
    name: str = "postgresql_access_roles",
) -> tuple[list[str], dict[str, Any]]:
    """The SQL of one phase of an application role's rotation, and what it does:
    {old_login, new_login, changed}. Run again after it succeeded, a phase changes nothing.

    start: the idle login (NAME_alt, created if need be, or NAME) gets the role's
    password_next and LOGIN; the login in use keeps its password. finish: the login
    without password_next loses LOGIN and its password."""
    current, logins = current or {}, logins or {}
    if phase not in ("start", "finish"):
        raise InputError(f"phase: {phase!r}; expected start or finish")
    found = [r for r in _roles(roles, name) if r["name"] == role_name]
    if not found or not _rotatable(found[0], rewind_user):
        raise InputError(
            f"{name}: {role_name!r} is not an application login role with a password (a"
            f" name of at most {MAX_ROTATABLE_NAME} characters)"
        )
    role = found[0]
    where = f"{name}.{role_name}.password_next"
    if role["password_next"] is None:
        raise InputError(f"{where}: missing; put the new password in the vault under it")
    alt = alternate(role_name)
    in_use = turn(role_name, logins) if alt in current else "base"

    def has_next(login: str) -> bool:
        return _scram_matches(role["password_next"], current.get(login), name=where)

    if phase == "start":
        if in_use == "both":
            new = next((login for login in (role_name, alt) if has_next(login)), None)
            if new is None:
                raise InputError(
                    f"{role_name} and {alt} both log in and neither has password_next: a"
                    f" rotation is open; finish it first (rotate_finish=role:{role_name})"
                )
            old = alt if new == role_name else role_name
            return [], {"old_login": old, "new_login": new, "changed": False}
        new, old = (alt, role_name) if in_use == "base" else (role_name, alt)
        sql = [] if alt in current else [f"CREATE ROLE {quote_ident(alt)}"]
        sql += _alternate_sql(role, True)
        sql.append(f"ALTER ROLE {quote_ident(role_name)} WITH LOGIN")
        verifier = _scram_verifier(role["password_next"], name=where)
        sql += _quiet_passwords(
            [f"ALTER ROLE {quote_ident(new)} PASSWORD {quote_literal(verifier)}"], [new]
        )
        return sql, {"old_login": old, "new_login": new, "changed": True}

    if in_use != "both":
        active = alt if in_use == "alternate" else role_name
        if has_next(active):  # finished already
            old = role_name if active == alt else alt
            return [], {"old_login": old, "new_login": active, "changed": False}
        raise InputError(
            f"no rotation of role:{role_name} is open ({active} is the only login); start"
            f" one with -e rotate=role:{role_name}"
        )
    new = next((login for login in (role_name, alt) if has_next(login)), None)
    if new is None:
        raise InputError(
            f"{where}: neither {role_name} nor {alt} has it; the vault's password_next"
            " changed since the rotation started. Put back the one it started with"
        )
    old = alt if new == role_name else role_name
    trail = quote_literal(f"postgresql_access: login {old} retired, {new} in use")
    sql = [
        f"ALTER ROLE {quote_ident(old)} WITH NOLOGIN PASSWORD NULL",
        f"DO $pgfleet$ BEGIN RAISE LOG {trail}; END $pgfleet$",
    ]
    return sql, {"old_login": old, "new_login": new, "changed": True}


def _revoke_all(db: dict[str, Any], role: str, schemas: list[str]) -> list[str]:
    ident = quote_ident(role)
    owner = quote_ident(db["owner"])
    body = [f"REVOKE ALL ON DATABASE {quote_ident(db['name'])} FROM {ident}"]
    for schema in schemas:
        s = quote_ident(schema)
        defaults = f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {s}"
        body += [
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {ident}",
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {ident}",
            f"REVOKE ALL ON ALL ROUTINES IN SCHEMA {s} FROM {ident}",
            f"REVOKE ALL ON SCHEMA {s} FROM {ident}",
            f"{defaults} REVOKE ALL ON TABLES FROM {ident}",
            f"{defaults} REVOKE ALL ON SEQUENCES FROM {ident}",
            f"{defaults} REVOKE ALL ON FUNCTIONS FROM {ident}",
        ]
    return body


def _guarded(body: list[str], role: str | None = None, table: str | None = None) -> str:
    """A DO block that runs body only if the role and/or the table exist."""
    conditions = []
    if role is not None:
        conditions.append(f"EXISTS (SELECT FROM pg_roles WHERE rolname = {quote_literal(role)})")
    if table is not None:
        conditions.append(f"to_regclass({quote_literal(table)}) IS NOT NULL")
    inner = " ".join(f"EXECUTE {quote_literal(sql)};" for sql in body)
    return f"DO $pgfleet$ BEGIN IF {' AND '.join(conditions)} THEN {inner} END IF; END $pgfleet$"


def pg_access_database_sql(
    database_name: str,
    databases: Any,
    roles: Any,
    extra_settings: Mapping[str, Any] | None = None,
    name: str = "postgresql_access",
) -> list[str]:
    """SQL run inside one database: extensions, schemas, settings, grants, revokes.

    extra_settings are database settings the role adds (e.g. a security mitigation).
    """
    checked_roles = _roles(roles, f"{name}_roles")
    dbs = {d["name"]: d for d in _databases(databases, checked_roles, f"{name}_databases")}
    if database_name not in dbs:
        raise InputError(f"{name}_databases: no database named {database_name!r}")
    db = dbs[database_name]
    d = quote_ident(db["name"])
    owner = quote_ident(db["owner"])
    sql = [
        f"ALTER DATABASE {d} OWNER TO {owner}",
        f"REVOKE ALL ON DATABASE {d} FROM PUBLIC",
        # public holds the extensions and belongs to the superuser: no application role,
        # the database owner included, can create an object there (an operator or function
        # that a session reaching public could call instead of the catalog's, or that an
        # extension's install script would run). Application objects go in the declared
        # schemas. Everyone keeps USAGE (the extensions' types and functions).
        "ALTER SCHEMA public OWNER TO postgres",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        "GRANT USAGE ON SCHEMA public TO PUBLIC",
        # Functions the owner creates from now on, in any schema, start without EXECUTE for
        # PUBLIC. Only these database-wide default privileges can take a privilege away:
        # the per-schema ones can only add to them.
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC",
    ]
    sql += [
        f"CREATE EXTENSION IF NOT EXISTS {quote_ident(e)} SCHEMA public" for e in db["extensions"]
    ]
    for schema in db["schemas"]:
        s = quote_ident(schema)
        sql += [
            f"CREATE SCHEMA IF NOT EXISTS {s} AUTHORIZATION {owner}",
            f"ALTER SCHEMA {s} OWNER TO {owner}",
            f"REVOKE ALL ON SCHEMA {s} FROM PUBLIC",
            f"REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA {s} FROM PUBLIC",
        ]
    settings = list(db["settings"])
    if db["audit_role"]:
        settings.append(("pgaudit.role", f"pgaudit.role = {quote_literal(db['audit_role'])}"))
    if extra_settings:
        settings += _set_clauses(dict(extra_settings), f"{name}_databases[{database_name!r}]")
    for setting, clause in sorted(dict(settings).items()):
        sql.append(
            f"ALTER DATABASE {d} RESET {setting}"
            if clause is None
            else f"ALTER DATABASE {d} SET {clause}"
        )

    for grant in db["grants"]:
        ident = quote_ident(grant["role"])
        if grant["state"] == "absent":
            if grant["tables"]:
                for schema, table in grant["tables"]:
                    t = f"{quote_ident(schema)}.{quote_ident(table)}"
                    sql.append(_guarded([f"REVOKE SELECT ON {t} FROM {ident}"], grant["role"], t))
            else:
                sql.append(_guarded(_revoke_all(db, grant["role"], db["schemas"]), grant["role"]))
            continue
        sql.append(f"GRANT CONNECT ON DATABASE {d} TO {ident}")
        if grant["access"] in ("readonly", "readwrite"):
            table_privs = (
                "SELECT" if grant["access"] == "readonly" else "SELECT, INSERT, UPDATE, DELETE"
            )
            seq_privs = "SELECT" if grant["access"] == "readonly" else "USAGE, SELECT"
            for schema in grant["schemas"]:
                s = quote_ident(schema)
                defaults = f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {s}"
                sql += [
                    f"GRANT USAGE ON SCHEMA {s} TO {ident}",
                    f"GRANT {table_privs} ON ALL TABLES IN SCHEMA {s} TO {ident}",
                    f"GRANT {seq_privs} ON ALL SEQUENCES IN SCHEMA {s} TO {ident}",
                    f"{defaults} GRANT {table_privs} ON TABLES TO {ident}",
                    f"{defaults} GRANT {seq_privs} ON SEQUENCES TO {ident}",
                ]
                if grant["access"] == "readwrite":
                    # The application calls the schema's functions (column defaults, its
                    # API); read-only roles do not, as a SECURITY DEFINER one could write.
                    sql += [
                        f"GRANT EXECUTE ON ALL ROUTINES IN SCHEMA {s} TO {ident}",
                        f"{defaults} GRANT EXECUTE ON FUNCTIONS TO {ident}",
                    ]
        elif grant["access"] == "select":
            for schema in sorted({s for s, _ in grant["tables"]}):
                sql.append(f"GRANT USAGE ON SCHEMA {quote_ident(schema)} TO {ident}")
            for schema, table in grant["tables"]:
                t = f"{quote_ident(schema)}.{quote_ident(table)}"
                sql.append(_guarded([f"GRANT SELECT ON {t} TO {ident}"], table=t))
    # Roles that are going away lose everything in this database first.
    for role in checked_roles:
        if role["state"] == "absent":
            sql.append(_guarded(_revoke_all(db, role["name"], db["schemas"]), role["name"]))
    return sql


def pg_access_tables(
    database_name: str, databases: Any, name: str = "postgresql_access"
) -> list[str]:
    """The quoted tables that grants of one database name (to report missing ones)."""
    for database in databases or []:
        if isinstance(database, Mapping) and database.get("name") == database_name:
            tables = set()
            for index, grant in enumerate(database.get("grants") or []):
                for i, t in enumerate(grant.get("tables") or []):
                    schema, table = _table(t, f"{name}_databases.grants[{index}].tables[{i}]")
                    tables.add(f"{quote_ident(schema)}.{quote_ident(table)}")
            return sorted(tables)
    return []


def pg_access_drop_sql(roles: Any, name: str = "postgresql_access_roles") -> list[str]:
    """SQL that drops the roles marked absent (run after their grants were revoked)."""
    return [
        f"DROP ROLE IF EXISTS {quote_ident(r['name'])}"
        for r in _roles(roles, name)
        if r["state"] == "absent"
    ]
