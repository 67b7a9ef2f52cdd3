"""The commands of roles/postgresql_restore/files/postgresql-restore (mark, restore, verify,
drop, repo, the schedule and main) and the decisions they make, on a scripted host: psql
answers through pgfleet.session (the real session code, its runner replaced), the other
programs (pgbackrest, pg_createcluster, systemctl, pg_amcheck, pg_dump) answer from a
script, the clock is a counter. The paths a command writes are under tmp_path."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import load_script

from pgfleet import session

TOOL = Path(__file__).resolve().parents[2] / "roles/postgresql_restore/files/postgresql-restore"
T0 = 1_795_800_000.0


@pytest.fixture(scope="module")
def tool():
    return load_script("postgresql_restore_commands", TOOL)


def _csv(rows) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


class Host:
    """What the scripted host answers.

    sql: [(pattern, answer)]: the first pattern found (re.search) in a statement answers
    it; an answer is a value, a list of rows, a callable(sql, db), or ("error", message)
    for a failed statement. Statements nothing matches answer no rows.
    commands: [(program, answer)]: the first whose program is the argv's first word (after
    runuser) or a word of it answers; an answer is (rc, stdout, stderr) or a callable(argv).
    """

    # What a promoted server answers when a test does not say otherwise.
    DEFAULT_SQL = (
        (r"pg_current_xact_id", "901"),
        (r"substr\(pg_walfile_name", "00000003"),
    )

    def __init__(self, monkeypatch, tool):
        self.sql: list = []
        self.commands: list = []
        self.statements: list[tuple[int, str, str]] = []
        self.argvs: list[list[str]] = []
        self.clock = T0
        self.tool = tool
        monkeypatch.setattr(
            tool,
            "db_session",
            lambda port, timeout=tool.SQL_TIMEOUT: session.Session(
                port, timeout=timeout, runner=self._psql
            ),
        )
        monkeypatch.setattr(tool.subprocess, "run", self._run)
        monkeypatch.setattr(tool, "now", lambda: self.clock)
        monkeypatch.setattr(tool.time, "sleep", self._sleep)

    def _sleep(self, seconds):
        self.clock += seconds

    def _psql(self, argv, *, input, env, timeout):
        assert env["PGOPTIONS"].endswith(session.SESSION_OPTIONS)
        port = int(argv[argv.index("-p") + 1])
        db = argv[argv.index("-d") + 1]
        sql = input if input is not None else argv[argv.index("-c") + 1]
        self.statements.append((port, db, sql))
        rules = [*self.sql, *self.DEFAULT_SQL]
        answer = next((a for pattern, a in rules if re.search(pattern, sql)), [])
        if callable(answer):
            answer = answer(sql, db)
        if isinstance(answer, tuple) and answer[0] == "error":
            return subprocess.CompletedProcess(argv, 3, "", f"ERROR:  {answer[1]}\n")
        if isinstance(answer, session.SessionError):
            raise subprocess.TimeoutExpired(argv, timeout)
        rows = answer if isinstance(answer, list) else [[answer]]
        return subprocess.CompletedProcess(argv, 0, _csv(rows), "")

    def _run(self, argv, **kwargs):
        argv = list(argv)
        if argv[:2] == ["runuser", "-u"]:
            argv = argv[4:]
        self.argvs.append(argv)
        answer = next(
            (a for program, a in self.commands if self._is(argv, program)),
            (0, "", ""),
        )
        if callable(answer):
            answer = answer(argv)
        if isinstance(answer, BaseException):
            raise answer
        rc, out, err = answer
        return subprocess.CompletedProcess(argv, rc, out, err)

    @staticmethod
    def _is(argv, program):
        """The program (by name, whatever its directory) or a word of its argv."""
        return os.path.basename(argv[0]) == program or program in argv

    def ran(self, program):
        return [a for a in self.argvs if self._is(a, program)]

    def said(self, pattern):
        return [sql for _, _, sql in self.statements if re.search(pattern, sql)]


@pytest.fixture
def host(tool, monkeypatch):
    return Host(monkeypatch, tool)


def _args(**kwargs):
    base = {
        "port": 5432,
        "stanza": "main",
        "production_name": "main",
        "report": None,
        "timeout": 60.0,
        "counts": False,
        "amcheck": False,
        "dump": False,
        "verify_sql": "",
        "verify_db": "postgres",
        "marker": "",
        "expect_stop": False,
        "reset_recovery": False,
        "name": "drill",
        "process_max": 2,
        "drop": False,
        "pgbackrest_verify": False,
        "restore_port": 5434,
        "type": "none",
        "target": "",
        "timeline": "",
        "set": "",
        "repo": "",
    }
    base.update(kwargs)
    return SimpleNamespace(**base)


COUNTS_QUERY = "SELECT json_object_agg(t, n) FROM (SELECT 'app.orders' AS t, count(*) ...) c"


def _counting(host, counts):
    """Two databases, each with the counts given ({db: {table: n}})."""
    host.sql += [
        (r"FROM pg_database", [[db] for db in counts]),
        (r"string_agg\(format", lambda sql, db: COUNTS_QUERY if counts[db] else ""),
        (r"^SELECT json_object_agg", lambda sql, db: json.dumps(counts[db])),
    ]


# ---------------------------------------------------------------------------------- mark
def test_mark_writes_a_before_the_restore_point_and_b_after_and_waits_for_the_archive(tool, host):
    _counting(host, {"learning": {"app.orders": 12}, "postgres": {}})
    archived = iter(["000000010000000000000004", "", "000000010000000000000005"])
    host.sql += [
        (r"pg_is_in_recovery", "f"),
        (r"pg_create_restore_point\('drill-d1'\)", "0/5000090"),
        (r"pg_switch_wal", "000000010000000000000005"),
        (r"pg_stat_archiver", lambda sql, db: next(archived)),
    ]
    out = tool.cmd_mark(_args(id="d1", archive_timeout=30))
    assert out == {
        "id": "d1",
        "restore_point": "drill-d1",
        "lsn": "0/5000090",
        "segment": "000000010000000000000005",
        "counts": {"learning": {"app.orders": 12}, "postgres": {}},
    }
    order = [
        i
        for i, (_, _, sql) in enumerate(host.statements)
        if re.search(r"^INSERT .*'A'|pg_create_restore_point|^INSERT .*'B'", sql)
    ]
    kinds = [host.statements[i][2] for i in order]
    assert "'A'" in kinds[0] and "restore_point" in kinds[1] and "'B'" in kinds[2]
    assert len(host.said("pg_stat_archiver")) == 3
    # Every schema-qualified: the marker table, created once.
    assert host.said(r"CREATE TABLE IF NOT EXISTS postgresql_drill\.marker")


def test_mark_refuses_a_standby(tool, host):
    host.sql += [(r"pg_is_in_recovery", "t")]
    with pytest.raises(tool.Failure, match="this node is a standby"):
        tool.cmd_mark(_args(id="d1", archive_timeout=30))


@pytest.mark.parametrize("bad", ["", "a b", "x'; DROP", "a" * 41])
def test_mark_refuses_an_id_that_is_not_a_plain_word(tool, host, bad):
    host.sql += [(r"pg_is_in_recovery", "f")]
    with pytest.raises(tool.Failure, match="--id"):
        tool.cmd_mark(_args(id=bad, archive_timeout=30))
    assert not host.said("CREATE SCHEMA")


def test_mark_gives_up_when_the_segment_is_not_archived(tool, host):
    _counting(host, {"postgres": {}})
    host.sql += [
        (r"pg_is_in_recovery", "f"),
        (r"pg_switch_wal", "000000010000000000000007"),
        (r"pg_stat_archiver", "000000010000000000000006"),
    ]
    with pytest.raises(tool.Failure, match=r"000000010000000000000007 .* not archived within 5"):
        tool.cmd_mark(_args(id="d2", archive_timeout=5))


def test_a_failed_statement_is_the_operators_explanation(tool, host):
    host.sql += [(r"pg_is_in_recovery", ("error", "permission denied for function"))]
    with pytest.raises(tool.Failure, match="permission denied for function"):
        tool.cmd_mark(_args(id="d1", archive_timeout=5))


def test_scheduled_mark_skips_a_standby_and_marks_the_primary(tool, host, monkeypatch):
    host.sql += [(r"pg_is_in_recovery", "t")]
    assert tool.cmd_scheduled_mark(_args(archive_timeout=1)) == {"skipped": "not the primary"}
    seen = {}
    monkeypatch.setattr(tool, "cmd_mark", lambda args: seen.setdefault("id", args.id))
    host.sql.insert(0, (r"pg_is_in_recovery", "f"))
    tool.cmd_scheduled_mark(_args(archive_timeout=1))
    assert re.fullmatch(r"weekly-\d{8}", seen["id"])


# ---------------------------------------------------------------------------- clusters
@pytest.fixture
def paths(tool, tmp_path, monkeypatch):
    """Every path of a Debian cluster under tmp_path: /etc, the data directory, logs."""
    etc, data, logs = tmp_path / "etc", tmp_path / "data", tmp_path / "log"
    logs.mkdir()
    monkeypatch.setattr(tool, "cluster_paths", lambda name: (etc / name, data / name))
    monkeypatch.setattr(tool, "pg_log", lambda name: logs / f"{name}.log")
    production = etc / "main"
    (production / "conf.d").mkdir(parents=True)
    (production / "conf.d/90-ansible.conf").write_text("shared_preload_libraries = 'pgaudit'\n")
    (production / "pg_hba.conf").write_text("local all all peer\n")
    (production / "postgresql.conf").write_text("include_dir = 'conf.d'\n")
    return SimpleNamespace(etc=etc, data=data, logs=logs)


def test_drop_never_drops_the_production_cluster(tool, host, paths):
    for name in ("main", "prod"):
        with pytest.raises(tool.Failure, match="production cluster"):
            tool.cmd_drop(_args(name=name, production_name="prod"))
    assert host.argvs == []


def test_drop_removes_a_separate_cluster(tool, host, paths):
    (paths.etc / "drill").mkdir(parents=True)
    (paths.data / "drill").mkdir(parents=True)
    assert tool.cmd_drop(_args(name="drill")) == {"cluster": "17/drill", "dropped": True}
    assert host.ran("pg_dropcluster")[0] == ["pg_dropcluster", "--stop", "17", "drill"]
    assert [a[-1] for a in host.ran("rm")] == [str(paths.etc / "drill"), str(paths.data / "drill")]
    assert tool.cmd_drop(_args(name="gone")) == {"cluster": "17/gone", "dropped": False}


LOG = (
    "2026-12-06 10:00:01 UTC LOG:  starting point-in-time recovery to 2026-12-06 09:59:00+00\n"
    "2026-12-06 10:00:02 UTC LOG:  recovery stopping before commit of transaction 900\n"
    "2026-12-06 10:00:02 UTC LOG:  selected new timeline ID: 3\n"
)

INFO = [
    {
        "name": "main",
        "status": {"code": 0, "message": "ok"},
        "db": [{"id": 1}],
        "archive": [{"id": "17-1", "database": {"id": 1}}],
        "backup": [
            {
                "label": "20261206-090000F",
                "type": "full",
                "timestamp": {"start": T0 - 4000, "stop": T0 - 3600},
                "lsn": {"start": "0/3000028", "stop": "0/3000100"},
                "archive": {"start": "000000010000000000000003"},
                "database": {"id": 1},
            }
        ],
    }
]


def _restore_host(host, paths, *, restore_rc=0, log=LOG, counts=None, markers=None):
    counts = counts if counts is not None else {"learning": {"app.orders": 12}}

    def createcluster(argv):
        (paths.etc / "drill").mkdir(parents=True)
        (paths.data / "drill").mkdir(parents=True)
        return (0, "", "")

    def start(argv):
        (paths.logs / "drill.log").write_text(log)
        return (0, "", "")

    host.commands += [
        ("pg_createcluster", createcluster),
        ("restore", (restore_rc, "", "ERROR: [075]: no backup set found to restore")),
        ("info", (0, json.dumps(INFO), "")),
        ("verify", (0, "ok", "")),
        ("start", start),
        ("-C", (0, "'pgaudit'\n", "")),
    ]
    _counting(host, counts)
    host.sql += [
        (r"pg_is_in_recovery", "f"),
        (r"pg_current_xact_id", "901"),
        (r"substr\(pg_walfile_name", "00000003"),
        (r"^SELECT pg_current_wal_lsn\(\)$", "0/4000000"),
        (r"json_object_agg\(kind, counts\)", json.dumps(markers if markers is not None else {})),
    ]


def test_restore_beside_production_reports_the_rto_the_backup_and_the_bytes_replayed(
    tool, host, paths
):
    _restore_host(host, paths, markers={"A": {"learning": {"app.orders": 12}}})
    report = tool.cmd_restore(
        _args(
            type="name",
            target="drill-d1",
            timeline="current",
            set="",
            counts=True,
            marker="d1",
            expect_stop=True,
            pgbackrest_verify=True,
        )
    )
    assert report["result"] == "passed", report["problems"]
    assert report["cluster"] == "17/drill" and report["port"] == 5434
    assert report["backup"]["label"] == "20261206-090000F"
    assert report["backup"]["age_seconds"] == 3600
    assert report["bytes_replayed"] == 0x4000000 - 0x3000028
    assert report["timeline"] == 3
    assert report["recovery"]["stopping"].startswith("recovery stopping before commit")
    assert report["markers"] == {"A": True, "B": False} and report["count_mismatches"] == {}
    assert report["rows_total"] == 12 and report["pgbackrest_verify"]["rc"] == 0
    assert report["baseline"] == ["conf.d/90-ansible.conf", "pg_hba.conf"]
    (restore,) = [a for a in host.ran("pgbackrest") if a[-1] == "restore"]
    # Never archives into the repository; recovers to the target and promotes there.
    assert "--archive-mode=off" in restore
    assert {"--type=name", "--target=drill-d1", "--target-action=promote"} <= set(restore)
    assert "--target-timeline=current" in restore
    auto = (paths.data / "drill/postgresql.auto.conf").read_text()
    assert "port = 5434" in auto and "archive_mode = off" in auto
    assert "shared_preload_libraries = 'pgaudit'" in auto
    # A verified cluster is kept for inspection unless --drop.
    assert not host.ran("pg_dropcluster")


def test_a_restore_from_one_repository_of_two_restores_and_verifies_that_one(tool, host, paths):
    _restore_host(host, paths)
    two = [dict(INFO[0])]
    two[0]["backup"] = [
        INFO[0]["backup"][0],
        {**INFO[0]["backup"][0], "label": "20261206-093000F", "database": {"id": 1, "repo-key": 2}},
    ]
    host.commands.insert(0, ("info", (0, json.dumps(two), "")))
    report = tool.cmd_restore(_args(repo="2", pgbackrest_verify=True))
    assert report["result"] == "passed", report["problems"]
    assert report["repo"] == 2 and report["backup"]["repo"] == 2
    assert report["backup"]["label"] == "20261206-093000F"
    (restore,) = [a for a in host.ran("pgbackrest") if a[-1] == "restore"]
    (verify,) = [a for a in host.ran("pgbackrest") if a[-1] == "verify"]
    assert "--repo=2" in restore and "--repo=2" in verify


def test_a_failed_restore_drops_the_half_restored_cluster(tool, host, paths):
    _restore_host(host, paths, restore_rc=1)
    report = tool.cmd_restore(_args())
    assert report["result"] == "failed"
    assert "no backup set found" in report["problems"][0]
    assert report["dropped"] is True and host.ran("pg_dropcluster")


def test_restore_refuses_the_production_name_and_an_existing_cluster(tool, host, paths):
    with pytest.raises(tool.Failure, match="is the production cluster"):
        tool.cmd_restore(_args(name="main"))
    (paths.etc / "drill").mkdir(parents=True)
    with pytest.raises(tool.Failure, match="exists already; drop it first"):
        tool.cmd_restore(_args(name="drill"))
    assert host.argvs == []


def test_a_drill_that_went_past_the_restore_point_fails(tool, host, paths):
    """Marker B present, marker A's counts differ from the restored rows."""
    _restore_host(
        host,
        paths,
        markers={"A": {"learning": {"app.orders": 11}}, "B": None},
    )
    report = tool.cmd_restore(
        _args(type="name", target="drill-d1", counts=True, marker="d1", drop=True)
    )
    assert report["result"] == "failed"
    assert any("marker B of drill d1 is present" in p for p in report["problems"])
    assert report["count_mismatches"] == {"learning:app.orders": {"marker": 11, "restored": 12}}
    assert report["dropped"] is True


def test_a_drill_that_stopped_too_early_fails(tool, host, paths):
    _restore_host(host, paths, markers={})
    report = tool.cmd_restore(_args(marker="d1"))
    assert any("marker A of drill d1 is missing" in p for p in report["problems"])


def test_no_stop_line_means_the_target_was_not_reached(tool, host, paths):
    _restore_host(host, paths, log="LOG:  archive recovery complete\n")
    report = tool.cmd_restore(_args(type="time", target="2026-12-06 09:59:00", expect_stop=True))
    assert any("no 'recovery stopping' line" in p for p in report["problems"])


def test_a_failed_pgbackrest_verify_fails_the_drill(tool, host, paths):
    _restore_host(host, paths)
    host.commands.insert(0, ("verify", (1, "", "ERROR: [028]: checksum mismatch")))
    report = tool.cmd_restore(_args(pgbackrest_verify=True))
    assert report["result"] == "failed"
    assert any("pgbackrest verify failed" in p for p in report["problems"])


def test_scheduled_drill_restores_to_this_weeks_point_with_every_check(tool, host, monkeypatch):
    seen = {}
    monkeypatch.setattr(tool, "cluster_exists", lambda name: True)
    monkeypatch.setattr(tool, "cmd_drop", lambda args: seen.setdefault("dropped", args.name))
    monkeypatch.setattr(tool, "cmd_restore", lambda args: vars(args))
    out = tool.cmd_scheduled_drill(_args(delay=900))
    assert (out["type"], out["marker"]) == ("name", out["target"][len("drill-") :])
    assert all(out[k] for k in ("drop", "counts", "amcheck", "dump", "expect_stop"))
    assert seen["dropped"] == "drill" and host.clock == T0 + 900


# ----------------------------------------------------------------------------- verify
def test_verify_in_place_resets_the_recovery_settings_and_runs_every_check(tool, host, tmp_path):
    log = tmp_path / "main.log"
    log.write_text("old lines\n" + LOG)
    host.sql += [
        (r"pg_is_in_recovery", "f"),
        (r"substr\(pg_walfile_name", "00000003"),
        (r"FROM pg_database", [["learning"], ["postgres"]]),
        (r"READ ONLY", "t"),
    ]
    host.commands += [("pg_dump", (0, "", ""))]
    args = _args(
        service="postgresql@17-main",
        data=str(tmp_path),
        log=str(log),
        log_offset=len("old lines\n"),
        t0=T0 - 30,
        reset_recovery=True,
        verify_sql="SELECT count(*) > 0 FROM app.orders",
        amcheck=True,
        dump=True,
    )
    report = tool.cmd_verify(args)
    assert report["result"] == "passed", report["problems"]
    assert report["seconds_to_first_write"] == 30
    assert report["verify_sql"]["result"] == "t"
    resets = host.said(r"^ALTER SYSTEM RESET")
    assert "ALTER SYSTEM RESET restore_command" in resets and len(resets) == 9
    assert host.said(r"pg_reload_conf")
    # The operator's query ran read-only as pg_read_all_data, on stdin.
    (script,) = host.said("READ ONLY")
    assert script.startswith("BEGIN TRANSACTION READ ONLY;\nSET LOCAL ROLE pg_read_all_data;")
    assert [a[-1] for a in host.ran("pg_dump")] == ["learning", "postgres"]
    assert "--heapallindexed" in host.ran("--heapallindexed")[0]


@pytest.mark.parametrize(
    "answer, problem",
    [
        ("f", "restore_verify_sql returned 'f'"),
        ([], "restore_verify_sql returned ''"),
        (("error", 'relation "app.orders" does not exist'), "restore_verify_sql failed"),
    ],
)
def test_a_check_query_that_is_not_true_fails_the_restore(tool, host, tmp_path, answer, problem):
    host.sql += [(r"pg_is_in_recovery", "f"), (r"READ ONLY", answer)]
    args = _args(
        service="s", data=str(tmp_path), log=str(tmp_path / "none.log"), log_offset=0, t0=0,
        verify_sql="SELECT count(*) > 0 FROM app.orders",
    )  # fmt: skip
    report = tool.cmd_verify(args)
    assert report["result"] == "failed"
    assert any(problem in p for p in report["problems"])


def test_amcheck_and_dump_failures_are_problems(tool, host, tmp_path):
    host.sql += [(r"pg_is_in_recovery", "f"), (r"FROM pg_database", [["learning"]])]
    host.commands += [
        ("pg_dump", (1, "", "pg_dump: error: invalid page in block 7")),
        ("--heapallindexed", (2, 'heap table "app.orders": invalid tuple', "")),
    ]
    args = _args(
        service="s", data=str(tmp_path), log=str(tmp_path / "none.log"), log_offset=0, t0=0,
        amcheck=True, dump=True,
    )  # fmt: skip
    report = tool.cmd_verify(args)
    assert report["amcheck"]["rc"] == 2
    assert any("pg_amcheck found problems (exit 2)" in p for p in report["problems"])
    assert any("pg_dump -Fc of learning failed" in p for p in report["problems"])


def test_a_server_that_stops_during_recovery_fails_with_its_log(tool, host, tmp_path):
    log = tmp_path / "main.log"
    log.write_text("FATAL:  requested timeline 9 is not a child of this server's history\n")
    host.sql += [(r"pg_is_in_recovery", "t")]
    host.commands += [("is-active", (3, "", ""))]
    args = _args(service="s", data=str(tmp_path), log=str(log), log_offset=0, t0=0)
    report = tool.cmd_verify(args)
    assert report["result"] == "failed"
    assert "stopped during recovery" in report["problems"][0]
    assert "requested timeline 9" in report["problems"][0]


def test_a_server_that_does_not_promote_in_time_fails(tool, host, tmp_path):
    host.sql += [(r"pg_is_in_recovery", session.SessionError("slow"))]
    args = _args(
        service="s", data=str(tmp_path), log=str(tmp_path / "x.log"), log_offset=0, t0=0,
        timeout=2,
    )  # fmt: skip
    report = tool.cmd_verify(args)
    assert "did not promote within 2 s" in report["problems"][0]


def test_a_time_target_after_the_end_of_the_archive_recovers_to_the_end(tool, host, tmp_path):
    """PostgreSQL stops with "recovery ended before configured recovery target was
    reached": the target settings are set aside and recovery runs to the end."""
    log = tmp_path / "main.log"
    log.write_text("FATAL:  recovery ended before configured recovery target was reached\n")
    (tmp_path / "postgresql.auto.conf").write_text(
        "restore_command = 'pgbackrest archive-get %f \"%p\"'\n"
        "recovery_target_time = '2026-12-06 12:00:00+00'\n"
    )
    states = iter(["t", "f"])
    host.sql += [(r"pg_is_in_recovery", lambda sql, db: next(states))]
    host.commands += [("is-active", (3, "", ""))]
    args = _args(
        service="s", data=str(tmp_path), log=str(log), log_offset=0, t0=0, expect_stop=True
    )
    report = tool.cmd_verify(args)
    assert report["result"] == "passed", report["problems"]
    assert "recovered to its end" in report["target_after_archive_end"]
    auto = (tmp_path / "postgresql.auto.conf").read_text().splitlines()
    assert auto[0].startswith("restore_command")
    assert auto[1].startswith("# (removed by postgresql-restore) recovery_target_time")
    assert ["systemctl", "start", "s"] in host.argvs


# ------------------------------------------------------------------------------- repo
SHA = "3f786850e387550fdab836ed7e6dc881de23001b"


def _repo_host(host, listing, histories=None, info=None, log=""):
    host.commands += [
        ("info", (0, json.dumps(info or INFO), "")),
        ("repo-ls", (0, json.dumps(listing), "")),
        (
            "repo-get",
            lambda argv: (0, (histories or {}).get(argv[-1].rsplit("/", 1)[-1], ""), ""),
        ),
    ]


def _seg(tl, no, t):
    return {f"{tl:08X}00000000/{tl:08X}00000000{no:08X}-{SHA}.zst": {"type": "file", "time": t}}


def test_repo_reports_timelines_the_end_of_the_archive_and_its_holes(tool, host, monkeypatch):
    listing = {
        ".": {"type": "path"},
        "00000002.history": {"type": "file", "time": T0 + 400},
        **_seg(1, 3, T0 + 180),
        **_seg(1, 4, T0 + 240),
        **_seg(1, 6, T0 + 360),
        **_seg(2, 7, T0 + 420),
        **_seg(2, 8, T0 + 480),
    }
    _repo_host(host, listing, {"00000002.history": "1\t0/7000000\tbefore 2026-12-06\n"})
    monkeypatch.setattr(tool, "PGBACKREST_LOG_DIR", "/nonexistent")
    out = tool.cmd_repo(_args(timeline="", current=""))
    assert out["archive_id"] == "17-1" and out["latest"] == 2 and out["timeline"] == 2
    assert out["timelines"] == {"2": T0 + 400}
    assert out["history"] == "1\t0/7000000\tbefore 2026-12-06\n"
    assert out["archive_end"] == {
        "segment": "000000020000000000000008",
        "time": T0 + 480,
        "lsn": "0/9000000",
    }
    assert out["ends"]["1"]["segment"] == "000000010000000000000006"
    assert [(h["timeline"], h["first"], h["segments"]) for h in out["holes"]] == [
        (1, "000000010000000000000005", 1)
    ]
    assert out["history_files"] == ["00000002.history"]


def test_repo_refuses_a_timeline_it_has_no_history_for(tool, host):
    _repo_host(host, {".": {"type": "path"}, **_seg(1, 3, T0)})
    with pytest.raises(tool.Failure, match="no history file for timeline 4"):
        tool.cmd_repo(_args(timeline="4", current=""))


def test_repo_takes_the_live_primarys_timeline_for_current(tool, host):
    _repo_host(host, {".": {"type": "path"}, **_seg(1, 3, T0)})
    out = tool.cmd_repo(_args(timeline="current", current="1"))
    assert out["timeline"] == 1 and out["history"] == ""


def test_a_stanza_without_an_archive_is_refused(tool, host):
    info = [{**INFO[0], "archive": []}]
    _repo_host(host, {}, info=info)
    with pytest.raises(tool.Failure, match="has no WAL archive yet"):
        tool.cmd_repo(_args(timeline="", current=""))


@pytest.mark.parametrize(
    "answer, message",
    [
        ((0, json.dumps([{"status": {"code": 103, "message": "missing stanza"}}]), ""),
         "does not answer as expected: missing stanza"),
        ((52, "", "ERROR: [052]: access denied"), "pgbackrest info failed"),
        (subprocess.TimeoutExpired(["pgbackrest"], 20), "did not answer within 20 s"),
    ],
)  # fmt: skip
def test_a_repository_that_does_not_answer_is_a_failure(tool, host, answer, message):
    host.commands += [("info", answer)]
    with pytest.raises(tool.Failure, match=message):
        tool.pgbackrest_info("main")


def test_a_failed_listing_is_a_failure(tool, host):
    host.commands += [("repo-ls", (1, "", "ERROR: [039]: HTTP 403"))]
    with pytest.raises(tool.Failure, match="repo-ls archive/main failed: ERROR"):
        tool.repo_ls("main", "archive/main")


def test_the_async_push_log_is_read_with_its_rotation(tool, tmp_path, monkeypatch):
    monkeypatch.setattr(tool, "PGBACKREST_LOG_DIR", str(tmp_path))
    (tmp_path / "main-archive-push-async.log.1").write_text("older\n")
    (tmp_path / "main-archive-push-async.log").write_text("newer\n")
    assert tool.async_push_log("main") == "older\nnewer\n"
    assert tool.async_push_log("other") == ""


def test_production_setting_asks_postgres_about_the_production_configuration(tool, host, paths):
    host.commands += [("-C", (0, "'pg_stat_statements,pgaudit'\n", ""))]
    assert tool.production_setting("main", "shared_preload_libraries") == (
        "pg_stat_statements,pgaudit"
    )
    assert host.argvs[0][1:] == ["-D", str(paths.etc / "main"), "-C", "shared_preload_libraries"]
    # No production cluster on this host: nothing to take over.
    assert tool.production_setting("other", "shared_preload_libraries") == ""


# ------------------------------------------------------------------------------- main
def _main(tool, monkeypatch, capsys, *argv):
    monkeypatch.setattr(sys, "argv", ["postgresql-restore", *argv])
    rc = tool.main()
    return rc, json.loads(capsys.readouterr().out)


def test_main_prints_the_report_and_writes_it_for_root_only(tool, host, monkeypatch, capsys,
                                                            tmp_path, paths):  # fmt: skip
    report = tmp_path / "reports/drop.json"
    rc, out = _main(tool, monkeypatch, capsys, "--report", str(report), "drop", "--name", "x")
    assert rc == 0 and out == {"cluster": "17/x", "dropped": False}
    assert json.loads(report.read_text()) == out
    assert os.stat(report).st_mode & 0o777 == 0o600


def test_main_exits_1_with_the_problem(tool, host, monkeypatch, capsys, paths):
    rc, out = _main(tool, monkeypatch, capsys, "drop", "--name", "main")
    assert rc == 1 and out["result"] == "failed"
    assert "never dropped" in out["problems"][0]


def test_main_reports_an_unexpected_error_too(tool, host, monkeypatch, capsys):
    def boom(args):
        raise KeyError("archive")

    monkeypatch.setattr(tool, "cmd_repo", boom)
    rc, out = _main(tool, monkeypatch, capsys, "repo")
    assert rc == 1 and out["problems"] == ["KeyError: 'archive'"]


def test_progress_goes_to_stderr_off_a_terminal(tool, capsys):
    tool.log("restoring")
    assert "postgresql-restore: restoring" in capsys.readouterr().err


# ------------------------------------------------------------------------------- walcheck
def _primary(host, timeline="00000001", last_archived="000000010000000000000006"):
    host.sql += [(r"pg_is_in_recovery", [["f", timeline, last_archived]])]


_HOLE_LISTING = {
    ".": {"type": "path"},
    **_seg(1, 3, T0 + 180),
    **_seg(1, 4, T0 + 240),
    **_seg(1, 6, T0 + 360),
}


def test_walcheck_on_the_primary_finds_an_open_hole(tool, host, monkeypatch):
    # segment 5 is missing, and the only backup started before it: no restore crosses it
    _primary(host)
    _repo_host(host, _HOLE_LISTING)
    monkeypatch.setattr(tool, "PGBACKREST_LOG_DIR", "/nonexistent")
    out = tool.cmd_walcheck(_args())
    assert out["primary"] is True and out["timeline"] == 1 and out["at"] == T0
    assert (out["open"], out["closed"]) == (1, 0)
    assert "000000010000000000000005" in out["problems"][0]


def test_walcheck_a_hole_a_later_backup_started_after_is_closed(tool, host, monkeypatch):
    later = json.loads(json.dumps(INFO))
    later[0]["backup"].append(
        {
            "label": "20261206-110000F",
            "type": "full",
            "timestamp": {"start": T0 + 370, "stop": T0 + 400},
            "lsn": {"start": "0/6000028", "stop": "0/6000100"},
            "archive": {"start": "000000010000000000000006"},
            "database": {"id": 1},
        }
    )
    _primary(host)
    _repo_host(host, _HOLE_LISTING, info=later)
    monkeypatch.setattr(tool, "PGBACKREST_LOG_DIR", "/nonexistent")
    out = tool.cmd_walcheck(_args())
    assert (out["open"], out["closed"]) == (0, 1)
    assert "20261206-110000F" in out["warnings"][0]


def test_walcheck_sees_wal_postgresql_counts_archived_past_the_repositorys_end(
    tool, host, monkeypatch
):
    # no hole in the listing, but PostgreSQL says segment 9 was archived: 7-9 were dropped
    _primary(host, last_archived="000000010000000000000009")
    _repo_host(host, {".": {"type": "path"}, **_seg(1, 3, T0), **_seg(1, 4, T0 + 60)})
    monkeypatch.setattr(tool, "PGBACKREST_LOG_DIR", "/nonexistent")
    out = tool.cmd_walcheck(_args())
    assert out["open"] == 1 and "counts WAL up to 000000010000000000000009" in out["problems"][0]


def test_walcheck_on_a_replica_reads_no_repository(tool, host):
    host.sql += [(r"pg_is_in_recovery", [["t", "", "000000010000000000000006"]])]
    out = tool.cmd_walcheck(_args())
    assert out == {"result": "passed", "primary": False, "at": T0}
    assert host.argvs == []


def test_walcheck_fails_when_the_repository_does_not_answer(tool, host):
    _primary(host)
    host.commands += [("info", (28, "", "ERROR: [028]: unable to connect"))]
    with pytest.raises(tool.Failure):
        tool.cmd_walcheck(_args())
