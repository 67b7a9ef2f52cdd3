"""Credential rotation (playbooks/rotate.yml): what can be rotated, the request's refusals,
the plan, the record each node keeps of every secret, and the secrets' ages status.yml
reports.

A rotation reads the new secret from the inventory (the vault), never from ``-e``: the
``*_next`` variable of each secret (SECRETS). It prints its plan and acts only with
``-e rotate_confirm=WHAT``. Two-phase rotations (a role's password, the repository
cipher, the CA) keep both the old and the new secret working until
``-e rotate_finish=WHAT``; the others end in one run.

The record (``/var/lib/pgfleet/rotations.json`` on every node, the same everywhere):
``{"secrets": {NAME: {"first_seen": epoch, "rotated_at": epoch | null,
"open": {"started_at": epoch} | null}}}``. ``first_seen`` is when the project first saw the
secret (its install, or the first run that kept a record): a secret never rotated is at
least that old.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import access
from .errors import InputError

DAY = 86400.0


@dataclass(frozen=True)
class Secret:
    name: str
    meaning: str
    next_var: str  # where the new secret is read from ("" for the CA: made by the play)
    two_phase: bool
    built: bool  # rotate.yml can rotate it today (streaming engine)
    built_patroni: bool = False  # and under Patroni


SECRETS: tuple[Secret, ...] = (
    Secret("role", "an application login role's password",
           "postgresql_access_roles[].password_next", True, True, True),
    Secret("replication", "the replication role's password (postgresql_replica_password)",
           "postgresql_replica_password_next", False, True, True),
    Secret("rewind", "the pg_rewind role's password (postgresql_ha_rewind_password)",
           "postgresql_ha_rewind_password_next", False, True, True),
    Secret("patroni_restapi", "Patroni's REST API password (patroni_restapi_password)",
           "patroni_restapi_password_next", False, False, True),
    Secret("r2_keys", "the store's access key pair (pgbackrest_s3_key, pgbackrest_s3_key_secret)",
           "pgbackrest_s3_key_next, pgbackrest_s3_key_secret_next", False, True),
    Secret("repo_cipher", "the repository cipher passphrase (pgbackrest_cipher_pass)",
           "pgbackrest_cipher_pass_next", True, True),
    Secret("tls_ca", "the project CA and every certificate it signed", "", True, True, True),
)  # fmt: skip
BY_NAME = {s.name: s for s in SECRETS}
# The age past which a secret is a problem in status.yml, in days (policy), unless
# postgresql_cluster_status_max_secret_age_days says otherwise per secret.
DEFAULT_MAX_AGE_DAYS = {
    "role": 365, "replication": 365, "rewind": 365, "patroni_restapi": 365,
    "r2_keys": 365, "repo_cipher": 90, "tls_ca": 3650,
}  # fmt: skip
_ROLE = re.compile(r"^role:([a-z_][a-z0-9_]{0,62})$")


def kind(what: str) -> Secret | None:
    """The Secret a WHAT names, or None."""
    if isinstance(what, str) and _ROLE.match(what):
        return BY_NAME["role"]
    return BY_NAME.get(what) if isinstance(what, str) and what != "role" else None


def whats(roles: Sequence[str]) -> list[str]:
    """Every WHAT the inventory allows: role:NAME for each application login role."""
    return [f"role:{r}" for r in roles] + [s.name for s in SECRETS if s.name != "role"]


def login_roles(roles: Any, replica_user: str, rewind_user: str) -> list[str]:
    """The application login roles of postgresql_access_roles, those a rotation alternates
    (access.pg_access_alternates: a password, login not off, not marked absent, a name
    that leaves room for the alternate's suffix): every one but the replication and
    pg_rewind roles, which are rotated as `replication` and `rewind`."""
    return [r for r in access.pg_access_alternates(roles or [], rewind_user) if r != replica_user]


def tracked(roles: Any, replica_user: str, rewind_user: str, patroni: bool) -> list[str]:
    """Every secret of this inventory whose age status.yml reports."""
    out = [f"role:{name}" for name in login_roles(roles, replica_user, rewind_user)]
    out += ["replication", "rewind"] + (["patroni_restapi"] if patroni else [])
    return [*out, "r2_keys", "repo_cipher", "tls_ca"]


def with_password(roles: Any, name: str, password: str) -> list[Any]:
    """postgresql_access_roles with the password of role ``name`` replaced (what a rotation
    applies: the declared state, with the new secret)."""
    found = False
    out = []
    for role in roles or []:
        if isinstance(role, Mapping) and role.get("name") == name:
            role, found = {**role, "password": password}, True
        out.append(role)
    if not found:
        raise InputError(f"postgresql_access_roles: no role {name!r} to rotate")
    return out


def _equal(a: Any, b: Any) -> bool:
    import hmac

    return hmac.compare_digest(str(a).encode(), str(b).encode())


def request_problems(
    request: Mapping[str, Any],
    secrets: Mapping[str, Any],
    record: Mapping[str, Any] | None,
    login_roles: Sequence[str] = (),
) -> list[str]:
    """Why a rotation request is refused, each naming what to do instead; [] when it may
    go on. request: {what, finish (bool), patroni (bool: the engine)}. secrets: {current,
    next} of the WHAT (never printed; for r2_keys the secret key pairs, and next_id and
    current_id, the access key ids). record: the WHAT's record (see the module's docstring)
    or {}, or None when it was not read yet (the controller's check: what depends on it,
    a finish without a start and a second start, waits for the hosts' check). login_roles:
    the application login roles of postgresql_access_roles."""
    what = request.get("what")
    if what is None or what == "":
        return [
            "rotate is not set: playbooks/rotate.yml -e rotate=WHAT, WHAT one of "
            + ", ".join(whats(login_roles))
        ]
    secret = kind(what)
    if secret is None:
        return [
            f"rotate: {what!r} is not something rotate.yml rotates; WHAT is one of "
            + ", ".join(whats(login_roles))
        ]
    if secret.name == "role" and what.split(":", 1)[1] not in login_roles:
        return [
            f"rotate: {what!r} names no application login role of postgresql_access_roles;"
            f" the roles are {', '.join(login_roles) or 'none'}"
        ]
    patroni = bool(request.get("patroni"))
    if secret.name == "patroni_restapi" and not patroni:
        return [
            "rotate: patroni_restapi is Patroni's REST API password, and this inventory runs"
            " the streaming engine (postgresql_ha_engine is not patroni): there is no REST API"
            " to rotate"
        ]
    if not (secret.built_patroni if patroni else secret.built):
        engine = " under Patroni" if patroni else ""
        built = [
            "role:NAME" if s.name == "role" else s.name
            for s in SECRETS
            if (s.built_patroni if patroni else s.built)
        ]
        return [
            f"rotate: {what} ({secret.meaning}) is not built yet{engine}; this version rotates"
            f"{engine} {', '.join(built) or 'nothing'}. Until then, change it as the"
            " credential-rotation runbook says"
        ]
    finish = bool(request.get("finish"))
    is_open = bool((record or {}).get("open"))
    if finish:
        if not secret.two_phase:
            return [
                f"rotate_finish: {what} ends in one run and has nothing to finish; run"
                f" playbooks/rotate.yml -e rotate={what} instead"
            ]
        if record is None:  # not read yet (the controller's check, before the hosts')
            return []
        if not is_open:
            return [
                f"rotate_finish: no rotation of {what} was started on these hosts; start one"
                f" with playbooks/rotate.yml -e rotate={what}"
            ]
        if secret.name == "tls_ca" and not secrets.get("next_exists"):
            return [
                f"rotate_finish: the rotation of tls_ca is open on the hosts, but the new CA"
                f" ({secrets.get('ca_dir')}/ca-next.crt and ca-next.key) is not on this"
                " controller; run the finish from the controller (or the copy of the CA"
                " directory) that started it"
            ]
        return []
    if is_open:
        return [
            f"rotate: a rotation of {what} is open since {_utc(record['open'].get('started_at'))};"
            f" finish it with -e rotate_finish={what} before starting another"
        ]
    if secret.name == "tls_ca":
        return _ca_problems(secrets)
    if not secret.next_var:
        return []
    label = secret.next_var
    if secret.name == "role":
        label = f"postgresql_access_roles[{what.split(':', 1)[1]}].password_next"
    new, old = secrets.get("next"), secrets.get("current")
    if new is None or str(new) == "":
        return [
            f"{label}: missing; put the new secret in the vault under this name"
            " (rotate.yml never takes a secret from -e), then run it again"
        ]
    if old is not None and _equal(new, old):
        return [f"{label}: the same as the current secret; put a new one in the vault"]
    if secret.name == "repo_cipher":
        path, next_path = secrets.get("current_path"), secrets.get("next_path")
        if not next_path:
            return [
                "pgbackrest_repo_path_next: missing; the new passphrase needs a repository of its"
                " own: set it to a new path in the same bucket (e.g. the current path with a"
                " date), then run it again"
            ]
        if str(next_path).rstrip("/") == str(path or "").rstrip("/"):
            return [
                f"pgbackrest_repo_path_next: {next_path} is the current repository's path; a"
                " repository keeps its passphrase for life, so the new one needs a new path"
            ]
    new_id, old_id = secrets.get("next_id"), secrets.get("current_id")
    if new_id is not None and old_id is not None and _equal(new_id, old_id):
        return [
            "pgbackrest_s3_key_next: the same access key id as pgbackrest_s3_key; a new R2 API"
            " token has a new id and secret: put both in the vault"
        ]
    return []


def _ca_problems(secrets: Mapping[str, Any]) -> list[str]:
    """Why a CA rotation cannot start: the CA is the operator's own (provided mode), or the
    controller's CA directory lacks the current CA."""
    if secrets.get("mode") != "managed":
        return [
            "rotate: tls_ca rotates the CA the project manages (postgresql_server_tls_mode:"
            f" managed); with {secrets.get('mode')!r} the CA and the certificates are yours:"
            " install the new ones with postgresql_server_tls_ca_file, _cert_file and _key_file"
            " (a bundle of both CAs first, as the credential-rotation runbook says)"
        ]
    if not secrets.get("current_exists"):
        return [
            f"rotate: tls_ca: there is no project CA in {secrets.get('ca_dir')} (ca.crt and"
            " ca.key) on this controller; run rotate.yml from the controller that keeps it"
            " (postgresql_server_tls_ca_dir)"
        ]
    return []


def repo_backups(info: Any) -> dict[int, list[float]]:
    """{repository key: the stop times of its good backups, oldest first} from
    'pgbackrest info --output=json' (a list of stanzas, or one stanza)."""
    stanza = info[0] if isinstance(info, list) and info else info
    out: dict[int, list[float]] = {}
    listed = (stanza.get("backup") or []) if isinstance(stanza, Mapping) else []
    for backup in listed:
        stop = (backup.get("timestamp") or {}).get("stop")
        if backup.get("error") or not stop:
            continue
        key = int((backup.get("database") or {}).get("repo-key") or 1)
        out.setdefault(key, []).append(float(stop))
    return {k: sorted(v) for k, v in sorted(out.items())}


def repo_cipher_finish_problems(
    info: Any, now: float, window_days: float, force: bool = False
) -> list[str]:
    """Why the finish of a repository cipher rotation (which retires repo1) is refused:
    repo2 has no backup yet; or a target inside the restore window (window_days back from
    now) is still older than repo2's first backup, so only repo1 restores it, unless
    forced. [] when repo1 may go."""
    backups = repo_backups(info)
    if not backups.get(2):
        return [
            "rotate_finish: the new repository (repo2) has no backup yet, so retiring repo1"
            " would leave nothing to restore from; start the rotation again"
            " (-e rotate=repo_cipher) or take a full backup with"
            " pgbackrest --stanza=STANZA --repo=2 --type=full backup"
        ]
    first = backups[2][0]
    needed_until = first + float(window_days) * DAY
    if now < needed_until and not force:
        oldest = (backups.get(1) or [first])[0]
        return [
            f"rotate_finish: repo1 is still needed: a restore target between {_utc(oldest)} and"
            f" {_utc(first)} (repo2's first backup) comes only from it, and the restore window of"
            f" {float(window_days):g} days (postgresql_rotate_repo_window_days) reaches back"
            f" before repo2's first backup until {_utc(needed_until)}. Finish then, or add"
            " -e rotate_force=true to give up those targets"
        ]
    return []


def confirmed(request: Mapping[str, Any]) -> bool:
    """Whether the operator typed the WHAT again: rotate_confirm (or, for a finish,
    rotate_confirm) equal to it."""
    what = request.get("what") or ""
    return bool(what) and request.get("confirm") == what


def updated(record: Mapping[str, Any] | None, what: str, phase: str, now: float) -> dict[str, Any]:
    """The whole record after ``phase`` of a rotation of ``what``: 'seen' (keep, or add
    first_seen), 'done' (a one-phase rotation, or a finish), 'started' (a two-phase
    start)."""
    if phase not in ("seen", "done", "started"):
        raise InputError(f"phase: {phase!r}; expected seen, done or started")
    out = {"secrets": dict((record or {}).get("secrets") or {})}
    entry = dict(out["secrets"].get(what) or {})
    entry.setdefault("first_seen", now)
    entry.setdefault("rotated_at", None)
    entry.setdefault("open", None)
    if phase == "done":
        entry["rotated_at"], entry["open"] = now, None
    elif phase == "started":
        entry["open"] = {"started_at": now}
    out["secrets"][what] = entry
    return out


def ages(
    record: Mapping[str, Any] | None,
    tracked: Sequence[str],
    now: float,
    max_age_days: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """status.yml's view of the secrets in ``tracked`` (WHATs): {lines, problems,
    warnings, secrets}. A secret older than its policy (max_age_days by secret kind or by
    WHAT, else DEFAULT_MAX_AGE_DAYS) is a problem; one without a record is a warning
    (site.yml records it); an open rotation is a warning."""
    limits = {**DEFAULT_MAX_AGE_DAYS, **(max_age_days or {})}
    secrets = (record or {}).get("secrets") or {}
    out: dict[str, Any] = {"lines": [], "problems": [], "warnings": [], "secrets": {}}
    for what in tracked:
        secret = kind(what)
        if secret is None:
            raise InputError(f"{what!r} is not a secret rotate.yml knows")
        limit = float(limits.get(what, limits[secret.name]))
        entry = secrets.get(what)
        if not entry:
            out["warnings"].append(f"{what}: no rotation record yet (site.yml writes one)")
            out["lines"].append(f"{what} unknown")
            continue
        since = entry.get("rotated_at") or entry.get("first_seen")
        age = (now - float(since)) / DAY
        never = entry.get("rotated_at") is None
        text = f"{what} {age:.0f} d" + (" (never rotated; at least)" if never else "")
        out["secrets"][what] = {"age_days": round(age, 1), "never_rotated": never,
                                "limit_days": limit, "open": entry.get("open")}  # fmt: skip
        if entry.get("open"):
            text += ", rotation open"
            out["warnings"].append(
                f"{what}: a rotation is open since {_utc(entry['open'].get('started_at'))};"
                f" finish it with playbooks/rotate.yml -e rotate_finish={what}"
            )
        if age > limit:
            out["problems"].append(
                f"{what} is {age:.0f} days old, older than its policy of {limit:g} days"
                f" (postgresql_cluster_status_max_secret_age_days): rotate it with"
                f" playbooks/rotate.yml -e rotate={what}"
            )
        out["lines"].append(text)
    return out


def _utc(epoch: Any) -> str:
    from datetime import UTC, datetime

    try:
        return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError, OverflowError):
        return "an unknown time"
