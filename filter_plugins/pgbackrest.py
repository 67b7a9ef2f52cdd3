"""pgBackRest repository settings: the Cloudflare R2 preset, validation, rendering, status.

The repository is an S3 bucket (Cloudflare R2 or any S3-compatible store). Everything the
inventory says about it is checked here before any host changes, with messages that name
the variable; the pgbackrest.conf lines are rendered here; ``pgbackrest --output=json info``
is read here, by pgbackrest_info only; a failed stanza-create is turned into the settings
to check; and the status report turns the repository contents, ``pg_stat_archiver`` and
``pg_stat_replication`` into figures and problems.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

from pgfleet import advisories, replication, walholes
from pgfleet.filters import wrap

_replication_report = wrap(replication.report, AnsibleFilterError)
_advisories = wrap(advisories.applying, AnsibleFilterError)
_classify = wrap(walholes.classify, AnsibleFilterError)


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


# --- pgbackrest info -------------------------------------------------------------------------

_RC_TIMEOUT = 124  # the exit code of timeout(1) when the command ran out of time
_SAID_LINES = 4  # lines of a command's output quoted in an error
_SAID_CHARS = 300  # and at most this many characters of them


def _utc(epoch: float | None) -> str | None:
    return (
        dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ") if epoch else None
    )


def _backup_row(backup: Mapping[str, Any]) -> dict[str, Any]:
    info = backup.get("info") or {}
    stop = (backup.get("timestamp") or {}).get("stop")
    return {
        "label": backup.get("label"),
        "type": backup.get("type"),
        "stop": stop,
        "stop_utc": _utc(stop),
        "size": info.get("size"),
        "repo_size": (info.get("repository") or {}).get("delta"),
        "repo": int((backup.get("database") or {}).get("repo-key") or 1),
        "error": bool(backup.get("error", False)),
    }


def _lines(text: Any) -> list[str]:
    """Non-empty, stripped lines of a text or a list of lines."""
    if text is None:
        return []
    if isinstance(text, str):
        return [line.strip() for line in text.splitlines() if line.strip()]
    if isinstance(text, Sequence):
        return [str(line).strip() for line in text if str(line).strip()]
    return [str(text).strip()] if str(text).strip() else []


def _said(text: Any) -> str:
    said = " / ".join(_lines(text)[:_SAID_LINES])
    return said if len(said) <= _SAID_CHARS else said[: _SAID_CHARS - 3] + "..."


def _not_ok(error: str) -> dict[str, Any]:
    return {
        "ok": False,
        "stanza": None,
        "status_code": None,
        "status_message": None,
        "backups": [],
        "last_full": None,
        "last_diff": None,
        "last_incr": None,
        "has_backup": False,
        "repo_size": 0,
        "wal_archive": None,
        "error": error,
    }


def _stanzas(stdout: Any, name: str) -> list[Mapping[str, Any]] | None:
    """The list of stanzas in pgbackrest info output; None when there is no output at all."""
    if stdout is None or (isinstance(stdout, str) and not stdout.strip()):
        return None
    data = stdout
    if isinstance(stdout, str):
        try:
            data = json.loads(stdout)
        except ValueError as err:
            _fail(
                name,
                f"the output is not JSON ({err}); it starts with {stdout.strip()[:80]!r}. "
                "Expected the output of pgbackrest --output=json info",
            )
    if not isinstance(data, list) or not all(isinstance(s, Mapping) for s in data):
        _fail(name, f"expected a JSON list of stanzas, got {type(data).__name__}")
    return data


def _stanza_info(stanza: Mapping[str, Any]) -> dict[str, Any]:
    status = stanza.get("status") or {}
    code = status.get("code")
    message = status.get("message")
    # With an unreachable or unreadable repository the stanza only says "other"; the
    # repository's own status carries pgBackRest's error.
    details = [
        f"repo{repo.get('key')}: {repo['status'].get('message')}"
        for repo in stanza.get("repo") or []
        if isinstance(repo, Mapping)
        and isinstance(repo.get("status"), Mapping)
        and repo["status"].get("code") not in (0, None)
        and repo["status"].get("message") not in (None, message)
    ]
    if details:
        message = f"{message} ({'; '.join(details)})"
    good = [
        _backup_row(b)
        for b in stanza.get("backup") or []
        if isinstance(b, Mapping) and not b.get("error")
    ]
    last = {}
    for kind in ("full", "diff", "incr"):
        rows = [b for b in good if b["type"] == kind]
        last[kind] = rows[-1] if rows else None
    archives = [a for a in stanza.get("archive") or [] if isinstance(a, Mapping)]
    # Each repository's window (a repository cipher rotation has two): its backups, the
    # first and the last.
    repos: dict[str, dict[str, Any]] = {}
    for b in good:
        entry = repos.setdefault(str(b["repo"]), {"backups": 0, "first_utc": b["stop_utc"]})
        entry["backups"] += 1
        entry["last_utc"] = b["stop_utc"]
    return {
        "ok": True,
        "stanza": stanza.get("name"),
        "status_code": code,
        "status_message": message,
        "backups": good,
        "last_full": last["full"],
        "last_diff": last["diff"],
        "last_incr": last["incr"],
        "has_backup": bool(good),
        "repo_size": sum(b["repo_size"] or 0 for b in good),
        "repos": dict(sorted(repos.items())),
        "wal_archive": (
            {"min": archives[-1].get("min"), "max": archives[-1].get("max")} if archives else None
        ),
        "error": None,
    }


def pgbackrest_info(
    stdout: Any, rc: Any = 0, name: str = "pgbackrest info", stderr: Any = ""
) -> dict[str, Any]:
    """Read ``pgbackrest --output=json info`` into one normalized dict for the first stanza.

    stdout: the command's output (text or already-parsed JSON), or the whole registered
    result of the command task (then its stdout, stderr and rc are used, not the rc and
    stderr arguments).
    An unreachable repository (non-zero exit, no output) or a task that did not run gives
    ok false with the reason in error; only output that is not JSON after a zero exit
    raises, naming `name`.
    """
    if isinstance(stdout, Mapping):
        result = stdout
        if result.get("skipped"):
            return _not_ok(f"{name} did not run (skipped)")
        stdout = result.get("stdout")
        rc = result.get("rc")
        stderr = result.get("stderr") or result.get("msg") or ""
    if rc is None:
        detail = _said(stderr)
        return _not_ok(f"{name} did not run" + (f": {detail}" if detail else ""))
    if isinstance(rc, bool) or not isinstance(rc, int | str) or not str(rc).lstrip("-").isdigit():
        _fail(name, f"{rc!r} is not an exit code")
    rc = int(rc)
    if rc != 0:
        detail = _said(stderr) or (_said(stdout) if isinstance(stdout, str) else "")
        timed_out = " (timed out)" if rc == _RC_TIMEOUT else ""
        return _not_ok(f"{name} exited with {rc}{timed_out}" + (f": {detail}" if detail else ""))
    stanzas = _stanzas(stdout, name)
    if stanzas is None:
        return _not_ok(f"{name} printed nothing")
    if not stanzas:
        return _not_ok(f"{name} returned no stanza")
    return _stanza_info(stanzas[0])


# --- stanza-create failures ------------------------------------------------------------------

# What pgBackRest (or the store through it) says, and the setting to check. Case-sensitive,
# as pgBackRest and S3 spell them. pgBackRest reports a refused request as "HTTP request
# failed with 403 (Forbidden)", followed by the store's error code when the response has
# a body (a HEAD request's has none).
GATE_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"HTTP 403|failed with 403|InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied"
        ),
        "Check pgbackrest_s3_key and pgbackrest_s3_key_secret (the store refused them).",
    ),
    (
        re.compile(r"NoSuchBucket|HTTP 404|failed with 404"),
        "Check pgbackrest_bucket: the bucket does not exist.",
    ),
    (
        re.compile(r"unable to connect|unable to get address|TLS|certificate|timeout"),
        "Check pgbackrest_s3_endpoint and pgbackrest_s3_ca_file (unreachable, or its "
        "certificate does not verify).",
    ),
    (
        re.compile(r"cipher|decrypt|ciphertext|backup\.info|archive\.info"),
        "Check pgbackrest_cipher_pass: the repository exists with another passphrase; "
        "pgBackRest will not make a second repository over it. Use the passphrase it was "
        "created with.",
    ),
)


def pgbackrest_gate_hints(output: Any) -> list[str]:
    """The settings to check after a failed stanza-create, as sentences, from its output.

    output: the text pgBackRest printed, or a list of its lines. Several classes can
    match; output that matches none gives an empty list.
    """
    text = " ".join(_lines(output))
    return [hint for pattern, hint in GATE_HINTS if pattern.search(text)]


# --- status ----------------------------------------------------------------------------------


def pgbackrest_status(
    info: Any,
    archiver: Mapping[str, Any] | None,
    now: float,
    max_full_age_h: float = 8 * 24,
    max_backup_age_h: float = 26,
    max_archive_age_min: float = 15,
) -> dict[str, Any]:
    """Turn the result of pgbackrest_info and a pg_stat_archiver row into a report.

    archiver: {failed_count, last_failed_wal, last_failed_time (epoch), last_archived_wal,
    last_archived_time (epoch), archived_count} or None when the database was unreachable.
    Returns figures and a list of problems; an empty list means healthy.
    """
    if not isinstance(info, Mapping) or "ok" not in info:
        _fail(
            "pgbackrest_status",
            "expected the result of pgbackrest_info, not the raw pgbackrest info output",
        )
    problems: list[str] = []
    report: dict[str, Any] = {
        "stanza": info.get("stanza"),
        "backups": list(info.get("backups") or []),
        "last_full": info.get("last_full"),
        "last_diff": info.get("last_diff"),
        "last_incr": info.get("last_incr"),
        "repo_size": info.get("repo_size") or 0,
        "repos": dict(info.get("repos") or {}),
        "wal_archive": info.get("wal_archive"),
        "last_backup_age_h": None,
        "last_full_age_h": None,
        "archiver": None,
        "last_archived_age_min": None,
        "problems": problems,
    }
    if not info["ok"]:
        problems.append(f"the repository could not be read: {info.get('error')}")
    else:
        _repository(info, report, float(now), max_full_age_h, max_backup_age_h)
    _archiver(archiver, report, float(now), max_archive_age_min)
    return report


def _repository(
    info: Mapping[str, Any],
    report: dict[str, Any],
    now: float,
    max_full_age_h: float,
    max_backup_age_h: float,
) -> None:
    problems = report["problems"]
    if info.get("status_code", 0) != 0:
        problems.append(f"stanza status {info.get('status_code')}: {info.get('status_message')}")
    good = report["backups"]
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


# --- the status report -----------------------------------------------------------------------

# The thresholds the report reads, and how each is read.
STATUS_THRESHOLDS: dict[str, Any] = {
    "max_full_age_hours": float,
    "max_backup_age_hours": float,
    "max_archive_age_minutes": float,
    "max_lag_bytes": lambda value: int(float(value)),
    "max_lag_seconds": float,
}


def _thresholds(thresholds: Any, name: str) -> dict[str, Any]:
    if not isinstance(thresholds, Mapping):
        _fail(name, f"expected a mapping with the keys {', '.join(STATUS_THRESHOLDS)}")
    read: dict[str, Any] = {}
    for key, kind in STATUS_THRESHOLDS.items():
        value = thresholds.get(key)
        if value is None or isinstance(value, bool):
            _fail(f"{name}.{key}", f"is missing or not a number ({value!r})")
        try:
            read[key] = kind(value)
        except (TypeError, ValueError):
            _fail(f"{name}.{key}", f"{value!r} is not a number")
    return read


def _query_row(result: Any) -> Mapping[str, Any] | None:
    """The first row of a registered postgresql_query result; None when the query failed."""
    if not isinstance(result, Mapping):
        return None
    rows = result.get("query_result")
    if not isinstance(rows, Sequence) or isinstance(rows, str) or not rows:
        return None
    return rows[0] if isinstance(rows[0], Mapping) else None


def _json_value(value: Any, where: str) -> Any:
    """A json column as PostgreSQL's driver returns it: parsed, or still as text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as err:
            _fail(where, f"{value[:80]!r} is not JSON ({err})")
    return value


def _jobs(jobs: Any) -> dict[str, str]:
    """The 'last-<outcome>-<job> <epoch>' lines of the job state directory, as a mapping
    (or pg_disk_facts' files: the same, file name to content)."""
    if isinstance(jobs, Mapping) and isinstance(jobs.get("files"), Mapping):
        return {str(k): str(v).strip() for k, v in jobs["files"].items()}
    if isinstance(jobs, Mapping):
        lines = jobs.get("stdout_lines")
        if lines is None:
            lines = (jobs.get("stdout") or "").splitlines()
    elif isinstance(jobs, str):
        lines = jobs.splitlines()
    else:
        lines = list(jobs or [])
    found: dict[str, str] = {}
    for line in lines:
        parts = str(line).split(None, 1)
        if parts:
            found[parts[0]] = parts[1].strip() if len(parts) > 1 else ""
    return found


# The last attempt of each scheduled job: 'last-attempt-<job>' holds '<epoch> <result>
# [detail]', written by pgbackrest-scheduled on every run that was this host's job (a
# standby's or a non-leader's run is not an attempt).
_ATTEMPT = re.compile(r"^last-attempt-(full|diff|incr|verify)$")


def _attempts(found: Mapping[str, str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    attempts: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for key in sorted(found):
        m = _ATTEMPT.match(key)
        if not m:
            continue
        job = m.group(1)
        what = "pgbackrest verify" if job == "verify" else f"scheduled {job} backup"
        fields = found[key].split(None, 2)
        try:
            at = float(fields[0])
            result = fields[1]
        except (IndexError, ValueError):
            attempts[job] = {"at": None, "at_utc": None, "result": "unknown", "detail": found[key]}
            problems.append(
                f"the last {what}: unreadable record {found[key]!r} in the job state directory"
            )
            continue
        detail = fields[2] if len(fields) > 2 else ""
        attempts[job] = {"at": at, "at_utc": _utc(at), "result": result, "detail": detail}
        if result != "ok":
            problems.append(f"the last {what} ({_utc(at)}) failed: {detail}")
    return attempts, problems


def pgbackrest_status_report(
    info: Any,
    archiver: Any,
    replication: Any,
    jobs: Any,
    host: str,
    expected: Sequence[str],
    thresholds: Mapping[str, Any],
    now: float | None = None,
    name: str = "postgresql_cluster.status",
) -> dict[str, Any]:
    """The whole status report of a primary, from the registered results of its probes.

    info: result of ``pgbackrest --output=json info`` (stdout, stderr, rc).
    archiver: result of the pg_stat_archiver query; its one row also holds the server
    clock (now, epoch) and the Debian extension versions (extensions, a json object).
    replication: result of the replication query; one row {current_lsn, rows (json list
    of pg_stat_replication rows as pg_replication_report reads them), slots (json list of
    the physical slots), pending_restart (json list of settings waiting for a restart)}.
    jobs: result of listing the job state files ('last-success-diff 1700000000' lines).
    expected: the replicas (application names) that should stream from this primary.
    thresholds: {max_full_age_hours, max_backup_age_hours, max_archive_age_minutes,
    max_lag_bytes, max_lag_seconds}; `name` names it in errors.
    now: the time (epoch) used when the server clock could not be read; else the
    controller's clock.
    A query that failed or did not run becomes a problem, never an error.
    """
    limits = _thresholds(thresholds, name)
    if not isinstance(info, Mapping):
        _fail("pgbackrest_status_report", "info: expected the registered pgbackrest info result")
    parsed = pgbackrest_info(info)
    row = _query_row(archiver)
    archiver_row = {k: v for k, v in row.items() if k not in ("now", "extensions")} if row else None
    clock = row.get("now") if row else None
    if clock is None:
        clock = now if now is not None else time.time()
    extensions = _json_value(row.get("extensions"), "extensions") if row else None
    report = pgbackrest_status(
        parsed,
        archiver_row,
        clock,
        max_full_age_h=limits["max_full_age_hours"],
        max_backup_age_h=limits["max_backup_age_hours"],
        max_archive_age_min=limits["max_archive_age_minutes"],
    )
    replication_row = _query_row(replication)
    if replication_row is None:
        streaming = {"replicas": {}, "problems": ["replication state could not be read"]}
    else:
        streaming = _replication_report(
            _json_value(replication_row.get("rows"), "rows") or [],
            replication_row.get("current_lsn"),
            expected=list(expected or []),
            max_lag_bytes=limits["max_lag_bytes"],
            max_lag_seconds=limits["max_lag_seconds"],
            slots=_json_value(replication_row.get("slots"), "slots") or [],
        )
    advisories = _advisories(extensions or {})
    found = _jobs(jobs)
    attempts, attempt_problems = _attempts(found)
    rc = info.get("rc")
    info_error = ""
    if rc != 0:
        info_error = str(info.get("stderr") or "").strip() or (parsed["error"] or "")
    report.update(
        {
            "host": host,
            "replication": streaming,
            "problems": report["problems"] + streaming["problems"] + attempt_problems,
            "jobs": found,
            "attempts": attempts,
            "advisories": [a["id"] for a in advisories],
            "info_error": info_error,
            "pending_restart": (
                _json_value(replication_row.get("pending_restart"), "pending_restart") or []
                if replication_row
                else []
            ),
        }
    )
    return report


# --- holes in the WAL archive ----------------------------------------------------------------


def _repo_document(repo: Mapping[str, Any]) -> Mapping[str, Any] | None:
    stdout = repo.get("stdout")
    if isinstance(stdout, Mapping):
        return stdout
    text = str(stdout or "").strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            return None
        return doc if isinstance(doc, Mapping) else None
    return None


def pgbackrest_holes_report(repo: Any, archiver: Any = None) -> dict[str, Any]:
    """Holes in the WAL archive, from the registered result of ``postgresql-restore repo``.

    A hole (segments pgBackRest acknowledged and dropped at archive-push-queue-max) that no
    backup started after is a problem: no restore reaches a time after it, restore to the
    latest point included. Once a backup started after it, it is a warning: targets inside
    it cannot be restored. archiver: the registered pg_stat_archiver query; when PostgreSQL
    counts a segment as archived that is newer than the repository's newest on its
    timeline, the segments after that were dropped too (a hole nothing has closed yet).
    A hole on a branch the tool's timeline left (another timeline, or its ancestor past the
    switch point) is listed with on_history false and is neither. A task that was skipped
    gives checked false and no problem; a run that failed is a problem.
    """
    out: dict[str, Any] = {
        "checked": False,
        "holes": [],
        "problems": [],
        "warnings": [],
        "error": None,
    }
    if not isinstance(repo, Mapping):
        _fail(
            "pgbackrest_holes_report", "expected the registered result of postgresql-restore repo"
        )
    if repo.get("skipped"):
        return out
    doc = _repo_document(repo)
    rc = repo.get("rc")
    if doc is None or rc not in (0, "0") or doc.get("result") == "failed":
        reason = (
            "; ".join(str(p) for p in (doc or {}).get("problems") or [])
            or _said(repo.get("stderr"))
            or _said(repo.get("msg"))
            or _said(repo.get("stdout"))
            or f"exit code {rc}"
        )
        out["error"] = reason
        out["problems"].append(f"the WAL archive could not be checked for holes: {reason}")
        return out
    out["checked"] = True
    row = _query_row(archiver) if archiver is not None else None
    found = _classify(doc, str((row or {}).get("last_archived_wal") or ""))
    out.update(holes=found["holes"], problems=found["problems"], warnings=found["warnings"])
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "pgbackrest_r2_endpoint": pgbackrest_r2_endpoint,
            "pgbackrest_repo_check": pgbackrest_repo_check,
            "pgbackrest_queue_max": pgbackrest_queue_max,
            "pgbackrest_conf_lines": pgbackrest_conf_lines,
            "pgbackrest_info": pgbackrest_info,
            "pgbackrest_gate_hints": pgbackrest_gate_hints,
            "pgbackrest_status": pgbackrest_status,
            "pgbackrest_status_report": pgbackrest_status_report,
            "pgbackrest_holes_report": pgbackrest_holes_report,
        }
