"""library/pg_rewind.py and pgfleet.walend: the source connection string (no password in
it), the commands, the fork point, where the WAL ends, which segments are kept, and which
old forensic copies go."""

import os

import pytest
from conftest import load_module

from pgfleet import walend

DRY_RUN = """\
pg_rewind: connected to server
pg_rewind: servers diverged at WAL location 0/5000110 on timeline 2
pg_rewind: rewinding from last common checkpoint at 0/5000060 on timeline 2
pg_rewind: Done!
"""
WALDUMP = """\
rmgr: Heap        len (rec/tot):     54/    54, tx:        758, lsn: 0/05000110, prev 0/050000D8
rmgr: Transaction len (rec/tot):     34/    34, tx:        758, lsn: 0/05000148, prev 0/05000110
pg_waldump: error: error in WAL record at 0/5000148: invalid record length at 0/5000170: \
expected at least 24, got 0
"""


@pytest.fixture(scope="module")
def mod():
    return load_module("pg_rewind")


def test_the_source_names_a_passfile_never_a_password(mod):
    text = mod.source_conninfo("10.0.0.12", 5432, "pg_rewinder", "/tmp/x/pgpass", "/etc/ca.crt")
    assert "passfile='/tmp/x/pgpass'" in text
    assert "sslmode='verify-full'" in text and "sslrootcert='/etc/ca.crt'" in text
    assert "password" not in text.replace("passfile", "")


def test_conninfo_values_are_quoted(mod):
    assert mod.conninfo_value("a b'c\\d") == "'a b\\'c\\\\d'"


def test_dry_run_and_real_run(mod):
    dry = mod.rewind_argv("/bin17", "/data", "/etc/pg.conf", "host='x'", dry=True)
    real = mod.rewind_argv("/bin17", "/data", "/etc/pg.conf", "host='x'", dry=False)
    assert dry[:5] == ["runuser", "-u", "postgres", "--", "/bin17/pg_rewind"]
    assert "--dry-run" in dry and "--dry-run" not in real
    assert "--restore-target-wal" in real and "--source-server=host='x'" in real


def test_crash_recovery_runs_single_user_without_fsync(mod):
    argv = mod.single_user_argv("/bin17", "/data", "/etc/pg.conf")
    assert argv[4:] == ["/bin17/postgres", "--single", "-F", "-D", "/data",
                        "-c", "config_file=/etc/pg.conf", "template1"]  # fmt: skip


def test_old_forensic_copies(mod):
    now = 100 * 86400.0
    entries = [("/f/old", now - 31 * 86400), ("/f/new", now - 86400), ("/f/edge", now - 30 * 86400)]
    assert mod.old_copies(entries, now, 30) == ["/f/old"]


def test_tail(mod):
    assert mod.tail("a\nb\nc\n", 2) == "b\nc"


def test_fork_point():
    assert walend.fork_point(DRY_RUN) == ("0/5000110", 2)
    assert walend.fork_point("pg_rewind: no rewind required") is None
    assert walend.fork_point("") is None


def test_the_wal_ends_at_the_first_invalid_record():
    assert walend.last_lsn(WALDUMP) == "0/5000170"
    assert walend.last_lsn("") == ""
    assert walend.last_lsn("pg_waldump: error: could not find file\n") == ""


def test_segments_from_the_fork_on_its_timeline():
    names = [
        "000000020000000000000004",
        "000000020000000000000005",
        "000000020000000000000006",
        "000000030000000000000005",
        "000000020000000000000005.partial",
        "00000002.history",
        "archive_status",
    ]
    assert walend.segments_from(names, 2, "0/5000110") == [
        "000000020000000000000005",
        "000000020000000000000006",
    ]


def test_segments_stop_at_the_end_of_the_wal():
    # pg_wal also holds recycled segments named past the end of the valid WAL: they hold
    # nothing the node wrote on this timeline and are not kept.
    names = [f"0000000700000000000000{n:02X}" for n in range(0x15, 0x1B)]
    assert walend.segments_from(names, 7, "0/15008268", end="0/160000A0") == [
        "000000070000000000000015",
        "000000070000000000000016",
    ]


def test_segments_past_4_gib():
    # 1/0 is segment 256 of 16 MiB: the file's middle part counts the 4 GiB units
    assert walend.segments_from(
        ["0000000100000000000000FF", "000000010000000100000000"], 1, "1/10"
    ) == ["000000010000000100000000"]


def test_wal_end_keeps_the_records_and_segments(tmp_path):
    data = tmp_path / "data"
    (data / "pg_wal").mkdir(parents=True)
    for name in ("000000020000000000000004", "000000020000000000000005"):
        (data / "pg_wal" / name).write_text(name)
    bins = tmp_path / "bin"
    bins.mkdir()
    fake = bins / "pg_waldump"
    fake.write_text("#!/bin/sh\nprintf '%s' \"$WALDUMP_OUT\" >&2\nexit 1\n")
    fake.chmod(0o755)
    forensics = tmp_path / "forensics"
    forensics.mkdir()
    os.environ["WALDUMP_OUT"] = WALDUMP
    try:
        end = walend.wal_end(str(bins), str(data), "0/5000110", 2, str(forensics))
    finally:
        del os.environ["WALDUMP_OUT"]
    assert end == "0/5000170"
    assert "invalid record length" in (forensics / "waldump.txt").read_text()
    assert sorted(p.name for p in (forensics / "wal").iterdir()) == ["000000020000000000000005"]
