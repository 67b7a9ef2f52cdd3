"""pgfleet.capacity and pgfleet-capacity: the weekly snapshot and status.yml's report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import test_session
from conftest import load_script

from pgfleet import capacity, diagnose, session
from pgfleet.errors import InputError
from pgfleet.session import SessionError

# The throwaway PostgreSQL of test_session (skipped without initdb or root).
server = test_session.server

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "roles/postgresql_status/files/pgfleet-capacity"
DAY = 86400.0
T0 = 1796600000.0


def index(name, scans, size=8192, enforces=False, table="lessons", schema="app"):
    return {"schema": schema, "table": table, "name": name, "size": size, "scans": scans,
            "enforces": enforces, "valid": True}  # fmt: skip


def table(name, total, schema="app"):
    return {"schema": schema, "name": name, "total": total, "heap": total, "indexes": 0,
            "live": 1, "dead": 0}  # fmt: skip


def snap(node, at, indexes, tables=(), size=10_000_000, reset=None, bloat=()):
    return {
        "version": 1, "node": node, "at": at, "in_recovery": node != "pg1",
        "databases": [{"name": "learning", "size": size, "stats_reset": reset,
                       "estimated": False, "tables": list(tables), "bloat": list(bloat),
                       "indexes": list(indexes)}],
    }  # fmt: skip


def names(entries):
    return [e["name"] for e in entries]


def test_an_index_a_replica_scans_is_not_unused():
    # lessons_by_topic: 0 scans on the primary, used by the analytics replica pg2.
    snaps = {
        "pg1": [snap("pg1", T0, [index("lessons_by_topic", 0), index("lessons_old", 0)])],
        "pg2": [snap("pg2", T0, [index("lessons_by_topic", 42), index("lessons_old", 0)])],
    }
    out = capacity.report(snaps, "pg1", T0)
    assert names(out["unused"]) == ["lessons_old"]
    assert out["unused"][0]["nodes"] == ["pg1", "pg2"]


def test_an_index_that_enforces_something_is_never_listed():
    snaps = {"pg1": [snap("pg1", T0, [index("lessons_pkey", 0, enforces=True)])]}
    assert capacity.report(snaps, "pg1", T0)["unused"] == []


def test_an_index_missing_on_a_node_is_not_judged_yet():
    # created after pg2's snapshot: pg2 has no count for it
    snaps = {
        "pg1": [snap("pg1", T0, [index("new_index", 0)])],
        "pg2": [snap("pg2", T0, [])],
    }
    assert capacity.report(snaps, "pg1", T0)["unused"] == []


def test_rarely_used_counts_the_week_over_every_node_and_survives_a_reset():
    week = 7 * DAY
    before = {
        "pg1": [index("a", 1000), index("b", 1000), index("c", 5000)],
        "pg2": [index("a", 10), index("b", 10), index("c", 100)],
    }
    after = {
        # a: 10 + 10 = 20 scans this week: rare. b: pg2's counter went down from 10 to 5
        # (reset), so it counts 5 from zero: 10 + 5 = 15, rare. c: 5000 more on pg1.
        "pg1": [index("a", 1010), index("b", 1010), index("c", 10000)],
        "pg2": [index("a", 20), index("b", 5), index("c", 100)],
    }
    snaps = {n: [snap(n, T0, before[n]), snap(n, T0 + week, after[n])] for n in ("pg1", "pg2")}
    out = capacity.report(snaps, "pg1", T0 + week, rare_scans_per_week=50)
    assert out["weekly"] is True
    rare = {e["name"]: e["scans_per_week"] for e in out["rare"]}
    assert rare == {"a": 20.0, "b": 15.0}


def test_rarely_used_needs_two_snapshots_a_day_apart_everywhere():
    snaps = {
        "pg1": [snap("pg1", T0, [index("a", 1)]), snap("pg1", T0 + 3600, [index("a", 2)])],
    }
    out = capacity.report(snaps, "pg1", T0 + 3600)
    assert out["weekly"] is False and out["rare"] == []
    assert "two snapshots a day or more apart" in out["lines"][-1]


def test_growth_per_week_from_the_primary():
    t1 = [table("events", 1_000_000), table("lessons", 500_000)]
    t2 = [table("events", 3_000_000), table("lessons", 500_000)]
    snaps = {
        "pg1": [snap("pg1", T0, [], t1, size=10_000_000),
                snap("pg1", T0 + 14 * DAY, [], t2, size=14_000_000)],
        # a replica's sizes are not the primary's growth
        "pg2": [snap("pg2", T0 + 14 * DAY, [], t2, size=99_000_000)],
    }  # fmt: skip
    out = capacity.report(snaps, "pg1", T0 + 14 * DAY)
    assert out["databases"] == [
        {"name": "learning", "size": 14_000_000, "growth": 4_000_000,
         "growth_per_week": 2_000_000.0}
    ]  # fmt: skip
    assert [(t["name"], t["growth_per_week"]) for t in out["tables"]] == [
        ("events", 1_000_000.0), ("lessons", 0.0)
    ]  # fmt: skip
    assert out["lines"][0] == "databases (over 14 days): learning 13.4 MiB (+1.9 MiB/week)"
    assert out["lines"][1] == "growing tables: learning.app.events 2.9 MiB (+976.6 KiB/week)"


def test_bloat_is_listed_largest_first():
    bloat = [
        {"schema": "app", "name": "small", "real_size": 1, "bloat_size": 100, "bloat_pct": 5.0,
         "fillfactor": 100, "is_na": False},
        {"schema": "app", "name": "big", "real_size": 1, "bloat_size": 9000, "bloat_pct": 50.0,
         "fillfactor": 100, "is_na": False},
    ]  # fmt: skip
    out = capacity.report({"pg1": [snap("pg1", T0, [], bloat=bloat)]}, "pg1", T0)
    assert names(out["bloat"]) == ["big", "small"]
    assert "learning.app.big 8.8 KiB (50.0%)" in out["lines"][1]


def test_missing_and_stale_snapshots_are_warnings():
    snaps = {"pg1": [snap("pg1", T0, [])], "pg2": []}
    out = capacity.report(snaps, "pg1", T0 + 9 * DAY)
    assert out["checked"] is True
    assert any("no weekly snapshot yet on pg2" in w for w in out["warnings"])
    assert any("on pg1 is older than 8 days" in w for w in out["warnings"])
    nothing = capacity.report({"pg1": []}, "pg1", T0)
    assert nothing["checked"] is False and nothing["lines"] == [
        "no capacity snapshot on any node yet"
    ]


def test_the_primary_missing_uses_another_node():
    out = capacity.report({"pg2": [snap("pg2", T0, [])]}, "pg1", T0)
    assert out["databases"][0]["size"] == 10_000_000


@pytest.mark.parametrize("bad", [None, [], {"databases": "x", "at": 1}, {"databases": []}])
def test_a_snapshot_that_is_not_one_is_refused(bad):
    with pytest.raises(InputError, match="pg1"):
        capacity.report({"pg1": [bad] if bad != [] else [[]]}, "pg1", T0)


def test_the_counters_since_each_node_began_are_named():
    snaps = {
        "pg1": [snap("pg1", T0, [index("a", 0)], reset=T0 - DAY)],
        "pg2": [snap("pg2", T0, [index("a", 0)])],
    }
    line = capacity.report(snaps, "pg1", T0)["lines"][2]
    assert line.startswith("unused indexes (1; no scan on pg1, pg2; counted pg1 since 2026-12-")
    assert "pg2 since the statistics began" in line
    assert line.endswith("learning.app.a on lessons 8.0 KiB")


# --- the snapshot, from psql's rows ---------------------------------------------------------


class FakeServer:
    """psql's CSV rows for each query of a snapshot, by the query's name in the script."""

    def __init__(self, locked=()):
        self.locked = set(locked)
        self.calls = []

    def __call__(self, db, script):
        self.calls.append((db, script))
        assert "BEGIN READ ONLY;" in script
        assert "SET application_name = 'pgfleet-capacity';" in script
        from pgfleet.diagnose import TABLE_BLOAT

        if capacity.SERVER.sql in script:
            return [["1796600000.5", "f", ""]]
        if capacity.DATABASES.sql in script:
            return [["learning", "123456"], ["postgres", "7000"]]
        if capacity.TABLES.sql in script:
            if db in self.locked:
                raise SessionError(
                    "psql failed", 3, "ERROR:  canceling statement due to lock timeout"
                )
            return [["app", "lessons", "16384", "8192", "8192", "10", "2"]]
        if capacity.TABLES_ESTIMATED.sql in script:
            return [["app", "lessons", "8192", "8192", "0", "10", "2"]]
        if TABLE_BLOAT.sql in script:
            return [["app", "lessons", "8192", "4096", "50.0", "100", "f"],
                    ["app", "odd", "8192", "4096", "50.0", "100", "t"]]  # fmt: skip
        if capacity.INDEXES.sql in script:
            return [["app", "lessons", "lessons_pkey", "16384", "5", "t", "t"],
                    ["app", "lessons", "lessons_by_topic", "8192", "0", "f", "t"]]  # fmt: skip
        raise AssertionError(f"unexpected script: {script[:200]}")


def test_a_snapshot_reads_every_database_read_only():
    server = FakeServer()
    got = capacity.snapshot(server, "pg1")
    assert got["at"] == 1796600000.5 and got["in_recovery"] is False and got["node"] == "pg1"
    assert [d["name"] for d in got["databases"]] == ["learning", "postgres"]
    learning = got["databases"][0]
    assert learning["size"] == 123456 and learning["stats_reset"] is None
    assert learning["tables"][0]["total"] == 16384 and learning["estimated"] is False
    assert [b["name"] for b in learning["bloat"]] == ["lessons"]  # not-applicable left out
    assert [i["name"] for i in learning["indexes"]] == ["lessons_pkey", "lessons_by_topic"]
    assert learning["indexes"][0]["enforces"] is True
    assert {db for db, _ in server.calls} == {"postgres", "learning"}


def test_a_locked_table_turns_the_sizes_into_estimates():
    got = capacity.snapshot(FakeServer(locked={"learning"}), "pg1")
    assert got["databases"][0]["estimated"] is True
    assert got["databases"][0]["tables"][0]["indexes"] == 0
    assert got["databases"][1]["estimated"] is False


def test_another_session_error_is_not_hidden():
    def broken(db, script):
        raise SessionError("psql: connection refused", 2, "could not connect")

    with pytest.raises(SessionError):
        capacity.snapshot(broken, "pg1")


def test_every_query_is_schema_qualified():
    # names resolve in pg_catalog only; every function and table the SQL names is qualified
    import re

    for query in capacity.QUERIES:
        for name in re.findall(r"(?<![\w.'])(pg_[a-z_]+)\s*\(", query.sql):
            pytest.fail(f"{query.name}: {name}( is not schema-qualified")


# --- the tool -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tool():
    return load_script("pgfleet_capacity", TOOL)


class ScriptSession:
    def __init__(self, server):
        self.server = server

    def script(self, sql, db=None):
        class R:
            rows = self.server(db, sql)

        return R()


def test_the_tool_writes_a_snapshot_and_keeps_the_newest(tmp_path, tool):
    for n in range(4):
        (tmp_path / f"snapshot-{n:012d}.json").write_text("{}")
    argv = ["--dir", str(tmp_path), "--keep", "3", "--node", "pg1"]
    assert tool.main(argv, session=ScriptSession(FakeServer())) == 0
    kept = sorted(p.name for p in tmp_path.glob("snapshot-*.json"))
    assert kept == ["snapshot-000000000002.json", "snapshot-000000000003.json",
                    "snapshot-001796600000.json"]  # fmt: skip
    written = json.loads((tmp_path / "snapshot-001796600000.json").read_text())
    assert written["node"] == "pg1" and len(written["databases"]) == 2
    assert oct((tmp_path / "snapshot-001796600000.json").stat().st_mode & 0o777) == "0o640"


def test_the_tool_fails_when_postgresql_does_not_answer(tmp_path, tool, capsys):
    def broken(db, script):
        raise SessionError("psql: could not connect", 2)

    argv = ["--dir", str(tmp_path), "--node", "pg1"]
    assert tool.main(argv, session=ScriptSession(broken)) == 1
    assert "could not connect" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_the_tool_keeps_at_least_two(tmp_path, tool):
    with pytest.raises(SystemExit):
        tool.main(["--dir", str(tmp_path), "--keep", "1"], session=ScriptSession(FakeServer()))


# --- the filters status.yml uses --------------------------------------------------------------


def test_the_last_two_files_of_each_node_are_read():
    import pg_capacity

    found = [
        {"item": "pg1", "files": [{"path": f"/d/snapshot-{n:012d}.json"} for n in (3, 1, 2)]},
        {"item": "pg2", "files": []},
        {"item": "pg3", "failed": True, "msg": "unreachable"},
    ]
    assert pg_capacity.pg_capacity_files(found) == [
        {"node": "pg1", "path": "/d/snapshot-000000000002.json"},
        {"node": "pg1", "path": "/d/snapshot-000000000003.json"},
    ]


def test_what_was_read_is_parsed_per_node_and_junk_is_left_out():
    import base64

    import pg_capacity

    def read(node, text):
        return {"item": {"node": node, "path": "x"},
                "content": base64.b64encode(text.encode()).decode()}  # fmt: skip

    snaps = pg_capacity.pg_capacity_snapshots(
        ["pg1", "pg2", "pg3"],
        [read("pg1", json.dumps({"at": 1})), read("pg1", "{not json"),
         read("pg2", json.dumps({"at": 2})), {"item": {"node": "pg3"}, "failed": True}],
    )  # fmt: skip
    assert snaps == {"pg1": [{"at": 1}], "pg2": [{"at": 2}], "pg3": []}


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"postgresql_status_capacity_keep": 1}, "postgresql_status_capacity_keep: a whole"),
        ({"postgresql_status_capacity_keep": True}, "postgresql_status_capacity_keep: a whole"),
        ({"postgresql_status_capacity_schedule": ""}, "postgresql_status_capacity_schedule:"),
        ({"postgresql_status_capacity_schedule": "weekly\nExecStart=/bin/sh"}, "OnCalendar"),
        ({"postgresql_status_capacity_dir": "/"}, "postgresql_status_capacity_dir:"),
        ({"postgresql_status_capacity_dir": "/var/lib/a b"}, "without spaces"),
        ({"postgresql_status_capacity_rare_scans_per_week": 0}, "rare_scans_per_week: a number"),
        ({"postgresql_status_capacity_rare_scans_per_week": "x"}, "rare_scans_per_week: a number"),
    ],
)
def test_bad_capacity_settings_are_named(settings, problem):
    good = {
        "postgresql_status_capacity_keep": 12,
        "postgresql_status_capacity_schedule": "Sun *-*-* 03:30:00",
        "postgresql_status_capacity_dir": "/var/lib/pgfleet-capacity",
        "postgresql_status_capacity_rare_scans_per_week": 50,
    }
    assert capacity.input_problems(good) == []
    problems = capacity.input_problems({**good, **settings})
    assert len(problems) == 1 and problem in problems[0], problems


# --- on a real server -------------------------------------------------------------------------


def test_a_snapshot_on_a_real_server_reads_every_database_and_judges_the_indexes(server):
    admin = session.Session(server["port"], host=server["socket"])
    admin.script(
        "CREATE DATABASE capacity_probe;\n"
        "\\connect capacity_probe\n"
        "CREATE SCHEMA app;\n"
        "CREATE TABLE app.lessons (id int PRIMARY KEY, topic int, note text);\n"
        "INSERT INTO app.lessons SELECT g, g % 50, md5(g::text) FROM generate_series(1, 2000) g;\n"
        "CREATE INDEX lessons_topic ON app.lessons (topic);\n"
        "CREATE INDEX lessons_note ON app.lessons (note);\n"
        "ANALYZE app.lessons;\n"
        "SET enable_seqscan = off; SET enable_bitmapscan = off;\n"
        "SELECT count(*) FROM app.lessons WHERE topic = 3;\n"
    )
    s = session.Session(
        server["port"], host=server["socket"], options=diagnose.SESSION_OPTIONS, timeout=30
    )
    snap = capacity.snapshot(lambda db, sql: s.script(sql, db=db).rows, "local")
    dbs = {d["name"]: d for d in snap["databases"]}
    assert {"postgres", "capacity_probe"} <= set(dbs) and "template1" not in dbs
    probe = dbs["capacity_probe"]
    assert probe["size"] > 0 and probe["estimated"] is False
    lessons = next(t for t in probe["tables"] if t["name"] == "lessons")
    assert lessons["total"] > lessons["heap"] > 0 and lessons["indexes"] > 0
    indexes = {i["name"]: i for i in probe["indexes"]}
    assert indexes["lessons_pkey"]["enforces"] is True
    assert indexes["lessons_topic"]["scans"] >= 1
    report = capacity.report({"local": [snap]}, "local", snap["at"])
    unused = [e["name"] for e in report["unused"] if e["database"] == "capacity_probe"]
    assert unused == ["lessons_note"]
    # the snapshot wrote nothing: its session was read-only
    with pytest.raises(session.SessionError, match="read-only transaction"):
        s.script("CREATE TABLE pg_temp.x (i int);\n", db="capacity_probe")
