"""pgBackRest repository settings: the Cloudflare R2 preset, validation, rendering, status.

The repository is an S3 bucket (Cloudflare R2 or any S3-compatible store). Everything the
inventory says about it is checked here before any host changes, with messages that name
the variable; the pgbackrest.conf lines are rendered here; and the status report turns
``pgbackrest info --output=json`` and ``pg_stat_archiver`` into figures and problems.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

R2_JURISDICTIONS = {"default": "", "eu": ".eu", "fedramp": ".fedramp"}
_ACCOUNT_ID = re.compile(r"^[0-9a-f]{32}$")
_HOST = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(:\d{1,5})?$"
)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_REPO_PATH = re.compile(r"^/[A-Za-z0-9._/-]*$")
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_SECTION = re.compile(r"^[A-Za-z0-9_:-]+$")
CIPHER_PASS_MIN = 32


def _fail(where: str, message: str) -> None:
    raise AnsibleFilterError(f"{where}: {message}")


def pgbackrest_r2_endpoint(
    account_id: Any, jurisdiction: Any = "default", name: str = "pgbackrest_r2"
) -> str:
    """The R2 S3 endpoint host for an account id: <id>[.eu].r2.cloudflarestorage.com."""
    if not isinstance(account_id, str) or not _ACCOUNT_ID.match(account_id):
        _fail(
            f"{name}_account_id",
            f"{account_id!r} is not a Cloudflare account id; expected 32 lowercase hex "
            "characters (Cloudflare dashboard, R2, Account ID)",
        )
    if jurisdiction not in R2_JURISDICTIONS:
        _fail(
            f"{name}_jurisdiction", f"{jurisdiction!r} is not one of {', '.join(R2_JURISDICTIONS)}"
        )
    return f"{account_id}{R2_JURISDICTIONS[jurisdiction]}.r2.cloudflarestorage.com"


def pgbackrest_repo_check(repo: Mapping[str, Any], name: str = "pgbackrest") -> bool:
    """Validate the repository settings; raise naming the variable, else return True.

    repo keys: type (r2|s3), endpoint, region, bucket, path, uri_style, key, key_secret,
    cipher_pass, retention_full.
    """
    if not isinstance(repo, Mapping):
        _fail(name, "expected the repository settings as a mapping")
    kind = repo.get("type")
    if kind not in ("r2", "s3"):
        _fail(f"{name}_repo_type", f"{kind!r} is not allowed; expected r2 or s3")
    endpoint = repo.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        _fail(
            f"{name}_s3_endpoint",
            "is empty; set pgbackrest_r2_account_id (R2) or the endpoint host",
        )
    if "://" in endpoint or "/" in endpoint:
        _fail(
            f"{name}_s3_endpoint",
            f"{endpoint!r} must be a host name only, without a scheme or a path "
            "(for example 'abc123.r2.cloudflarestorage.com')",
        )
    if not _HOST.match(endpoint):
        _fail(f"{name}_s3_endpoint", f"{endpoint!r} is not a valid host name")
    region = repo.get("region")
    if kind == "r2" and region != "auto":
        _fail(f"{name}_s3_region", f"{region!r} is not valid for Cloudflare R2; R2 needs 'auto'")
    if not isinstance(region, str) or not region:
        _fail(f"{name}_s3_region", "is empty; expected a region such as 'auto' or 'eu-west-1'")
    bucket = repo.get("bucket")
    if not isinstance(bucket, str) or not _BUCKET.match(bucket) or "--" in bucket:
        _fail(
            f"{name}_bucket",
            f"{bucket!r} is not a valid bucket name; expected 3-63 lowercase letters, digits "
            "and hyphens, starting and ending with a letter or digit",
        )
    path = repo.get("path")
    if not isinstance(path, str) or not _REPO_PATH.match(path) or path == "/" or "//" in path:
        _fail(
            f"{name}_repo_path",
            f"{path!r} is not a repository path; expected e.g. '/pgbackrest/learning'",
        )
    if repo.get("uri_style") not in ("path", "host"):
        _fail(f"{name}_s3_uri_style", f"{repo.get('uri_style')!r} is not path or host")
    for key in ("key", "key_secret"):
        value = repo.get(key)
        if not isinstance(value, str) or len(value) < 16:
            _fail(
                f"{name}_s3_{key}", "is missing or too short; put the access key pair in the vault"
            )
    cipher = repo.get("cipher_pass")
    if not isinstance(cipher, str) or len(cipher) < CIPHER_PASS_MIN:
        _fail(
            f"{name}_cipher_pass",
            f"the repository passphrase must be at least {CIPHER_PASS_MIN} characters "
            "(generate one with `openssl rand -base64 48` and keep it in the vault; "
            "without it the backups cannot be read)",
        )
    retention = repo.get("retention_full")
    if isinstance(retention, bool) or not isinstance(retention, int) or not 1 <= retention <= 100:
        _fail(
            f"{name}_retention_full", f"{retention!r} is not a count of full backups from 1 to 100"
        )
    return True


def pgbackrest_queue_max(
    fs_bytes: Any, fraction: float = 0.2, floor_mb: int = 1024, name: str = "pg_wal filesystem"
) -> str:
    """archive-push-queue-max as a share of the filesystem that holds pg_wal.

    Past this many bytes of WAL waiting to be archived, pgBackRest drops WAL (and PITR is
    broken until the next full backup) instead of letting pg_wal fill the disk and stop
    PostgreSQL. Well below the filesystem size, never below floor_mb.
    """
    if isinstance(fs_bytes, bool) or not isinstance(fs_bytes, int) or fs_bytes <= 0:
        _fail(name, f"{fs_bytes!r} is not a size in bytes")
    if not 0 < fraction < 1:
        _fail(name, f"fraction {fraction!r} must be between 0 and 1")
    mb = max(floor_mb, math.floor(fs_bytes * fraction / 1024**2))
    return f"{mb // 1024}GiB" if mb % 1024 == 0 else f"{mb}MiB"


def _render(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "y" if value else "n"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        if not value or any(c in value for c in "\r\n\x00"):
            _fail(where, "expected a non-empty single-line value")
        return value
    _fail(where, f"cannot render {type(value).__name__} into pgbackrest.conf")
    return ""  # unreachable


def pgbackrest_conf_lines(
    sections: Mapping[str, Mapping[str, Any]], name: str = "pgbackrest_options"
) -> list[str]:
    """Render {section: {option: value}} as pgbackrest.conf lines; None values are left out."""
    if not isinstance(sections, Mapping):
        _fail(name, "expected a mapping of sections")
    lines: list[str] = []
    for section, options in sections.items():
        if not isinstance(section, str) or not _SECTION.match(section):
            _fail(name, f"{section!r} is not a section name")
        if not isinstance(options, Mapping):
            _fail(f"{name}[{section!r}]", "expected a mapping of options")
        if lines:
            lines.append("")
        lines.append(f"[{section}]")
        for key in sorted(options):
            if not isinstance(key, str) or not _KEY.match(key):
                _fail(f"{name}[{section!r}]", f"{key!r} is not a pgBackRest option name")
            if options[key] is None:
                continue
            lines.append(f"{key}={_render(options[key], f'{name}[{section!r}][{key!r}]')}")
    return lines


def _utc(epoch: float | None) -> str | None:
    return (
        dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ") if epoch else None
    )


def _backup_row(backup: Mapping[str, Any]) -> dict[str, Any]:
    info = backup.get("info", {})
    stop = backup.get("timestamp", {}).get("stop")
    return {
        "label": backup.get("label"),
        "type": backup.get("type"),
        "stop": stop,
        "stop_utc": _utc(stop),
        "size": info.get("size"),
        "repo_size": info.get("repository", {}).get("delta"),
        "error": bool(backup.get("error", False)),
    }


def pgbackrest_status(
    info: Any,
    archiver: Mapping[str, Any] | None,
    now: float,
    max_full_age_h: float = 8 * 24,
    max_backup_age_h: float = 26,
    max_archive_age_min: float = 15,
) -> dict[str, Any]:
    """Turn pgbackrest info JSON (list of stanzas) and a pg_stat_archiver row into a report.

    archiver: {failed_count, last_failed_wal, last_failed_time (epoch), last_archived_wal,
    last_archived_time (epoch), archived_count} or None when the database was unreachable.
    Returns figures and a list of problems; an empty list means healthy.
    """
    if isinstance(info, str):
        _fail("pgbackrest info", "expected parsed JSON, not text")
    stanzas = info if isinstance(info, list) else []
    problems: list[str] = []
    report: dict[str, Any] = {
        "stanza": None,
        "backups": [],
        "last_full": None,
        "last_diff": None,
        "last_incr": None,
        "repo_size": 0,
        "wal_archive": None,
        "last_backup_age_h": None,
        "last_full_age_h": None,
        "archiver": None,
        "last_archived_age_min": None,
        "problems": problems,
    }
    if not stanzas:
        problems.append("pgbackrest info returned no stanza (repository unreachable or empty)")
    else:
        _repository(stanzas[0], report, now, max_full_age_h, max_backup_age_h)
    _archiver(archiver, report, now, max_archive_age_min)
    return report


def _repository(
    stanza: Mapping[str, Any],
    report: dict[str, Any],
    now: float,
    max_full_age_h: float,
    max_backup_age_h: float,
) -> None:
    problems = report["problems"]
    report["stanza"] = stanza.get("name")
    status = stanza.get("status", {})
    if status.get("code", 0) != 0:
        problems.append(f"stanza status {status.get('code')}: {status.get('message')}")
    good = [_backup_row(b) for b in stanza.get("backup", []) if not b.get("error")]
    report["backups"] = good
    for kind, label in (("full", "last_full"), ("diff", "last_diff"), ("incr", "last_incr")):
        rows = [b for b in good if b["type"] == kind]
        report[label] = rows[-1] if rows else None
    report["repo_size"] = sum(b["repo_size"] or 0 for b in good)
    archives = stanza.get("archive", [])
    report["wal_archive"] = (
        {"min": archives[-1].get("min"), "max": archives[-1].get("max")} if archives else None
    )
    last_good = max((b["stop"] for b in good if b["stop"]), default=None)
    last_full = report["last_full"]["stop"] if report["last_full"] else None
    report["last_backup_age_h"] = round((now - last_good) / 3600, 2) if last_good else None
    report["last_full_age_h"] = round((now - last_full) / 3600, 2) if last_full else None
    if last_full is None:
        problems.append("no full backup in the repository")
    elif report["last_full_age_h"] > max_full_age_h:
        problems.append(
            f"last full backup is {report['last_full_age_h']} h old (limit {max_full_age_h} h)"
        )
    if last_good is not None and report["last_backup_age_h"] > max_backup_age_h:
        problems.append(
            f"last good backup is {report['last_backup_age_h']} h old (limit {max_backup_age_h} h)"
        )


def _archiver(
    archiver: Mapping[str, Any] | None, report: dict[str, Any], now: float, max_age_min: float
) -> None:
    problems = report["problems"]
    if archiver is None:
        problems.append("pg_stat_archiver could not be read (database unreachable)")
    else:
        report["archiver"] = dict(archiver)
        archived = archiver.get("last_archived_time")
        failed = archiver.get("last_failed_time")
        report["last_archived_age_min"] = round((now - archived) / 60, 1) if archived else None
        if failed and (not archived or failed > archived):
            problems.append(
                f"WAL archiving is failing: {archiver.get('failed_count')} failures, last on "
                f"{archiver.get('last_failed_wal')}"
            )
        if archived and report["last_archived_age_min"] > max_age_min:
            problems.append(
                f"last WAL segment archived {report['last_archived_age_min']} min ago "
                f"(limit {max_age_min} min)"
            )


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "pgbackrest_r2_endpoint": pgbackrest_r2_endpoint,
            "pgbackrest_repo_check": pgbackrest_repo_check,
            "pgbackrest_queue_max": pgbackrest_queue_max,
            "pgbackrest_conf_lines": pgbackrest_conf_lines,
            "pgbackrest_status": pgbackrest_status,
        }
