"""The project's own metrics, for node_exporter's textfile collector (pgfleet-metrics).

What no exporter knows, read from the records the project's jobs leave on the host:
- the scheduled pgBackRest jobs (pgbackrest-scheduled): last-attempt-<type> holds
  "<epoch> ok" or "<epoch> failed <why>", last-success-<type> an epoch;
- the last restore drill (postgresql-restore --report): last-drill.json with "finished"
  (UTC, %Y-%m-%dT%H:%M:%SZ) and "result" ("passed" or not);
- the node's certificates: their notAfter;
- the hourly check for holes in the WAL archive (postgresql-restore walcheck, on the
  primary): walcheck.json with "result", "primary", "at", "open" and "closed";
- under Patroni, a few of the local etcd member's own metrics (ETCD_FAMILIES), relayed
  from its client port: etcd requires a client certificate from its own CA there, and
  one given to Prometheus would also let it write Patroni's leader key. The node reads
  them with the member's own certificate, and Prometheus gets them through
  node_exporter's TLS and basic auth.

``render(...)`` returns the text of the .prom file. A record that cannot be read is
reported as such (pgfleet_record_readable 0), never as a success.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

JOBS = ("full", "diff", "incr", "verify")
_LABEL = re.compile(r'[\\"\n]')


def _escape(value: str) -> str:
    return _LABEL.sub(lambda m: {"\\": "\\\\", '"': '\\"', "\n": "\\n"}[m.group()], value)


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in sorted(labels.items())) + "}"


class Metrics:
    """Families in the order first seen, each with its HELP, TYPE and samples."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[str, list[str]]] = {}
        self.raw: list[str] = []  # relayed lines, with their own HELP and TYPE

    def add(self, name: str, help_: str, value: float, **labels: str) -> None:
        family = self.families.setdefault(name, (help_, []))
        family[1].append(f"{name}{_labels(labels)} {_number(value)}")

    def text(self) -> str:
        out = []
        for name, (help_, samples) in self.families.items():
            out += [f"# HELP {name} {help_}", f"# TYPE {name} gauge", *samples]
        out += self.raw
        return "\n".join(out) + "\n"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def parse_attempt(text: str) -> tuple[float, bool] | None:
    """last-attempt-<type>: (epoch, succeeded), or None when it is not such a record."""
    parts = text.split(maxsplit=2)
    if len(parts) < 2 or parts[1] not in ("ok", "failed"):
        return None
    try:
        at = float(parts[0])
    except ValueError:
        return None
    return at, parts[1] == "ok"


def parse_drill(text: str) -> tuple[float, bool] | None:
    """last-drill.json: (finished epoch, passed), or None when it has no finish time."""
    try:
        report = json.loads(text)
        at = datetime.strptime(str(report["finished"]), "%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, KeyError, TypeError):
        return None
    return at.replace(tzinfo=UTC).timestamp(), report.get("result") == "passed"


def parse_walcheck(text: str) -> dict | None:
    """walcheck.json: {"ok", "primary", "at", "open", "closed"}, or None when it is not
    such a report. A failed check is ok false (at None when the report has no time)."""
    try:
        report = json.loads(text)
    except ValueError:
        return None
    if not isinstance(report, dict) or report.get("result") not in ("passed", "failed"):
        return None
    at = report.get("at")
    at = float(at) if isinstance(at, int | float) and not isinstance(at, bool) else None
    if report["result"] == "failed":
        return {"ok": False, "primary": report.get("primary"), "at": at}
    if report.get("primary") is False:
        return {"ok": True, "primary": False, "at": at}
    counts = [report.get("open"), report.get("closed")]
    if at is None or not all(isinstance(n, int) and not isinstance(n, bool) for n in counts):
        return None
    return {"ok": True, "primary": True, "at": at, "open": counts[0], "closed": counts[1]}


READABLE = "Whether a record pgfleet-metrics reads exists and could be read (1) or not (0)."


def _record(m: Metrics, path: Path, parse: Callable[[str], tuple[float, bool] | None]):
    """A record parsed, and whether it could be read, as pgfleet_record_readable."""
    parsed = None
    with contextlib.suppress(OSError):
        parsed = parse(path.read_text())
    m.add("pgfleet_record_readable", READABLE, 1 if parsed else 0, record=str(path))
    return parsed


# etcd's families worth relaying: leadership, failed and pending proposals, the size of its
# database against its quota.
ETCD_FAMILIES = (
    "etcd_server_has_leader", "etcd_server_is_leader", "etcd_server_leader_changes_seen_total",
    "etcd_server_proposals_failed_total", "etcd_server_proposals_pending",
    "etcd_mvcc_db_total_size_in_bytes", "etcd_server_quota_backend_bytes",
)  # fmt: skip
_SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?\s+(\S+)(\s+-?[0-9]+)?$'
)


def relay(text: str, families: Iterable[str]) -> list[str] | None:
    """The HELP, TYPE and sample lines of ``families`` in a Prometheus text exposition
    (timestamps dropped: the textfile collector refuses them), or None when ``text`` is not
    one or holds none of them. A sample whose value is not a number is left out."""
    wanted = set(families)
    out: list[str] = []
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(maxsplit=3)
            if len(parts) >= 3 and parts[2] in wanted:
                out.append(line)
            continue
        match = _SAMPLE.match(line.strip())
        if not match or match.group(1) not in wanted:
            continue
        try:
            float(match.group(3))
        except ValueError:
            continue
        out.append(f"{match.group(1)}{match.group(2) or ''} {match.group(3)}")
    return out if any(not line.startswith("#") for line in out) else None


def collect(
    state_dir: Path,
    drill_report: Path,
    certificates: Iterable[Path],
    not_after: Callable[[Path], float],
    now: float,
    etcd: str | None = None,
    walcheck: Path | None = None,
) -> Metrics:
    """Everything the records say. ``not_after(path)`` returns a certificate's notAfter
    (epoch seconds) or raises OSError/ValueError. ``etcd``: the local member's /metrics
    text when it was asked for ("" when it could not be read), None when it was not.
    ``walcheck``: the WAL hole check's report (nothing when it does not exist yet; on a
    replica only whether the check ran)."""
    m = Metrics()
    for job in JOBS:
        path = state_dir / f"last-attempt-{job}"
        if not path.exists():
            continue
        parsed = _record(m, path, parse_attempt)
        if parsed:
            at, ok = parsed
            m.add(
                "pgfleet_backup_last_attempt_timestamp_seconds",
                "When the last scheduled pgBackRest job of this type ran on this node.",
                at, type=job,
            )  # fmt: skip
            m.add(
                "pgfleet_backup_last_attempt_success",
                "Whether the last scheduled pgBackRest job of this type succeeded (1) or not (0).",
                1 if ok else 0, type=job,
            )  # fmt: skip
    if drill_report.exists():
        parsed = _record(m, drill_report, parse_drill)
        if parsed:
            at, passed = parsed
            m.add(
                "pgfleet_drill_last_timestamp_seconds",
                "When the last restore drill on this node finished.",
                at,
            )
            m.add(
                "pgfleet_drill_last_success",
                "Whether the last restore drill on this node passed (1) or failed (0).",
                1 if passed else 0,
            )
    for cert in certificates:
        try:
            value = not_after(cert)
        except (OSError, ValueError):
            m.add("pgfleet_record_readable", READABLE, 0, record=str(cert))
            continue
        m.add(
            "pgfleet_certificate_not_after_timestamp_seconds",
            "When this certificate expires (its notAfter).",
            value, file=str(cert),
        )  # fmt: skip
    if walcheck is not None and walcheck.exists():
        parsed = None
        with contextlib.suppress(OSError):
            parsed = parse_walcheck(walcheck.read_text())
        m.add("pgfleet_record_readable", READABLE, 1 if parsed else 0, record=str(walcheck))
        if parsed and (parsed["primary"] is not False or not parsed["ok"]):
            at = parsed["at"]
            if at is None:
                with contextlib.suppress(OSError):
                    at = walcheck.stat().st_mtime
            m.add(
                "pgfleet_wal_check_success",
                "Whether the last check of the WAL archive for holes could read it (1) or not (0).",
                1 if parsed["ok"] else 0,
            )
            if at is not None:
                m.add(
                    "pgfleet_wal_check_timestamp_seconds",
                    "When the last check of the WAL archive for holes ran.",
                    at,
                )
            if parsed["ok"]:
                for state in ("open", "closed"):
                    m.add(
                        "pgfleet_wal_holes",
                        "Holes in the WAL archive along the primary's timeline: open (no"
                        " backup started after it: no restore crosses it) or closed.",
                        parsed[state], state=state,
                    )  # fmt: skip
    if etcd is not None:
        relayed = relay(etcd, ETCD_FAMILIES)
        m.add(
            "pgfleet_etcd_metrics_readable",
            "Whether the local etcd member answered on its client port with its metrics (1)"
            " or not (0).",
            1 if relayed else 0,
        )
        m.raw.extend(relayed or [])
    m.add("pgfleet_metrics_timestamp_seconds", "When pgfleet-metrics last wrote this file.", now)
    return m
