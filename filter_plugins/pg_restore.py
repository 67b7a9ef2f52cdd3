"""Point-in-time restore decisions that deserve unit tests: is the request well formed,
what window the repository can recover, and which backup a target starts from.

A backup can reach a target only along one history. A timeline's history file lists its
ancestors, 'parentTLI<TAB>switchpoint<TAB>reason', one per line: the parent ran until the
switch point, then this timeline took over. A backup taken on an ancestor after that
ancestor's switch point lies on a branch the target never saw (a node that kept writing
after another was promoted, or the history abandoned by an earlier restore); PostgreSQL
cannot replay from it to the target, and pgBackRest 2.55 refuses it (error 058). Such
backups are never chosen, so an operator never meets that error at 3 a.m.

The recoverable window on a timeline runs from the stop time of the oldest usable backup
(the first consistent point) to the end of the archive: the newest archived WAL segment,
or "now" when the primary runs on that timeline and archives without failures (the
playbook then sends its current WAL to the repository before restoring).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from ansible.errors import AnsibleFilterError

from pgfleet import lsn
from pgfleet.filters import wrap

pg_lsn_int = wrap(lsn.lsn_int, AnsibleFilterError)

# 'YYYY-MM-DD HH:MM[:SS[.ffffff]]' then a zone: Z, UTC, +HH, +HHMM or +HH:MM. A time
# without a zone is read in the server's time zone, which is not what an operator at
# 3 a.m. in another zone means: it is refused.
_TIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[ T](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)\s*"
    r"(?P<zone>Z|UTC|[+-]\d{2}(?::?\d{2})?)$"
)
_TIME_NO_ZONE = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?$")
# pg_create_restore_point() takes at most 63 bytes; quotes and spaces would need escaping
# in recovery_target_name and on the command line.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,62}$")
_LSN = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")
_SET = re.compile(r"^\d{8}-\d{6}F(?:_\d{8}-\d{6}[DI])?$")
_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Throughputs behind the duration estimate: conservative figures for a small VPS reading
# an object store (restore) and replaying WAL.
_RESTORE_BPS = 40 * 1024**2
_REPLAY_BPS = 30 * 1024**2
_FIXED_S = 15
# A clock a few seconds ahead of the controller's is not "the future".
_CLOCK_SKEW_S = 5


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S+00")


def _parse_time(value: str) -> float | None:
    m = _TIME.match(value)
    if not m:
        return None
    zone = m["zone"]
    if zone in ("Z", "UTC"):
        offset = timedelta(0)
    else:
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        if hours > 15 or minutes > 59:
            return None
        offset = timedelta(hours=hours, minutes=minutes) * (1 if zone[0] == "+" else -1)
    clock = m["time"] if m["time"].count(":") == 2 else m["time"] + ":00"
    try:
        naive = datetime.fromisoformat(f"{m['date']} {clock}")
    except ValueError:
        return None
    return naive.replace(tzinfo=timezone(offset)).timestamp()


def pg_restore_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """Check the operator's restore request before any host is touched.

    request: restore_target_time, restore_target_name, restore_target_lsn,
    restore_target_xid, restore_target_timeline, restore_set, restore_mode, restore_host
    (empty or missing = unset). Returns ok, problems (each names the variable and the
    expected form), target {type, value, epoch, lsn}, mode, timeline, set.
    """
    if not isinstance(request, Mapping):
        raise AnsibleFilterError("pg_restore_request: expected a dict of the restore_* variables")
    problems: list[str] = []
    given = {
        kind: _text(request.get(f"restore_target_{kind}"))
        for kind in ("time", "name", "lsn", "xid")
    }
    given = {kind: value for kind, value in given.items() if value}
    target: dict[str, Any] = {"type": "none", "value": None, "epoch": None, "lsn": None}
    if len(given) > 1:
        problems.append(
            "Set at most one recovery target; got "
            + ", ".join(f"restore_target_{k}" for k in given)
            + ". With none, the restore recovers to the end of the archive."
        )
    elif given:
        kind, value = next(iter(given.items()))
        target.update(type=kind, value=value)
        if kind == "time":
            if _TIME_NO_ZONE.match(value):
                problems.append(
                    f"restore_target_time={value!r} has no time zone, and would be read in the "
                    "server's zone; write it with one, e.g. '2026-11-28 04:30:00+00' or "
                    "'2026-11-28 05:30:00+01:00'."
                )
            elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                problems.append(
                    f"restore_target_time={value!r} is only a date: the shell or -e split it "
                    "at its space. Quote the whole time inside the -e value: "
                    "-e \"restore_target_time='2026-11-28 04:30:00+00'\"."
                )
            else:
                target["epoch"] = _parse_time(value)
                if target["epoch"] is None:
                    problems.append(
                        f"restore_target_time={value!r} is not a time; expected "
                        "'YYYY-MM-DD HH:MM:SS+00' (a zone is required: Z, UTC, +HH or +HH:MM)."
                    )
                else:
                    target["value"] = _iso(target["epoch"]) if "." not in value else value
        elif kind == "name" and not _NAME.match(value):
            problems.append(
                f"restore_target_name={value!r} is not a restore point name; expected 1-63 "
                "characters of letters, digits and _.:@- (as given to pg_create_restore_point)."
            )
        elif kind == "lsn":
            if not _LSN.match(value):
                problems.append(
                    f"restore_target_lsn={value!r} is not an LSN; expected hex 'X/Y', "
                    "e.g. '0/3000060' (pg_current_wal_lsn())."
                )
            else:
                target["lsn"] = pg_lsn_int(value, "restore_target_lsn")
                target["value"] = value.upper()
        elif kind == "xid" and not (value.isdigit() and 3 <= int(value) < 2**63):
            problems.append(
                f"restore_target_xid={value!r} is not a transaction ID; expected a decimal "
                "number of 3 or more (pg_current_xact_id())."
            )

    mode = _text(request.get("restore_mode")) or "in-place"
    if mode not in ("in-place", "side"):
        problems.append(f"restore_mode={mode!r}: expected 'in-place' (the default) or 'side'.")
    host = _text(request.get("restore_host"))
    if host and not _HOST.match(host):
        problems.append(f"restore_host={host!r} is not a host name of the inventory.")
    if mode == "side" and not host:
        problems.append(
            "restore_mode=side needs restore_host=NAME: the host of the inventory that "
            "receives the separate cluster."
        )

    timeline_raw = _text(request.get("restore_target_timeline"))
    timeline: int | str | None = None
    if timeline_raw:
        if timeline_raw in ("current", "latest"):
            timeline = timeline_raw
        elif timeline_raw.isdigit() and int(timeline_raw) > 0:
            timeline = int(timeline_raw)
        else:
            problems.append(
                f"restore_target_timeline={timeline_raw!r}: expected a timeline number "
                "(decimal, e.g. 2), 'current' or 'latest'."
            )

    backup_set = _text(request.get("restore_set"))
    if backup_set and not _SET.match(backup_set):
        problems.append(
            f"restore_set={backup_set!r} is not a pgBackRest backup label; expected e.g. "
            "'20261128-041500F' or '20261128-041500F_20261128-061500I' (pgbackrest info)."
        )
    return {
        "ok": not problems,
        "problems": problems,
        "target": target,
        "mode": mode,
        "timeline": timeline,
        "set": backup_set or None,
        "host": host or None,
    }


pg_history_timelines = wrap(lsn.history_ancestry, AnsibleFilterError)


def _backups(info: Any) -> list[dict[str, Any]]:
    if isinstance(info, list):
        if not info:
            return []
        info = info[0]
    if not isinstance(info, Mapping):
        raise AnsibleFilterError(
            "pg_restore_plan: expected the JSON of 'pgbackrest info --output=json'"
        )
    out = []
    for b in info.get("backup") or []:
        archive = b.get("archive") or {}
        lsn = b.get("lsn") or {}
        stamp = b.get("timestamp") or {}
        size = (b.get("info") or {}).get("size") or 0
        if not archive.get("start") or not lsn.get("stop") or not stamp.get("stop"):
            continue
        out.append(
            {
                "label": b.get("label"),
                "type": b.get("type"),
                "start": float(stamp["start"]),
                "stop": float(stamp["stop"]),
                "lsn_start": pg_lsn_int(lsn["start"], "backup lsn"),
                "lsn_stop": pg_lsn_int(lsn["stop"], "backup lsn"),
                "timeline": int(str(archive["start"])[:8], 16),
                "size": int(size),
                "error": bool(b.get("error", False)),
                "repo": int((b.get("database") or {}).get("repo-key") or 1),
            }
        )
    return sorted(out, key=lambda b: (b["stop"], b["lsn_stop"]))


def _newest_repo(candidates: list[dict[str, Any]]) -> dict[str, Any]:
    """The backup a target starts from, among those that can reach it: the latest of the
    newest repository that has one. While a repository cipher rotation is open, repo2 (the
    new passphrase) serves every target after its first backup, repo1 the older ones."""
    repo = max(b["repo"] for b in candidates)
    return [b for b in candidates if b["repo"] == repo][-1]


def _lsn_text(value: int | None) -> str | None:
    return None if value is None else f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def pg_restore_plan(
    info: Any,
    target: Mapping[str, Any],
    timeline: int,
    history: str = "",
    archive_end: Mapping[str, Any] | None = None,
    now: float | None = None,
    live: bool = False,
    backup_set: str | None = None,
    holes: Any = None,
) -> dict[str, Any]:
    """The window a timeline can recover and the backup a target starts from.

    info: 'pgbackrest info --output=json'; target: pg_restore_request's; timeline: the
    timeline to recover along; history: its history file's text ('' for timeline 1);
    archive_end: {'time': epoch, 'lsn': 'X/Y'} of the newest WAL archived on that timeline;
    now: the controller's clock (epoch); live: the primary runs on that timeline and its
    archiver has no failure, so its current WAL can be archived before the restore;
    holes: the runs of segments missing from the archive (postgresql-restore repo), each
    {timeline, first, last, lsn_start, lsn_end, from, to, from_epoch, to_epoch,
    dropped_logged}. A target the chosen backup reaches only across a hole is refused.
    """
    if not isinstance(target, Mapping) or "type" not in target:
        raise AnsibleFilterError("pg_restore_plan: target must be pg_restore_request(...).target")
    timeline = int(timeline)
    ancestry = pg_history_timelines(history or "", timeline)
    ends = {a["timeline"]: a["end"] for a in ancestry}
    problems: list[str] = []
    backups = _backups(info)
    usable = [
        b
        for b in backups
        if not b["error"]
        and b["timeline"] in ends
        and (ends[b["timeline"]] is None or b["lsn_stop"] <= ends[b["timeline"]])
    ]
    off_history = [b["label"] for b in backups if b not in usable and not b["error"]]
    archive_end = archive_end or {}
    end_time = archive_end.get("time")
    end_time = float(end_time) if end_time not in (None, "") else None
    end_lsn = archive_end.get("lsn")
    end_lsn = pg_lsn_int(end_lsn, "archive end") if end_lsn else None
    if live and now is not None:
        end_time = max(end_time or 0.0, float(now) + _CLOCK_SKEW_S)
        end_lsn = None  # the primary's current WAL is archived before the restore
    first = usable[0] if usable else None
    window = {
        "timeline": timeline,
        "first": _iso(first["stop"]) if first else None,
        "first_epoch": first["stop"] if first else None,
        "first_lsn": _lsn_text(first["lsn_stop"]) if first else None,
        "end": _iso(end_time),
        "end_epoch": end_time,
        "end_lsn": _lsn_text(end_lsn),
        "end_is_now": bool(live),
        "repos": {
            str(r): _iso(min(b["stop"] for b in usable if b["repo"] == r))
            for r in sorted({b["repo"] for b in usable})
        },
    }
    path_holes = _holes_on_path(holes, ends, first["lsn_start"] if first else None)
    text = (
        f"the recoverable window on timeline {timeline} is {window['first']} "
        f"({window['first_lsn']}) to {window['end'] or 'the end of the archive'}"
        + ("" if live or not window["end_lsn"] else f" ({window['end_lsn']})")
        + (
            "; " + ", ".join(f"repo{r} from {t}" for r, t in window["repos"].items())
            if len(window["repos"]) > 1
            else ""
        )
        + "".join(
            f"; WAL is missing from the archive between {h['from'] or '?'} and {h['to'] or '?'} "
            f"(timeline {h['timeline']}, LSN {h['lsn_start']} to {h['lsn_end']})"
            for h in path_holes
        )
    )
    chosen = None
    kind = target["type"]
    if not usable:
        problems.append(
            f"No backup in the repository can reach timeline {timeline}"
            + (f" (on another history: {', '.join(off_history)})" if off_history else "")
            + "; a restore needs a full backup first."
        )
    elif kind == "time":
        epoch = float(target["epoch"])
        if now is not None and epoch > float(now) + _CLOCK_SKEW_S:
            problems.append(
                f"restore_target_time {target['value']} is in the future (now {_iso(now)}); {text}."
            )
        elif epoch <= first["stop"]:
            problems.append(
                f"restore_target_time {target['value']} is before the first backup finished; "
                f"{text}."
            )
        elif end_time is not None and epoch > end_time:
            problems.append(
                f"restore_target_time {target['value']} is after the end of the archive; {text}."
            )
        else:
            chosen = _newest_repo([b for b in usable if b["stop"] < epoch])
    elif kind == "lsn":
        lsn = int(target["lsn"])
        if lsn < first["lsn_stop"]:
            problems.append(
                f"restore_target_lsn {target['value']} is before the first backup ended; {text}."
            )
        elif end_lsn is not None and lsn > end_lsn:
            problems.append(
                f"restore_target_lsn {target['value']} is after the end of the archive; {text}."
            )
        else:
            chosen = _newest_repo([b for b in usable if b["lsn_stop"] <= lsn])
    else:
        chosen = _newest_repo(usable)

    if backup_set and not problems:
        named = [b for b in usable if b["label"] == backup_set]
        if not named:
            problems.append(
                f"restore_set={backup_set} is not a backup that can reach timeline {timeline}; "
                f"usable: {', '.join(b['label'] for b in usable)}."
            )
        elif kind == "time" and named[0]["stop"] >= float(target["epoch"]):
            problems.append(f"restore_set={backup_set} finished after the target time.")
        elif kind == "lsn" and named[0]["lsn_stop"] > int(target["lsn"]):
            problems.append(f"restore_set={backup_set} ended after the target LSN.")
        else:
            chosen = named[0]

    warnings: list[str] = []
    if chosen and not problems:
        _cross_holes(path_holes, chosen, target, usable, problems, warnings)
        if problems:
            chosen = None

    estimate = None
    if chosen and not problems:
        replay_to = (
            int(target["lsn"])
            if kind == "lsn"
            else end_lsn
            if end_lsn is not None and kind != "time"
            else None
        )
        replay = max(0, (replay_to or chosen["lsn_stop"]) - chosen["lsn_start"])
        if kind == "time" and end_time:
            # WAL is not time-indexed: take the time since the backup, at the rate WAL
            # was written between the backup's start and the end of the archive.
            span = max(1.0, (end_time - chosen["start"]))
            wal = max(0, (end_lsn or chosen["lsn_stop"]) - chosen["lsn_start"])
            replay = int(wal * min(1.0, (float(target["epoch"]) - chosen["start"]) / span))
        estimate = int(_FIXED_S + chosen["size"] / _RESTORE_BPS + replay / _REPLAY_BPS)
    return {
        "ok": not problems,
        "problems": problems,
        "window": window,
        "window_text": text,
        "backup": (
            {
                "label": chosen["label"],
                "type": chosen["type"],
                "stop": _iso(chosen["stop"]),
                "stop_epoch": chosen["stop"],
                "lsn_start": _lsn_text(chosen["lsn_start"]),
                "lsn_stop": _lsn_text(chosen["lsn_stop"]),
                "timeline": chosen["timeline"],
                "size": chosen["size"],
                "repo": chosen["repo"],
            }
            if chosen
            else None
        ),
        "usable": [b["label"] for b in usable],
        "off_history": off_history,
        "estimate_s": estimate,
        "holes": [{k: v for k, v in h.items() if not k.startswith("_")} for h in path_holes],
        "warnings": warnings,
    }


def _holes_on_path(holes: Any, ends: Mapping[int, int | None], after: int | None) -> list[dict]:
    """The holes a recovery along this history may have to cross: on the timeline or an
    ancestor before its switch point, ending after the first usable backup started."""
    if holes in (None, ""):
        return []
    if not isinstance(holes, list) or not all(isinstance(h, Mapping) for h in holes):
        raise AnsibleFilterError(
            "pg_restore_plan: holes must be the list of holes of 'postgresql-restore repo'"
        )
    out = []
    for h in holes:
        try:
            tl = int(h["timeline"])
            start = pg_lsn_int(h["lsn_start"], "hole lsn_start")
            end = pg_lsn_int(h["lsn_end"], "hole lsn_end")
        except (KeyError, TypeError, ValueError) as err:
            raise AnsibleFilterError(f"pg_restore_plan: a hole lacks {err}: {dict(h)!r}") from None
        if tl not in ends or (ends[tl] is not None and start >= ends[tl]):
            continue
        if after is None or end <= after:
            continue
        out.append(dict(h, _start=start, _end=end))
    return out


def _cross_holes(
    holes: list[dict],
    chosen: Mapping[str, Any],
    target: Mapping[str, Any],
    usable: list[dict],
    problems: list[str],
    warnings: list[str],
) -> None:
    """Refuse a target that the chosen backup reaches only across a hole in the archive;
    for a restore point or a transaction ID, whose place in the WAL is unknown, warn."""
    kind = target["type"]
    for h in holes:
        if h["_end"] <= chosen["lsn_start"]:
            continue  # the backup started after the hole
        later = [b for b in usable if b["lsn_start"] >= h["_end"]]
        hole = (
            f"segments {h.get('first')}..{h.get('last')} on timeline {h['timeline']} "
            f"(LSN {h['lsn_start']} to {h['lsn_end']}, between {h.get('from') or '?'} and "
            f"{h.get('to') or '?'}) are missing from the WAL archive"
            + (
                " (pgBackRest dropped them at archive-push-queue-max)"
                if h.get("dropped_logged")
                else ""
            )
        )
        instead = (
            f"A target after {_iso(later[0]['stop'])} works from {later[0]['label']}, the "
            "first backup taken after the hole."
            if later
            else "No backup was taken after the hole: take a full backup "
            "(pgbackrest-scheduled full), and targets after it will work."
        )
        if kind in ("name", "xid"):
            warnings.append(
                f"restore_target_{kind} {target['value']} cannot be placed in time: if it lies "
                f"after {h.get('from') or h['lsn_start']}, recovery stops at a hole: {hole}. "
                + instead
            )
            continue
        if kind == "time":
            from_epoch = h.get("from_epoch")
            if from_epoch is not None and float(target["epoch"]) <= float(from_epoch):
                continue
            what = f"restore_target_time {target['value']}"
        elif kind == "lsn":
            if int(target["lsn"]) <= h["_start"]:
                continue
            what = f"restore_target_lsn {target['value']}"
        else:
            what = "The end of the archive"
        before = f"before {h['from']}" if h.get("from") else f"before LSN {h['lsn_start']}"
        problems.append(
            f"{what} lies in or after a hole in the WAL archive: {hole}, and the backup it "
            f"would start from, {chosen['label']}, began before the hole (at "
            f"{_lsn_text(chosen['lsn_start'])}), so recovery cannot cross it. A target "
            f"{before} works from that backup. {instead}"
        )
        return


def pg_drill_status(reports: Any, now: float, max_age_days: float = 8.0) -> dict[str, Any]:
    """The status line of the restore drill: the newest of the drill hosts' reports
    (last-drill.json, a dict each; empty ones are skipped). A failed drill, or one older
    than max_age_days, is a problem; a cluster that never had one is only reported."""
    if not isinstance(reports, (list, tuple)):
        raise AnsibleFilterError("pg_drill_status: expected a list of drill reports")
    done = []
    for r in reports:
        if not isinstance(r, Mapping) or not r.get("finished"):
            continue
        try:
            at = datetime.strptime(str(r["finished"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            continue
        done.append((at.timestamp(), r))
    if not done:
        return {"line": "never run (playbooks/restore_drill.yml)", "problem": None, "last": None}
    at, last = max(done, key=lambda d: d[0])
    age_days = max(0.0, (float(now) - at) / 86400)
    result = last.get("result", "failed")
    line = (
        f"{result} {age_days:.1f} days ago ({last.get('finished')}), RTO "
        f"{last.get('rto_seconds', '?')} s, backup {(last.get('backup') or {}).get('label', '?')}"
    )
    problem = None
    if result != "passed":
        problem = (
            f"the last restore drill failed ({last.get('finished')}): "
            + "; ".join(str(p) for p in (last.get("problems") or []))[:300]
        )
    elif age_days > float(max_age_days):
        problem = (
            f"the last restore drill is {age_days:.1f} days old "
            f"(more than {float(max_age_days):g}); run playbooks/restore_drill.yml"
        )
    return {"line": line, "problem": problem, "last": last, "age_days": round(age_days, 2)}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "pg_restore_request": pg_restore_request,
            "pg_restore_plan": pg_restore_plan,
            "pg_history_timelines": pg_history_timelines,
            "pg_drill_status": pg_drill_status,
        }
