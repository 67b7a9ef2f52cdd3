"""pg_disk_status: the free space of each node's data and pg_wal filesystems (pg_wal may be
a link to another one) and the size of the archive spool, from what df and du printed."""

import pytest
from ansible.errors import AnsibleFilterError

from pg_disk import FilterModule, pg_disk_status

GIB = 1024**3
HEADER = "Mounted on        1B-blocks        Avail"


def _node(host, *rows, spool="4096\t/var/spool/pgbackrest", rc=0):
    lines = [HEADER, *rows] + ([spool] if spool else [])
    return {"item": host, "rc": rc, "stdout": "\n".join(lines), "stdout_lines": lines}


def test_filters_exported():
    assert sorted(FilterModule().filters()) == ["pg_disk_status"]


def test_healthy_nodes_one_filesystem_or_two():
    results = [
        _node("pg1", f"/ {100 * GIB} {40 * GIB}", f"/ {100 * GIB} {40 * GIB}"),
        # pg_wal is a link to a filesystem of its own
        _node("pg2", f"/ {100 * GIB} {50 * GIB}", f"/srv/pg wal {20 * GIB} {10 * GIB}", spool=None),
    ]
    report = pg_disk_status(results, 15)
    assert report["problems"] == []
    assert report["nodes"]["pg1"] == {
        "data": {
            "mount": "/",
            "size_bytes": 100 * GIB,
            "avail_bytes": 40 * GIB,
            "free_percent": 40.0,
        },
        "pg_wal": {
            "mount": "/",
            "size_bytes": 100 * GIB,
            "avail_bytes": 40 * GIB,
            "free_percent": 40.0,
        },
        "spool_bytes": 4096,
        "error": None,
    }
    assert report["nodes"]["pg2"]["pg_wal"]["mount"] == "/srv/pg wal"
    assert report["nodes"]["pg2"]["spool_bytes"] is None
    assert report["lines"] == [
        "pg1: data and pg_wal / 40.0 % free (40.0 of 100.0 GiB); spool 4.0 KiB",
        "pg2: data / 50.0 % free (50.0 of 100.0 GiB), pg_wal /srv/pg wal 50.0 % free "
        "(10.0 of 20.0 GiB); spool -",
    ]


def test_below_the_minimum_is_a_problem():
    results = [
        _node("pg1", f"/ {100 * GIB} {10 * GIB}", f"/ {100 * GIB} {10 * GIB}"),
        _node("pg2", f"/ {100 * GIB} {50 * GIB}", f"/wal {20 * GIB} {GIB}"),
    ]
    assert pg_disk_status(results, "15")["problems"] == [
        "pg1: the data and pg_wal filesystem / has 10.0 % free (10.0 of 100.0 GiB), below "
        "postgresql_cluster_status_min_free_percent (15)",
        "pg2: the pg_wal filesystem /wal has 5.0 % free (1.0 of 20.0 GiB), below "
        "postgresql_cluster_status_min_free_percent (15)",
    ]
    # a threshold no disk meets (the status test uses it to see the problem)
    assert len(pg_disk_status(results[1:], 99.9)["problems"]) == 2


def test_a_node_that_could_not_be_read_is_a_problem():
    results = [
        {"item": "pg2", "unreachable": True, "msg": "Failed to connect to the host via ssh"},
        _node("pg3", f"/ {100 * GIB} {50 * GIB}", spool=None),  # df found no pg_wal
        {"item": "pg4", "skipped": True},
    ]
    report = pg_disk_status(results, 15)
    assert report["problems"] == [
        "free space on pg2 could not be read: Failed to connect to the host via ssh",
        "free space on pg3 could not be read: expected df lines for the data directory and "
        "pg_wal, got 1",
    ]
    assert report["nodes"]["pg2"]["error"].startswith("Failed to connect")
    assert "pg4" not in report["nodes"]


@pytest.mark.parametrize("value", [None, "abc", True, -1, 100, 150])
def test_the_threshold_must_be_a_percentage(value):
    with pytest.raises(AnsibleFilterError, match="postgresql_cluster_status_min_free_percent"):
        pg_disk_status([], value)


def test_results_must_be_a_list():
    with pytest.raises(AnsibleFilterError, match="expected the results"):
        pg_disk_status({"results": []}, 15)


def _facts(host, data, wal, spool=4096):
    """What pg_disk_facts returns for one node: (target, size, avail) of data and pg_wal/."""
    return {
        "item": host,
        "changed": False,
        "filesystems": [
            {"path": p, "target": t, "size": size, "avail": avail}
            for p, (t, size, avail) in zip(["/d", "/d/pg_wal/"], [data, wal], strict=True)
        ],
        "sizes": {"/var/spool/pgbackrest": spool},
    }


def test_pg_disk_facts_results_read_as_df_output():
    facts = [
        _facts("pg1", ("/", 100 * GIB, 40 * GIB), ("/", 100 * GIB, 40 * GIB)),
        _facts("pg2", ("/", 100 * GIB, 50 * GIB), ("/srv/pg wal", 20 * GIB, GIB), spool=None),
    ]
    df = [
        _node("pg1", f"/ {100 * GIB} {40 * GIB}", f"/ {100 * GIB} {40 * GIB}"),
        _node("pg2", f"/ {100 * GIB} {50 * GIB}", f"/srv/pg wal {20 * GIB} {GIB}", spool=None),
    ]
    assert pg_disk_status(facts, 15) == pg_disk_status(df, 15)
    report = pg_disk_status(facts, 15)
    assert report["nodes"]["pg1"]["spool_bytes"] == 4096
    assert report["nodes"]["pg2"]["spool_bytes"] is None
    assert (
        len(report["problems"]) == 1
        and "pg2: the pg_wal filesystem /srv/pg wal" in report["problems"][0]
    )


def test_pg_disk_facts_failure_or_missing_filesystem_is_a_problem():
    failed = {
        "item": "pg1",
        "failed": False,
        "msg": "filesystems: [Errno 2] No such file or directory: '/d'",
    }
    one = _facts("pg2", ("/", 100 * GIB, 40 * GIB), ("/", 100 * GIB, 40 * GIB))
    one["filesystems"] = one["filesystems"][:1]
    report = pg_disk_status([failed, one], 15)
    assert (
        report["nodes"]["pg1"]["error"] == "filesystems: [Errno 2] No such file or directory: '/d'"
    )
    assert "got 1" in report["nodes"]["pg2"]["error"]
    assert len(report["problems"]) == 2
