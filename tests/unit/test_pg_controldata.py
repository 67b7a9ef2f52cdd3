"""library/pg_controldata.py: the argv it runs and how it reads pg_controldata's output."""

import pytest
from conftest import load_module

OUTPUT = """\
pg_control version number:            1700
Catalog version number:               202406281
Database system identifier:           7444011816716828746
Database cluster state:               shut down
pg_control last modified:             Sun 06 Dec 2026 10:00:00 AM UTC
Latest checkpoint location:           0/5000028
Latest checkpoint's REDO location:    0/5000028
Latest checkpoint's TimeLineID:       2
Minimum recovery ending location:     0/0
Min recovery ending loc's timeline:   0
wal_log_hints setting:                off
Data page checksum version:           1
Bytes per WAL segment:                16777216
"""


@pytest.fixture(scope="module")
def mod():
    return load_module("pg_controldata")


def test_argv_names_the_program_in_bin_dir(mod):
    assert mod.command("/usr/lib/postgresql/17/bin", "/var/lib/postgresql/17/main") == [
        "/usr/lib/postgresql/17/bin/pg_controldata",
        "/var/lib/postgresql/17/main",
    ]


def test_read_parses_the_fields(mod):
    fields, why = mod.read(OUTPUT, 0, "")
    assert why == ""
    assert fields["system_identifier"] == "7444011816716828746"
    assert fields["state"] == "shut down"
    assert fields["clean_shutdown"] is True
    assert fields["timeline"] == 2
    assert fields["checkpoint_lsn"] == "0/5000028"
    assert fields["data_checksums"] is True


def test_a_crashed_primary_is_not_a_clean_shutdown(mod):
    fields, _ = mod.read(OUTPUT.replace("shut down", "in production"), 0, "")
    assert fields["clean_shutdown"] is False


@pytest.mark.parametrize(
    ("out", "rc", "err", "expected"),
    [
        ("", 1, "pg_controldata: error: could not open file", "could not open file"),
        ("", 2, "", "exited with 2"),
        ("garbage\n", 0, "", "no system identifier"),
    ],
)
def test_read_fails_with_the_reason(mod, out, rc, err, expected):
    fields, why = mod.read(out, rc, err)
    assert fields is None
    assert expected in why
