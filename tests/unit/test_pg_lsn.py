"""LSN parsing and comparison, and the lag report."""

import pytest
from ansible.errors import AnsibleFilterError

from pg_lsn import FilterModule, pg_lsn_diff, pg_lsn_int, pg_replication_report


@pytest.mark.parametrize(
    ("lsn", "value"),
    [
        ("0/0", 0),
        ("0/3000060", 0x3000060),
        ("16/B374D848", (0x16 << 32) | 0xB374D848),
        ("FFFFFFFF/FFFFFFFF", 2**64 - 1),
        ("1/0", 2**32),
    ],
)
def test_lsn_int(lsn, value):
    assert pg_lsn_int(lsn) == value


@pytest.mark.parametrize("lsn", ["", "0", "0/", "/1", "G/1", "1/2/3", "123456789/0", None, 5])
def test_lsn_invalid(lsn):
    with pytest.raises(AnsibleFilterError, match="is not an LSN"):
        pg_lsn_int(lsn, name="replay_lsn")


def test_diff_crosses_the_32_bit_boundary():
    # "0/FFFFFFFF" -> "1/0" is one byte, not -4294967295: string comparison gets this wrong
    assert pg_lsn_diff("1/0", "0/FFFFFFFF") == 1
    assert pg_lsn_diff("0/FFFFFFFF", "1/0") == -1
    assert pg_lsn_diff("0/3000060", "0/3000000") == 0x60


def test_filters_exported():
    assert sorted(FilterModule().filters()) == [
        "pg_history_last",
        "pg_lsn_diff",
        "pg_lsn_int",
        "pg_replication_report",
    ]


ROWS = [
    {
        "name": "pg2",
        "state": "streaming",
        "sync_state": "async",
        "replay_lsn": "0/3000000",
        "replay_lag_s": 0.004,
        "ssl": True,
    },
    {
        "name": "pg3",
        "state": "streaming",
        "sync_state": "async",
        "replay_lsn": "0/2000000",
        "replay_lag_s": None,
        "ssl": True,
    },
]


def test_report_healthy():
    report = pg_replication_report(ROWS, "0/3000000", expected=["pg2", "pg3"])
    assert report["problems"] == []
    assert report["replicas"]["pg2"] == {
        "state": "streaming",
        "sync_state": "async",
        "ssl": True,
        "lag_bytes": 0,
        "lag_seconds": 0.004,
    }
    assert report["replicas"]["pg3"]["lag_bytes"] == 0x1000000
    assert report["replicas"]["pg3"]["lag_seconds"] == 0.0


@pytest.mark.parametrize(
    ("rows", "kwargs", "problem"),
    [
        (ROWS[:1], {"expected": ["pg2", "pg3"]}, "pg3 is not connected"),
        ([dict(ROWS[0], state="catchup")], {}, "pg2 is catchup, not streaming"),
        (ROWS, {"max_lag_bytes": 1024}, "pg3 is 16777216 bytes behind"),
        ([dict(ROWS[0], replay_lag_s=45.5)], {}, "pg2 replays 45.5 s behind"),
        ([dict(ROWS[0], ssl=False)], {}, "pg2 streams without TLS"),
    ],
)
def test_report_problems(rows, kwargs, problem):
    report = pg_replication_report(rows, "0/3000000", **kwargs)
    assert any(problem in p for p in report["problems"]), report["problems"]


def test_replication_report_flags_invalidated_slots():
    from pg_lsn import pg_replication_report

    rows = [{"name": "pg2", "state": "streaming", "replay_lsn": "0/3000000", "ssl": True}]
    slots = [
        {"name": "pg2", "active": True, "wal_status": "reserved", "invalidation_reason": None},
        {
            "name": "pg3",
            "active": True,
            "wal_status": "unreserved",
            "invalidation_reason": "wal_removed",
        },
        {"name": "pg4", "active": False, "wal_status": "lost", "invalidation_reason": None},
    ]
    report = pg_replication_report(rows, "0/3000000", expected=["pg2"], slots=slots)
    assert report["slots"]["pg3"]["invalidation_reason"] == "wal_removed"
    assert [p for p in report["problems"] if p.startswith("slot ")] == [
        "slot pg3 was invalidated (wal_removed): it keeps no WAL for its replica; site.yml "
        "recreates it and the replica catches up from the archive",
        "slot pg4 was invalidated (wal_status lost): it keeps no WAL for its replica; site.yml "
        "recreates it and the replica catches up from the archive",
    ]


def test_replication_report_healthy_slots_are_not_problems():
    from pg_lsn import pg_replication_report

    slots = [{"name": "pg2", "active": True, "wal_status": "reserved", "invalidation_reason": None}]
    rows = [{"name": "pg2", "state": "streaming", "replay_lsn": "0/3000000", "ssl": True}]
    assert pg_replication_report(rows, "0/3000000", expected=["pg2"], slots=slots)["problems"] == []


def test_history_last_is_the_fork_of_the_newest_timeline():
    from pg_lsn import pg_history_last

    text = (
        "1\t0/3000148\tno recovery target specified\n\n2\t0/5000A0\tno recovery target specified\n"
    )
    assert pg_history_last(text) == {"timeline": 2, "lsn": "0/5000A0"}


def test_history_last_refuses_garbage():
    from pg_lsn import pg_history_last

    for bad in ("", "# only a comment\n", "x\t0/1\n", "1\tnot-an-lsn\n", None):
        with pytest.raises(AnsibleFilterError):
            pg_history_last(bad)
