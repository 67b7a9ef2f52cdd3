"""The pure parts of roles/postgresql_restore/files/postgresql-restore, the host tool of
restore.yml and restore_drill.yml: reading the server log after a restore, naming WAL
segments in the repository, and setting recovery targets aside."""

from pathlib import Path

import pytest
from conftest import load_script

TOOL = Path(__file__).resolve().parents[2] / "roles/postgresql_restore/files/postgresql-restore"


@pytest.fixture(scope="module")
def tool():
    return load_script("postgresql_restore_tool", TOOL)


LOG = """\
2026-11-28 10:44:25.101 UTC [91] LOG:  starting point-in-time recovery to 2026-11-28 10:43:41+00
2026-11-28 10:44:25.300 UTC [91] LOG:  restored log file "000000010000000000000003" from archive
2026-11-28 10:44:25.400 UTC [91] LOG:  consistent recovery state reached at 0/3000050
2026-11-28 10:44:25.500 UTC [91] LOG:  recovery stopping before commit of transaction 757, \
time 2026-11-28 10:43:43.385136+00
2026-11-28 10:44:25.501 UTC [91] LOG:  redo done at 0/42278B8 system usage: CPU: user: 0.01 s
2026-11-28 10:44:25.502 UTC [91] LOG:  last completed transaction was at log time \
2026-11-28 10:43:39.239313+00
2026-11-28 10:44:25.600 UTC [91] LOG:  selected new timeline ID: 2
2026-11-28 10:44:25.700 UTC [91] LOG:  archive recovery complete
"""


def test_recovery_lines_find_the_stop_point(tool):
    rec = tool.recovery_lines(LOG)
    assert rec["stopping"].startswith("recovery stopping before commit of transaction 757")
    assert "selected new timeline ID: 2" in rec["lines"]
    assert not any("restored log file" in line for line in rec["lines"])


def test_recovery_to_the_end_has_no_stop_point(tool):
    text = LOG.replace("recovery stopping before", "something else before")
    assert tool.recovery_lines(text)["stopping"] is None


@pytest.mark.parametrize(
    "name, segment",
    [
        (
            "000000020000000000000005-3f786850e387550fdab836ed7e6dc881de23001b.zst",
            "000000020000000000000005",
        ),
        ("000000020000000000000005", "000000020000000000000005"),
        ("000000020000000000000005.partial-3f786850e387550fdab836ed7e6dc881de23001b.zst", None),
        ("000000020000000000000005.00000028.backup", None),
        ("00000002.history", None),
    ],
)
def test_only_whole_segments_mark_the_end_of_the_archive(tool, name, segment):
    m = tool._SEGMENT.match(name)
    assert (m.group(1) if m else None) == segment


def test_target_settings_are_set_aside_not_the_rest(tool):
    auto = (
        "restore_command = 'pgbackrest --stanza=main archive-get %f \"%p\"'\n"
        "recovery_target_time = '2026-11-28 04:30:00+00'\n"
        "recovery_target_action = 'promote'\n"
        "recovery_target_timeline = '2'\n"
    )
    out = tool._TARGET_SETTINGS.sub("# (removed by postgresql-restore) \\g<0>", auto)
    assert out.splitlines()[0].startswith("restore_command")
    assert all(line.startswith("# (removed") for line in out.splitlines()[1:])


def test_the_tool_uses_the_shared_lsn_helpers_not_its_own(tool):
    from pgfleet import lsn

    assert tool.lsn is lsn
    own = {"lsn_int", "lsn_text", "segment_no", "segment_name", "_WAL_SEGMENT_BYTES"}
    assert own.isdisjoint(vars(tool))


# ------------------------------------------------------------------ holes in the WAL archive
SHA = "3f786850e387550fdab836ed7e6dc881de23001b"
T = 1_795_800_000  # archive times: T + 60 * segment number


def _listing(timeline, numbers, extra=None):
    """A recursive repo-ls of an archive id: segments of one timeline, with a history file,
    a .backup file and a .partial segment that are not whole segments."""
    out = {".": {"type": "path"}, f"{timeline:08X}00000000": {"type": "path"}}
    for no in numbers:
        name = f"{timeline:08X}00000000{no:08X}"
        out[f"{timeline:08X}00000000/{name}-{SHA}.zst"] = {
            "type": "file",
            "size": 1000,
            "time": T + 60 * no,
        }
    out.update(extra or {})
    return out


def test_archived_segments_per_timeline(tool):
    listing = _listing(
        1,
        [2, 3],
        {
            f"0000000100000000/000000010000000000000003.00000028.backup-{SHA}.zst": {
                "type": "file",
                "time": T,
            },
            "00000002.history": {"type": "file", "time": T + 500},
            f"0000000200000000/000000020000000000000004.partial-{SHA}.zst": {
                "type": "file",
                "time": T + 510,
            },
            f"0000000200000000/000000020000000000000005-{SHA}.zst": {
                "type": "file",
                "time": T + 600,
            },
        },
    )
    assert tool.archived_segments(listing) == {1: {2: T + 120, 3: T + 180}, 2: {5: T + 600}}


def test_the_segment_a_timeline_began_in(tool):
    assert tool.history_start("") is None
    assert tool.history_start("1\t0/3000000\tx\n\n2\t1/50000A0\tbefore 2026-11-28\n") == 0x105


def test_no_hole_in_a_whole_archive(tool):
    segments = tool.archived_segments(_listing(1, range(2, 12)))
    assert tool.wal_holes(segments, "000000010000000000000002", {}) == []


def test_segments_missing_between_the_oldest_backup_and_the_end_are_a_hole(tool):
    # 7, 8 and 9 were acknowledged and dropped by pgBackRest; 1 is older than the oldest
    # backup (expired), 13 is not archived yet: neither is a hole.
    segments = tool.archived_segments(_listing(1, [2, 3, 4, 5, 6, 10, 11, 12]))
    holes = tool.wal_holes(
        segments, "000000010000000000000003", {}, dropped=["000000010000000000000008"]
    )
    assert holes == [
        {
            "timeline": 1,
            "first": "000000010000000000000007",
            "last": "000000010000000000000009",
            "segments": 3,
            "lsn_start": "0/7000000",
            "lsn_end": "0/A000000",
            "from_epoch": T + 360,
            "to_epoch": T + 600,
            "from": tool.iso(T + 360),
            "to": tool.iso(T + 600),
            "dropped_logged": True,
        }
    ]


def test_a_hole_at_the_start_of_a_timeline(tool):
    # Timeline 2 began in segment 8 (its history file, archived at T + 470): 8 and 9 were
    # dropped right after the promotion, 10 onwards reached the repository.
    segments = tool.archived_segments(
        {**_listing(1, range(2, 9)), **_listing(2, [10, 11], {"00000002.history": {}})}
    )
    holes = tool.wal_holes(segments, "000000010000000000000002", {2: 8}, started={2: T + 470})
    assert [(h["timeline"], h["first"], h["last"], h["from_epoch"]) for h in holes] == [
        (2, "000000020000000000000008", "000000020000000000000009", T + 470)
    ]
    assert holes[0]["dropped_logged"] is False


def test_no_backup_means_no_hole_to_look_for(tool):
    segments = tool.archived_segments(_listing(1, [2, 5]))
    assert tool.wal_holes(segments, None, {}) == []


def test_timelines_before_the_oldest_backup_are_not_searched(tool):
    segments = tool.archived_segments({**_listing(1, [2, 5]), **_listing(2, [6, 7])})
    assert tool.wal_holes(segments, "000000020000000000000006", {2: 5}) == []


def test_dropped_segments_from_the_async_log(tool):
    log = (
        "2026-12-06 05:01:02.123 P00   INFO: push 2 WAL file(s) to archive: "
        "000000010000000000000007...000000010000000000000008\n"
        "2026-12-06 05:01:02.124 P00   WARN: dropped WAL file '000000010000000000000007' "
        "because archive queue exceeded 1MB\n"
        "2026-12-06 05:01:02.125 P00   WARN: dropped WAL file '000000010000000000000008' "
        "because archive queue exceeded 1MB\n"
    )
    assert tool.dropped_segments(log) == ["000000010000000000000007", "000000010000000000000008"]
    assert tool.dropped_segments("") == []


def test_the_operators_check_query_runs_read_only_as_pg_read_all_data(tool):
    script = tool.verify_script("SELECT count(*) > 0 FROM app.orders;  ")
    lines = script.splitlines()
    # The transaction is read-only and the role has no superuser rights before the query.
    assert lines[0] == "BEGIN TRANSACTION READ ONLY;"
    assert lines[1] == "SET LOCAL ROLE pg_read_all_data;"
    assert lines[2] == "SELECT count(*) > 0 FROM app.orders;"
    assert len(lines) == 3


def test_every_session_of_the_tool_resolves_names_in_pg_catalog_only(tool):
    assert "-c search_path=pg_catalog,pg_temp" in tool.SESSION_OPTIONS
    assert tool.os.environ["PGOPTIONS"] == tool.SESSION_OPTIONS


def test_a_separate_cluster_takes_productions_baseline_files(tool, tmp_path):
    prod, side = tmp_path / "main", tmp_path / "restore"
    (prod / "conf.d").mkdir(parents=True)
    (prod / "conf.d/90-ansible.conf").write_text("shared_preload_libraries = 'pgaudit'\n")
    (prod / "conf.d/91-pgbackrest.conf").write_text("archive_command = 'pgbackrest ...'\n")
    (prod / "conf.d/92-replica.conf").write_text("primary_conninfo = 'host=pg1'\n")
    (prod / "pg_hba.conf").write_text("local all all peer\n")
    side.mkdir()
    assert tool.copy_baseline(prod, side) == ["conf.d/90-ansible.conf", "pg_hba.conf"]
    assert (side / "pg_hba.conf").read_text() == "local all all peer\n"
    assert (side / "conf.d/90-ansible.conf").stat().st_mode & 0o777 == 0o640
    # Never the archiving drop-in, never the replica's.
    assert sorted(p.name for p in (side / "conf.d").iterdir()) == ["90-ansible.conf"]


def test_a_separate_cluster_overrides_only_what_it_must_not_share(tool):
    text = tool.separate_cluster_settings("drill", 5434, "pg_stat_statements,pgaudit")
    settings = dict(
        line.split(" = ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert settings == {
        "port": "5434",
        "synchronous_standby_names": "''",
        "archive_mode": "off",
        "primary_conninfo": "''",
        "primary_slot_name": "''",
        "shared_buffers": "'128MB'",
        "shared_preload_libraries": "'pg_stat_statements,pgaudit'",
    }
