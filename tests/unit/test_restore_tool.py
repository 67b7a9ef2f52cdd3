"""The pure parts of roles/postgresql_restore/files/postgresql-restore, the host tool of
restore.yml and restore_drill.yml: reading the server log after a restore, naming WAL
segments in the repository, and setting recovery targets aside."""

import importlib.machinery
import importlib.util
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "roles/postgresql_restore/files/postgresql-restore"


@pytest.fixture(scope="module")
def tool():
    loader = importlib.machinery.SourceFileLoader("postgresql_restore_tool", str(TOOL))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


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


def test_lsn_int(tool):
    assert tool.lsn_int("16/B374D848") == (0x16 << 32) | 0xB374D848
