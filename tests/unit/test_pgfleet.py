"""The shared package itself: WAL names, history files, pg_controldata, quoting, the
filter bridge. (units, scram, conf and replication are covered through their filters.)"""

from __future__ import annotations

import pytest

from pgfleet import controldata, filters, lsn, quoting
from pgfleet.errors import InputError

CONTROLDATA = """pg_control version number:            1700
Catalog version number:               202406281
Database system identifier:           7441234567890123456
Database cluster state:               shut down in recovery
pg_control last modified:             Sun Dec  6 10:00:00 2026
Latest checkpoint location:           0/5000060
Latest checkpoint's REDO location:    0/5000028
Latest checkpoint's TimeLineID:       3
Minimum recovery ending location:     0/50000D8
Min recovery ending loc's timeline:   3
wal_log_hints setting:                on
Bytes per WAL segment:                16777216
Data page checksum version:           1
"""


def test_lsn_round_trip_and_errors():
    assert lsn.lsn_int("16/B374D848") == 97500059720
    assert lsn.lsn_text(97500059720) == "16/B374D848"
    assert lsn.lsn_diff("0/2000000", "0/1000000") == 16777216
    with pytest.raises(InputError, match=r"target_lsn: '16-B3' is not an LSN"):
        lsn.lsn_int("16-B3", "target_lsn")
    assert not lsn.is_lsn(None)


@pytest.mark.parametrize(
    ("timeline", "no", "name"),
    [
        (1, 0, "000000010000000000000000"),
        (3, 0x100, "000000030000000100000000"),
        (2, 0x1FF, "0000000200000001000000FF"),
    ],
)
def test_segment_names(timeline, no, name):
    assert lsn.segment_name(timeline, no) == name
    assert lsn.segment_no(name) == no


def test_segment_of_an_lsn():
    assert lsn.segment_of(lsn.lsn_int("1/0")) == 0x100
    with pytest.raises(InputError, match="not a WAL segment file name"):
        lsn.segment_no("00000001.history")


def test_history_files():
    text = "1\t0/3000000\tno recovery target specified\n\n2\t0/5000060\tat restore point\n"
    assert lsn.history_last(text) == {"timeline": 2, "lsn": "0/5000060"}
    assert lsn.history_ancestry(text, 3) == [
        {"timeline": 1, "end": 0x3000000},
        {"timeline": 2, "end": 0x5000060},
        {"timeline": 3, "end": None},
    ]
    assert lsn.history_timeline(["a/00000002.history", "00000003.history", "x.partial"]) == 3
    with pytest.raises(InputError, match="history of timeline 2: 'garbage' is not a history line"):
        lsn.history_ancestry("garbage\n", 2)
    with pytest.raises(InputError, match="no timeline switch"):
        lsn.history_last("")


def test_controldata():
    got = controldata.parse(CONTROLDATA)
    assert got["system_identifier"] == "7441234567890123456"
    assert got["timeline"] == 3
    assert got["checkpoint_lsn"] == "0/5000060"
    assert got["min_recovery_lsn"] == "0/50000D8"
    assert got["wal_log_hints"] is True
    assert got["data_checksums"] is True
    assert got["clean_shutdown"] is True
    assert got["wal_segment_size"] == 16777216


def test_controldata_of_a_crashed_primary_and_of_garbage():
    got = controldata.parse(
        "Database cluster state:   in production\nData page checksum version: 0\n"
    )
    assert got["clean_shutdown"] is False
    assert got["data_checksums"] is False
    assert got["timeline"] is None
    empty = controldata.parse("pg_controldata: error: could not open file")
    assert empty["state"] is None and empty["clean_shutdown"] is None


def test_quoting():
    assert quoting.quote_ident('a"b') == '"a""b"'
    assert quoting.quote_literal("it's") == "'it''s'"


def test_filter_bridge_keeps_the_message_and_the_name():
    class FilterError(Exception):
        pass

    wrapped = filters.wrap(lsn.lsn_int, FilterError)
    assert wrapped.__name__ == "lsn_int"
    with pytest.raises(FilterError, match="x: 'bad' is not an LSN"):
        wrapped("bad", "x")
    table = filters.table(FilterError, pg_lsn_int=lsn.lsn_int)
    assert table["pg_lsn_int"]("0/10") == 16
