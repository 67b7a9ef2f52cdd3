"""pgfleet.diagnose, the read-only diagnosis of playbooks/diagnose.yml: the refusal of a bad
`diagnose`, psql's CSV rows read into dicts, the blocking tree (chains, two roots, a cycle,
a blocker that vanished, a prepared transaction), the report lines of each WHAT, and, on a
real PostgreSQL started here (skipped without initdb or root), every query running in a
read-only transaction and a real lock wait named by its root blocker."""

from __future__ import annotations

import ast
import subprocess
import time
from pathlib import Path

import pytest
import test_session
import yaml
from conftest import load_module

from pgfleet import diagnose, session
from pgfleet.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
# The throwaway PostgreSQL of test_session (the same fixture, one server for this module).
server = test_session.server

QUERY = "BEGIN; LOCK TABLE app.diag_probe IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60);"


# ------------------------------------------------------------------ the request
@pytest.mark.parametrize("value", ["locks", "connections", "space", "replication", "queries"])
def test_an_allowed_value_is_not_refused(value):
    assert diagnose.refusal(value) == ""


@pytest.mark.parametrize(
    "value",
    [None, "", "lock", "LOCKS", " locks", "locks,space", "all", 3, ["locks"], {"locks": 1}],
)
def test_a_bad_value_is_refused_naming_diagnose_and_the_allowed_values(value):
    message = diagnose.refusal(value)
    assert message.startswith("diagnose")
    for allowed in diagnose.WHATS:
        assert allowed in message
    assert "playbooks/diagnose.yml -e diagnose=" in message


def test_collect_refuses_a_bad_value_before_any_query():
    sent = []
    with pytest.raises(InputError, match="diagnose: 'lock' is not one of"):
        diagnose.collect("lock", sent.append)
    assert sent == []


def test_the_allowed_values_are_the_modules_and_the_roles_choices():
    tree = ast.parse((ROOT / "library/pg_diagnose.py").read_text())
    spec = next(
        ast.literal_eval(k.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "AnsibleModule"
        for k in node.keywords
        if k.arg == "argument_spec"
    )
    assert tuple(spec["what"]["choices"]) == diagnose.WHATS
    specs = yaml.safe_load((ROOT / "roles/postgresql_diagnose/meta/argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert tuple(options["postgresql_diagnose_what"]["choices"]) == diagnose.WHATS


def test_the_playbook_refuses_in_its_first_task_before_any_host_is_touched():
    plays = yaml.safe_load((ROOT / "playbooks/diagnose.yml").read_text())
    first = plays[0]["tasks"][0]
    assert "ansible.builtin.assert" in first
    assert "pg_diagnose_refusal" in str(first["vars"])
    assert first["delegate_to"] == "localhost" and first["run_once"] is True
    assert not plays[0].get("roles") and not plays[0].get("pre_tasks")


# ------------------------------------------------------------------ CSV rows
def test_csv_rows_become_dicts_with_types():
    query = diagnose.Query(
        "demo",
        (("pid", "int"), ("blockers", "pids"), ("age_s", "float"), ("ok", "bool"), ("q", "text")),
        "SELECT 1",
    )
    text = '42,"{7,9}",1.5,t,"SELECT 1, 2\nFROM x"\n43,{},,f,\n'
    assert diagnose.parse_rows(text, query) == [
        {"pid": 42, "blockers": [7, 9], "age_s": 1.5, "ok": True, "q": "SELECT 1, 2\nFROM x"},
        {"pid": 43, "blockers": [], "age_s": None, "ok": False, "q": ""},
    ]
    # Rows as Session.rows returns them read the same.
    assert diagnose.parse_rows(session.parse_csv(text), query)[0]["blockers"] == [7, 9]


def test_a_row_of_the_wrong_width_names_the_query():
    query = diagnose.Query("demo", (("a", "int"), ("b", "text")), "SELECT 1")
    with pytest.raises(InputError, match=r"demo: a row of 3 columns, expected 2 \(a, b\)"):
        diagnose.parse_rows("1,x,y\n", query)


def test_a_value_of_the_wrong_kind_names_the_query_and_column():
    query = diagnose.Query("demo", (("a", "int"),), "SELECT 1")
    with pytest.raises(InputError, match=r"demo\.a: 'x' is not a whole number"):
        diagnose.parse_rows("x\n", query)


def test_every_query_is_read_only_and_names_only_pg_catalog_objects():
    for query in diagnose.QUERIES:
        text = diagnose.read_only(query.sql)
        # Only the session's name is set outside the READ ONLY transaction.
        assert text.startswith("SET application_name = 'pgfleet-diagnose';\nBEGIN READ ONLY;\n")
        assert text.endswith(";\nCOMMIT;\n")
        assert query.columns, query.name
        assert "public." not in query.sql, query.name
    assert "default_transaction_read_only=on" in diagnose.SESSION_OPTIONS
    assert "lock_timeout=" in diagnose.SESSION_OPTIONS
    assert "pg_stat_statements.track=none" in diagnose.SESSION_OPTIONS
    # pg_stat_statements is read in the schema its extension lives in, quoted.
    assert '"my schema".pg_stat_statements' in diagnose.statements_query("my schema", "total").sql


def test_query_texts_are_cut_and_passwords_masked():
    long = "SELECT " + "x, " * 200
    assert len(diagnose.short_query(long)) == diagnose.QUERY_CHARS
    assert diagnose.short_query("ALTER ROLE app PASSWORD 'hunter2' VALID UNTIL 'x'") == (
        "ALTER ROLE app PASSWORD '***' VALID UNTIL 'x'"
    )
    assert diagnose.one_line("SELECT 1,\n   2") == "SELECT 1, 2"


# ------------------------------------------------------------------ the blocking tree
def _s(pid, blockers=(), **kw):
    row = {
        "pid": pid,
        "blockers": list(blockers),
        "present": True,
        "role": "app",
        "application": "web",
        "client": "10.0.0.5",
        "backend_type": "client backend",
        "state": "active",
        "xact_age_s": 10.0,
        "wait_event": "Lock:relation" if blockers else "",
        "wants_mode": "AccessShareLock" if blockers else "",
        "wants_target": "relation app.t" if blockers else "",
        "holds": "",
        "query": f"query of {pid}",
    }
    row.update(kw)
    return row


def _pids(nodes):
    return [n["pid"] for n in nodes]


def test_a_chain_has_one_root_and_nests_to_the_end():
    sessions = [_s(30, [20]), _s(20, [10]), _s(10, holds="AccessExclusiveLock on relation app.t")]
    tree = diagnose.blocking_tree(sessions)
    assert _pids(tree["roots"]) == [10]
    (root,) = tree["roots"]
    assert root["blocked_total"] == 2
    assert _pids(root["blocks"]) == [20]
    assert _pids(root["blocks"][0]["blocks"]) == [30]
    assert tree["waiting"] == 2


def test_two_roots_the_one_blocking_more_first():
    sessions = [_s(11, [1]), _s(2), _s(21, [2]), _s(22, [2]), _s(1), _s(23, [22])]
    tree = diagnose.blocking_tree(sessions)
    assert _pids(tree["roots"]) == [2, 1]
    assert [r["blocked_total"] for r in tree["roots"]] == [3, 1]
    lines = diagnose.lock_lines(tree)
    assert lines[0] == "4 sessions wait for a lock, behind 2 root blockers"
    roots = [line for line in lines if line.startswith("root blocker")]
    assert roots[0].startswith("root blocker pid 2 (app, web, 10.0 s): query of 2")
    assert roots[1].startswith("root blocker pid 1 (")


def test_a_waiter_behind_two_blockers_is_expanded_once():
    sessions = [_s(1), _s(2), _s(3, [1, 2]), _s(4, [3])]
    tree = diagnose.blocking_tree(sessions)
    assert _pids(tree["roots"]) == [1, 2]
    first, second = tree["roots"]
    assert _pids(first["blocks"][0]["blocks"]) == [4]
    assert second["blocks"][0]["pid"] == 3 and second["blocks"][0].get("repeated")
    assert "blocks" not in second["blocks"][0] or not second["blocks"][0]["blocks"]


def test_a_cycle_ends_and_is_named():
    # A deadlock seen before the server breaks it: nobody is a root.
    sessions = [_s(5, [6]), _s(6, [5]), _s(7, [6])]
    tree = diagnose.blocking_tree(sessions)
    assert _pids(tree["roots"]) == [5]
    assert tree["roots"][0]["cycle"] is True
    lines = diagnose.lock_lines(tree)
    assert any("deadlock" in line for line in lines)
    text = "\n".join(lines)
    assert "pid 6" in text and "pid 7" in text
    assert len(lines) < 12  # it ended


def test_a_blocker_that_vanished_is_a_root_that_says_so():
    # pid 99 ended between pg_blocking_pids() and the read of pg_stat_activity (no row at
    # all); pid 98 has a row without a session (present false).
    sessions = [_s(40, [99]), _s(41, [98]), _s(98, present=False, role="", query="")]
    tree = diagnose.blocking_tree(sessions)
    assert sorted(_pids(tree["roots"])) == [98, 99]
    assert all(root["gone"] for root in tree["roots"])
    lines = diagnose.lock_lines(tree)
    assert "root blocker pid 99 (gone: it ended while this was read" in "\n".join(lines)


def test_a_prepared_transaction_blocks_as_pid_0():
    tree = diagnose.blocking_tree([_s(50, [0])])
    assert _pids(tree["roots"]) == [0]
    assert "prepared transaction" in diagnose.lock_lines(tree)[1]


def test_no_waiter_no_tree():
    tree = diagnose.blocking_tree([])
    assert tree == {"roots": [], "waiting": 0}
    assert diagnose.lock_lines(tree) == ["no session waits for a lock"]


def test_the_lock_lines_name_the_root_first_then_each_waiter_indented():
    sessions = [
        _s(
            100,
            role="postgres",
            application="psql",
            xact_age_s=12.5,
            state="active",
            wait_event="Timeout:PgSleep",
            holds="AccessExclusiveLock on relation app.diag_probe",
            query=QUERY,
            client="local",
        ),
        _s(101, [100], role="postgres", application="psql", xact_age_s=3.0, query="SELECT 1"),
    ]
    lines = diagnose.lock_lines(diagnose.blocking_tree(sessions))
    assert lines == [
        "1 session waits for a lock, behind 1 root blocker",
        f"root blocker pid 100 (postgres, psql, 12.5 s): {QUERY}",
        "    active, Timeout:PgSleep, client local; holds AccessExclusiveLock on relation "
        "app.diag_probe",
        "  <- pid 101 (postgres, psql, 3.0 s) waits for AccessShareLock on relation app.t "
        "(Lock:relation, client 10.0.0.5): SELECT 1",
    ]


# ------------------------------------------------------------------ collect (a fake server)
class FakeServer:
    """Answers each query by its name with rows of text, as psql --csv -t would."""

    def __init__(self, answers, fail=None):
        self.answers = answers
        self.fail = fail or {}
        self.sent = []

    def __call__(self, sql):
        self.sent.append(sql)
        statements = (diagnose.statements_query("public", o) for o in ("total", "mean"))
        for query in (*diagnose.QUERIES, *statements):
            if diagnose.read_only(query.sql) == sql:
                name = query.name
                break
        else:
            raise AssertionError(f"unknown SQL: {sql[:80]}")
        if name in self.fail:
            raise session.SessionError(self.fail[name], 3, self.fail[name])
        return self.answers.get(name, [])


SERVER_ROW = [["f", "17.7", "learning", "2026-12-07 06:00:00+00"]]


def test_collect_locks_reads_every_query_in_a_read_only_transaction():
    fake = FakeServer(
        {
            "server": SERVER_ROW,
            "locks": [
                ["10", "{}", "t", "postgres", "psql", "local", "client backend", "active",
                 "12.5", "Timeout:PgSleep", "", "", "AccessExclusiveLock on relation app.t",
                 QUERY],
                ["11", "{10}", "t", "app", "web", "10.0.0.5", "client backend", "active", "2.0",
                 "Lock:relation", "AccessShareLock", "relation app.t", "",
                 "ALTER ROLE app PASSWORD 'hunter2'"],
            ],
        }
    )  # fmt: skip
    out = diagnose.collect("locks", fake)
    sessions = out["sections"]["locks"]["sessions"]
    assert sessions[1]["query"] == "ALTER ROLE app PASSWORD '***'"  # masked on the host
    assert all("\nBEGIN READ ONLY;\n" in sql for sql in fake.sent)
    assert out["in_recovery"] is False
    assert _pids(out["sections"]["locks"]["tree"]["roots"]) == [10]


def test_space_falls_back_to_estimates_when_a_relation_is_locked():
    fake = FakeServer(
        {
            "server": SERVER_ROW,
            "relations_estimated": [["app", "t", "r", "16384", "8192", "8192", "0"]],
            "databases": [["learning", "9000000"], ["postgres", "7000000"]],
            "wal": [["5", "83886080", "2", "10", "30.5", "on", "0", "", "00000001000000000004"]],
        },
        fail={"relations": "ERROR:  canceling statement due to lock timeout"},
    )  # fmt: skip
    out = diagnose.collect("space", fake)["sections"]["space"]
    assert out["relations_estimated"] is True
    assert out["relations"][0]["total"] == 16384
    assert out["wal"]["ready"] == 2


def test_space_fails_on_any_other_error():
    fake = FakeServer({"server": SERVER_ROW}, fail={"relations": "ERROR:  out of memory"})
    with pytest.raises(session.SessionError, match="out of memory"):
        diagnose.collect("space", fake)


def test_queries_without_the_extension_says_so():
    out = diagnose.collect("queries", FakeServer({"server": SERVER_ROW}))
    section = out["sections"]["queries"]
    assert section["by_total"] == [] and "not installed" in section["missing"]
    lines = diagnose.report({"what": "queries", "database": "learning", **out}, "pg1")["lines"]
    assert any("pg_stat_statements is not installed in database learning" in x for x in lines)


def test_queries_with_the_extension_not_loaded_says_so():
    fake = FakeServer({"server": SERVER_ROW, "statements_extension": [["public", "f"]]})
    section = diagnose.collect("queries", fake)["sections"]["queries"]
    assert "shared_preload_libraries" in section["missing"]


def test_queries_top_by_total_and_by_mean():
    row = ["learning", "app", "3", "1234.5", "411.5", "30", "99.5", "SELECT * FROM app.t"]
    fake = FakeServer(
        {
            "server": SERVER_ROW,
            "statements_extension": [["public", "t"]],
            "statements_total": [row],
            "statements_mean": [row],
        }
    )
    out = diagnose.collect("queries", fake)
    lines = diagnose.report({"what": "queries", "database": "learning", **out}, "pg1")["lines"]
    text = "\n".join(lines)
    assert "top 15 statements by total time" in text and "by mean time" in text
    assert "1234.5 ms total, 3 calls, 411.5 ms mean, 30 rows, 99.5 % hit: SELECT * FROM app.t" in (
        text
    )


# ------------------------------------------------------------------ the report
def _result(what, sections, in_recovery=False):
    return {
        "what": what,
        "database": "learning",
        "in_recovery": in_recovery,
        "sections": {
            "server": {"in_recovery": in_recovery, "version": "17.7", "database": "learning",
                       "now": "2026-12-07 06:00:00+00"},
            **sections,
        },
    }  # fmt: skip


def test_report_connections_against_the_usable_ones_and_pgbouncer():
    sections = {
        "connections": {
            "limits": {"max_connections": 100, "superuser_reserved": 3, "reserved": 2,
                       "clients": 12, "longest_xact_s": 4.0, "idle_in_transaction": 1},
            "by_state": {"active": 2, "idle": 9, "idle in transaction": 1},
            "by_application": {"web": 10, "": 2},
            "by_role": {"app": 10, "postgres": 2},
            "by_client": {"10.0.0.5": 10, "local": 2},
        }
    }  # fmt: skip
    pools = [
        {"item": "pg1", "pools": [
            {"database": "learning", "user": "app", "mode": "transaction", "clients_active": 3,
             "clients_waiting": 0, "longest_wait_seconds": 0.0, "servers": 4,
             "servers_active": 1, "pool_size": 20, "used_percent": 20.0,
             "active_percent": 5.0}], "problems": []},
        {"item": "pg2", "unreachable": True, "msg": "ssh: timed out"},
        {"item": "pg3", "skipped": True},
    ]  # fmt: skip
    out = diagnose.report(_result("connections", sections), "pg1", pgbouncer=pools)
    text = "\n".join(out["lines"])
    assert "12 client connections of 95 usable (max_connections 100 - " in text
    assert "superuser_reserved_connections 3 - reserved_connections 2); 83 free" in text
    assert "by state: idle 9, active 2, idle in transaction 1" in text
    assert "by application: web 10, (none) 2" in text
    assert "pg1 learning/app (transaction): 4/20 server connections" in text
    assert out["problems"] == ["PgBouncer on pg2 did not answer: ssh: timed out"]


def test_report_space():
    sections = {
        "space": {
            "relations": [{"schema": "app", "name": "t", "kind": "r", "total": 3 * 1024**2,
                           "table": 2 * 1024**2, "indexes": 1024**2, "toast": 0}],
            "relations_estimated": False,
            "bloat": [{"schema": "app", "name": "t", "real_size": 2 * 1024**2,
                       "bloat_size": 1024**2, "bloat_pct": 50.0, "fillfactor": 100,
                       "is_na": False}],
            "databases": [{"name": "learning", "size": 9 * 1024**2}],
            "wal": {"files": 5, "bytes": 80 * 1024**2, "ready": 2, "done": 10,
                    "oldest_ready_s": 30.5, "archive_mode": "on", "failed_count": 0,
                    "last_failed_wal": "", "last_archived_wal": "000000010000000000000004"},
        }
    }  # fmt: skip
    disk = {"lines": ["pg1: data and pg_wal / 29.6 % free (74.6 of 252.0 GiB); spool -"],
            "problems": []}  # fmt: skip
    text = "\n".join(diagnose.report(_result("space", sections), "pg1", disk=disk)["lines"])
    assert "app.t 3.0 MiB (table 2.0 MiB, indexes 1.0 MiB, toast 0 B)" in text
    assert "app.t 50.0 % (1.0 MiB of 2.0 MiB, fillfactor 100)" in text
    assert "learning 9.0 MiB" in text
    assert "pg_wal: 5 files, 80.0 MiB; archive_status: 2 .ready (oldest 30.5 s)" in text
    assert "pg1: data and pg_wal / 29.6 % free" in text


def test_report_replication_from_the_primary_and_each_replica():
    sections = {
        "replication": {
            "primary": {"current_lsn": "0/5000000", "timeline": 3},
            "replicas": [{"name": "pg2", "client": "10.0.0.12", "state": "streaming",
                          "sync_state": "async", "sent_lsn": "0/5000000", "write_lsn": "0/5000000",
                          "flush_lsn": "0/5000000", "replay_lsn": "0/4FFF000",
                          "sent_bytes": 0, "write_bytes": 0, "flush_bytes": 0,
                          "replay_bytes": 4096, "write_lag_s": 0.001, "flush_lag_s": 0.002,
                          "replay_lag_s": 0.003, "slot": "pg2", "slot_active": True,
                          "wal_status": "reserved", "safe_wal_size": None,
                          "reply_age_s": 0.5}],
            "slots": [{"name": "pg2", "type": "physical", "active": True, "active_pid": 77,
                       "wal_status": "reserved", "safe_wal_size": None,
                       "restart_lsn": "0/5000000", "retained_bytes": 0,
                       "invalidation_reason": ""},
                      {"name": "pg3", "type": "physical", "active": False, "active_pid": None,
                       "wal_status": "extended", "safe_wal_size": 1024**3,
                       "restart_lsn": "0/3000000", "retained_bytes": 32 * 1024**2,
                       "invalidation_reason": ""}],
        }
    }  # fmt: skip
    receiver = {"replication": {"receiver": {
        "status": "streaming", "sender_host": "10.0.0.11", "sender_port": 5432, "slot": "pg2",
        "received_tli": 3, "receive_lsn": "0/5000000", "replay_lsn": "0/4FFF000",
        "replay_behind_bytes": 4096, "last_replay_age_s": 1.5, "last_message_age_s": 0.2,
        "checkpoint_timeline": 3, "replay_pause": "not paused"}}}  # fmt: skip
    replicas = [
        {"item": "pg2", **_result("replication", receiver, in_recovery=True)},
        {"item": "pg3", "failed": True, "msg": "psql: connection refused"},
    ]
    out = diagnose.report(_result("replication", sections), "pg1", replicas=replicas)
    text = "\n".join(out["lines"])
    assert "primary pg1: timeline 3, current WAL 0/5000000" in text
    assert "pg2 (10.0.0.12): streaming, async; behind sent 0 B, write 0 B, flush 0 B, " in text
    assert "replay 4.0 KiB; lag write 0.001 s, flush 0.002 s, replay 0.003 s" in text
    assert "slot pg2 active, wal_status reserved" in text
    assert "slot pg3 (no replica on it): inactive, wal_status extended, safe_wal_size 1.0 GiB" in (
        text
    )
    assert "pg2's own view: receiver streaming from 10.0.0.11:5432 on slot pg2, timeline 3" in text
    assert "received 0/5000000, replayed 0/4FFF000 (4.0 KiB behind)" in text
    assert out["problems"] == ["pg3's own view could not be read: psql: connection refused"]


def test_report_refuses_what_is_not_a_diagnosis():
    with pytest.raises(InputError, match="pg_diagnose_report: expected the registered result"):
        diagnose.report({"rc": 1}, "pg1")


# ------------------------------------------------------------------ the module
def test_the_module_loads_and_reads_through_the_session_helper():
    module = load_module("pg_diagnose")
    assert module.Session is session.Session
    assert module.collect is diagnose.collect


# ------------------------------------------------------------------ a real server
def _psql(server, sql, **kw):
    return subprocess.Popen(
        ["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-h", server["socket"],
         "-p", str(server["port"]), "-d", "postgres", "-c", sql],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/", **kw,
    )  # fmt: skip


def test_every_what_runs_on_a_real_server(server):
    s = session.Session(
        server["port"], host=server["socket"], options=diagnose.SESSION_OPTIONS, timeout=20
    )
    run = lambda sql: s.script(sql).rows  # noqa: E731
    for what in diagnose.WHATS:
        out = diagnose.collect(what, run)
        assert out["in_recovery"] is False
        lines = diagnose.report({"what": what, "database": "postgres", **out}, "local")["lines"]
        assert lines, what
    connections = diagnose.collect("connections", run)["sections"]["connections"]
    assert connections["by_application"].get("pgfleet-diagnose") == 1
    queries = diagnose.collect("queries", run)["sections"]["queries"]
    assert "not installed" in queries["missing"]
    # The session is read-only: a write in it fails.
    with pytest.raises(session.SessionError, match="read-only transaction"):
        s.script("CREATE TABLE pg_temp.x (i int);\n")


def test_a_real_lock_wait_names_its_root_blocker(server):
    admin = session.Session(server["port"], host=server["socket"])
    admin.script("CREATE SCHEMA IF NOT EXISTS app; CREATE TABLE IF NOT EXISTS app.diag_probe ();\n")
    holder = _psql(server, "SET application_name = 'holder'; " + QUERY)
    waiter = None
    try:
        deadline = time.monotonic() + 20
        while (
            admin.value(
                "SELECT count(*) FROM pg_locks WHERE relation = 'app.diag_probe'::regclass "
                "AND mode = 'AccessExclusiveLock' AND granted"
            )
            != "1"
        ):
            assert time.monotonic() < deadline, "the holder did not take its lock"
            time.sleep(0.1)
        waiter = _psql(server, "SET application_name = 'waiter'; SELECT * FROM app.diag_probe;")
        while (
            admin.value(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'waiter' "
                "AND wait_event_type = 'Lock'"
            )
            != "1"
        ):
            assert time.monotonic() < deadline, "the waiter did not wait"
            time.sleep(0.1)
        holder_pid = int(
            admin.value("SELECT pid FROM pg_stat_activity WHERE application_name = 'holder'")
        )
        s = session.Session(server["port"], host=server["socket"], options=diagnose.SESSION_OPTIONS)
        out = diagnose.collect("locks", lambda sql: s.script(sql).rows)
        lines = diagnose.report({"what": "locks", "database": "postgres", **out}, "local")["lines"]
        text = "\n".join(lines)
        assert f"root blocker pid {holder_pid} (postgres, holder, " in text
        assert "LOCK TABLE app.diag_probe IN ACCESS EXCLUSIVE MODE" in text
        assert "holds AccessExclusiveLock on relation app.diag_probe" in text
        assert "waits for AccessShareLock on relation app.diag_probe" in text
    finally:
        admin.script(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name IN ('holder', 'waiter');\n"
        )
        for proc in (holder, waiter):
            if proc is not None:
                proc.wait(timeout=20)
        admin.script("DROP TABLE IF EXISTS app.diag_probe; DROP SCHEMA IF EXISTS app;\n")
