"""pgbackrest filters: R2 preset, repository validation, conf rendering, queue size, info,
stanza-create hints, status and the status report."""

import json

import pytest
from ansible.errors import AnsibleFilterError

from pgbackrest import (
    FilterModule,
    pgbackrest_conf_lines,
    pgbackrest_gate_hints,
    pgbackrest_holes_report,
    pgbackrest_info,
    pgbackrest_queue_max,
    pgbackrest_r2_endpoint,
    pgbackrest_repo_check,
    pgbackrest_status,
    pgbackrest_status_report,
)

ACCOUNT = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("jurisdiction", "host"),
    [
        ("default", f"{ACCOUNT}.r2.cloudflarestorage.com"),
        ("eu", f"{ACCOUNT}.eu.r2.cloudflarestorage.com"),
        ("fedramp", f"{ACCOUNT}.fedramp.r2.cloudflarestorage.com"),
    ],
)
def test_r2_endpoint(jurisdiction, host):
    assert pgbackrest_r2_endpoint(ACCOUNT, jurisdiction) == host


@pytest.mark.parametrize(
    ("account", "jurisdiction", "message"),
    [
        ("", "default", "pgbackrest_r2_account_id"),
        ("0123456789ABCDEF0123456789ABCDEF", "default", "32 lowercase hex"),
        (ACCOUNT + "0", "default", "pgbackrest_r2_account_id"),
        (ACCOUNT, "us", "pgbackrest_r2_jurisdiction"),
    ],
)
def test_r2_endpoint_invalid(account, jurisdiction, message):
    with pytest.raises(AnsibleFilterError, match=message):
        pgbackrest_r2_endpoint(account, jurisdiction)


GOOD = {
    "type": "r2",
    "endpoint": f"{ACCOUNT}.r2.cloudflarestorage.com",
    "region": "auto",
    "bucket": "learning-backups",
    "path": "/pgbackrest/learning",
    "uri_style": "path",
    "key": "k" * 32,
    "key_secret": "s" * 64,
    "cipher_pass": "p" * 48,
    "retention_full": 2,
}


def test_repo_check_good():
    assert pgbackrest_repo_check(GOOD) is True
    assert pgbackrest_repo_check(dict(GOOD, type="s3", endpoint="r2", region="eu-west-1"))
    assert pgbackrest_repo_check(dict(GOOD, type="s3", endpoint="minio.internal:9000"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "gcs"}, "pgbackrest_repo_type"),
        (
            {"endpoint": f"https://{ACCOUNT}.r2.cloudflarestorage.com"},
            "pgbackrest_s3_endpoint.*without a scheme",
        ),
        ({"endpoint": "host/path"}, "pgbackrest_s3_endpoint"),
        ({"endpoint": ""}, "pgbackrest_s3_endpoint"),
        ({"endpoint": "bad_host!"}, "pgbackrest_s3_endpoint"),
        ({"region": "us-east-1"}, "pgbackrest_s3_region.*R2 needs 'auto'"),
        ({"bucket": "Learning"}, "pgbackrest_bucket"),
        ({"bucket": "ab"}, "pgbackrest_bucket"),
        ({"bucket": "a--b"}, "pgbackrest_bucket"),
        ({"path": "pgbackrest"}, "pgbackrest_repo_path"),
        ({"path": "/"}, "pgbackrest_repo_path"),
        ({"uri_style": "virtual"}, "pgbackrest_s3_uri_style"),
        ({"key": ""}, "pgbackrest_s3_key"),
        ({"key_secret": "short"}, "pgbackrest_s3_key_secret"),
        ({"cipher_pass": "p" * 31}, "pgbackrest_cipher_pass.*at least 32"),
        ({"cipher_pass": None}, "pgbackrest_cipher_pass"),
        ({"retention_full": 0}, "pgbackrest_retention_full"),
        ({"retention_full": "2"}, "pgbackrest_retention_full"),
    ],
)
def test_repo_check_invalid(change, message):
    with pytest.raises(AnsibleFilterError, match=message):
        pgbackrest_repo_check(dict(GOOD, **change))


def test_secrets_never_in_messages():
    with pytest.raises(AnsibleFilterError) as err:
        pgbackrest_repo_check(dict(GOOD, cipher_pass="secret-but-short"))
    assert "secret-but-short" not in str(err.value)


@pytest.mark.parametrize(
    ("fs_bytes", "expected"),
    [
        (80 * 1024**3, "16GiB"),
        (25 * 1024**3, "5GiB"),
        (3 * 1024**3, "1GiB"),  # floor
        (10 * 1024**3 + 512 * 1024**2, "2150MiB"),
    ],
)
def test_queue_max(fs_bytes, expected):
    assert pgbackrest_queue_max(fs_bytes) == expected


@pytest.mark.parametrize("fs_bytes", [0, -1, "80G", True])
def test_queue_max_invalid(fs_bytes):
    with pytest.raises(AnsibleFilterError):
        pgbackrest_queue_max(fs_bytes)


def test_conf_lines():
    lines = pgbackrest_conf_lines(
        {
            "global": {
                "repo1-type": "s3",
                "archive-async": True,
                "process-max": 2,
                "repo1-storage-ca-file": None,
            },
            "global:archive-push": {"process-max": 2},
            "main": {"pg1-path": "/var/lib/postgresql/17/main"},
        }
    )
    assert lines == [
        "[global]",
        "archive-async=y",
        "process-max=2",
        "repo1-type=s3",
        "",
        "[global:archive-push]",
        "process-max=2",
        "",
        "[main]",
        "pg1-path=/var/lib/postgresql/17/main",
    ]


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"global": {"Repo1-Type": "s3"}}, "not a pgBackRest option"),
        ({"global": {"repo1-path": "a\nb"}}, "single-line"),
        ({"global": {"repo1-path": ""}}, "single-line"),
        ({"bad section": {}}, "not a section"),
        ({"global": {"x": [1]}}, "cannot render list"),
    ],
)
def test_conf_lines_invalid(sections, message):
    with pytest.raises(AnsibleFilterError, match=message):
        pgbackrest_conf_lines(sections)


NOW = 1_800_000_000.0
HOUR = 3600

# What pgBackRest 2.5x prints for `--output=json info` of a healthy encrypted stanza with a
# full and a differential backup (one line in reality).
HEALTHY_INFO = """
[{"archive":[{"database":{"id":1,"repo-key":1},"id":"17-1",
   "max":"00000001000000000000000C","min":"000000010000000000000003"}],
  "backup":[
   {"archive":{"start":"000000010000000000000003","stop":"000000010000000000000003"},
    "backrest":{"format":5,"version":"2.54.2"},"database":{"id":1,"repo-key":1},
    "error":false,
    "info":{"delta":31457280,"repository":{"delta":4194304,"size":4194304},"size":31457280},
    "label":"20270110-011502F","link":null,"lsn":{"start":"0/3000028","stop":"0/3000138"},
    "prior":null,"reference":null,"tablespace":null,
    "timestamp":{"start":1799543702,"stop":1799544000},"type":"full"},
   {"archive":{"start":"00000001000000000000000A","stop":"00000001000000000000000A"},
    "backrest":{"format":5,"version":"2.54.2"},"database":{"id":1,"repo-key":1},
    "error":false,
    "info":{"delta":1048576,"repository":{"delta":262144,"size":4456448},"size":31457280},
    "label":"20270110-011502F_20270115-011503D","link":null,
    "lsn":{"start":"0/A000028","stop":"0/A000100"},
    "prior":"20270110-011502F","reference":["20270110-011502F"],"tablespace":null,
    "timestamp":{"start":1799975703,"stop":1799976000},"type":"diff"}],
  "cipher":"aes-256-cbc",
  "db":[{"id":1,"repo-key":1,"system-id":7459123456789012345,"version":"17"}],
  "name":"main",
  "repo":[{"cipher":"aes-256-cbc","key":1,"status":{"code":0,"message":"ok"}}],
  "status":{"code":0,"lock":{"backup":{"held":false},"restore":{"held":false}},"message":"ok"}}]
"""
FULL_STOP = 1799544000
DIFF_STOP = 1799976000

# The store answered but the repository could not be read: pgBackRest exits 0, the stanza
# says "other" and the repository's status carries the error.
UNREADABLE_INFO = json.dumps(
    [
        {
            "archive": [],
            "backup": [],
            "cipher": "none",
            "db": [],
            "name": "main",
            "repo": [
                {
                    "cipher": "none",
                    "key": 1,
                    "status": {
                        "code": 99,
                        "message": "[HostConnectError] unable to connect to "
                        "'store.lab:9000 (10.89.70.10)': [111] Connection refused",
                    },
                }
            ],
            "status": {"code": 99, "lock": {"backup": {"held": False}}, "message": "other"},
        }
    ]
)

# A stanza that was never created.
MISSING_INFO = json.dumps(
    [
        {
            "archive": [],
            "backup": [],
            "cipher": "none",
            "db": [],
            "name": "main",
            "repo": [
                {
                    "cipher": "none",
                    "key": 1,
                    "status": {"code": 1, "message": "missing stanza path"},
                }
            ],
            "status": {
                "code": 1,
                "lock": {"backup": {"held": False}},
                "message": "missing stanza path",
            },
        }
    ]
)


def test_filters_exported():
    assert sorted(FilterModule().filters()) == [
        "pgbackrest_conf_lines",
        "pgbackrest_gate_hints",
        "pgbackrest_holes_report",
        "pgbackrest_info",
        "pgbackrest_queue_max",
        "pgbackrest_r2_endpoint",
        "pgbackrest_repo_check",
        "pgbackrest_status",
        "pgbackrest_status_report",
    ]


def test_info_healthy():
    info = pgbackrest_info(HEALTHY_INFO)
    assert info["ok"] is True
    assert info["error"] is None
    assert info["stanza"] == "main"
    assert (info["status_code"], info["status_message"]) == (0, "ok")
    assert [b["label"] for b in info["backups"]] == [
        "20270110-011502F",
        "20270110-011502F_20270115-011503D",
    ]
    assert info["last_full"] == {
        "label": "20270110-011502F",
        "type": "full",
        "stop": FULL_STOP,
        "stop_utc": "2027-01-10 01:20:00Z",
        "size": 31457280,
        "repo_size": 4194304,
        "repo": 1,
        "error": False,
    }
    assert info["repos"] == {
        "1": {
            "backups": 2,
            "first_utc": info["backups"][0]["stop_utc"],
            "last_utc": "2027-01-15 01:20:00Z",
        }
    }
    assert info["last_diff"]["stop"] == DIFF_STOP
    assert info["last_incr"] is None
    assert info["has_backup"] is True
    assert info["repo_size"] == 4194304 + 262144
    assert info["wal_archive"] == {
        "min": "000000010000000000000003",
        "max": "00000001000000000000000C",
    }


def test_info_parsed_json_and_registered_result():
    expected = pgbackrest_info(HEALTHY_INFO)
    assert pgbackrest_info(json.loads(HEALTHY_INFO)) == expected
    result = {"changed": False, "rc": 0, "stdout": HEALTHY_INFO, "stderr": ""}
    assert pgbackrest_info(result) == expected


def test_info_failed_backups_do_not_count():
    stanzas = json.loads(HEALTHY_INFO)
    for backup in stanzas[0]["backup"]:
        backup["error"] = True
    info = pgbackrest_info(stanzas)
    assert info["ok"] is True
    assert info["backups"] == []
    assert info["has_backup"] is False
    assert info["last_full"] is None
    assert info["repo_size"] == 0


def test_info_repository_error_detail():
    info = pgbackrest_info(UNREADABLE_INFO)
    assert info["ok"] is True
    assert info["status_code"] == 99
    assert info["status_message"].startswith("other (repo1: [HostConnectError] unable to connect")
    assert info["has_backup"] is False
    assert info["wal_archive"] is None


def test_info_missing_stanza_path():
    info = pgbackrest_info(MISSING_INFO)
    assert (info["status_code"], info["status_message"]) == (1, "missing stanza path")


@pytest.mark.parametrize(
    ("args", "error"),
    [
        # the store is down: timeout(1) stops pgBackRest before it prints anything
        (("", 124), "pgbackrest info exited with 124 (timed out)"),
        (
            (
                "",
                82,
                "pgbackrest info",
                "ERROR: [082]: unable to load info file '/pgbackrest/archive/main/archive.info'\n"
                "       HTTP request failed with 403 (Forbidden)\n",
            ),
            "exited with 82: ERROR: [082]: unable to load info file",
        ),
        # not JSON, but the command failed: reported, not raised
        (("ERROR: something\n", 1), "exited with 1: ERROR: something"),
        (("", 0), "pgbackrest info printed nothing"),
        (("[]", 0), "pgbackrest info returned no stanza"),
        (("", None), "pgbackrest info did not run"),
        (({"changed": False, "skipped": True}, 0), "did not run (skipped)"),
        (
            ({"failed": True, "rc": 2, "msg": "[Errno 2] No such file or directory: b'timeout'"},),
            "exited with 2: [Errno 2] No such file",
        ),
    ],
)
def test_info_unreachable_never_raises(args, error):
    info = pgbackrest_info(*args)
    assert info["ok"] is False
    assert error in info["error"]
    assert info["backups"] == []
    assert info["has_backup"] is False
    assert info["stanza"] is None


def test_info_error_quotes_a_bounded_part_of_the_output():
    stderr = "\n".join(f"line {i} " + "x" * 100 for i in range(10))
    error = pgbackrest_info("", 1, stderr=stderr)["error"]
    assert error.startswith("pgbackrest info exited with 1: line 0 ")
    assert error.endswith("...")
    assert "line 3" not in error
    assert len(error) < 350
    # stdout is quoted only when stderr is empty
    assert pgbackrest_info("out", 1, stderr="err")["error"].endswith(": err")


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        ("WARN: no stanza\n", "seed info: the output is not JSON"),
        ('{"name": "main"}', "seed info: expected a JSON list of stanzas"),
        ("[1]", "seed info: expected a JSON list of stanzas"),
    ],
)
def test_info_not_json_raises(stdout, message):
    with pytest.raises(AnsibleFilterError, match=message):
        pgbackrest_info(stdout, 0, name="seed info")


def test_info_bad_exit_code():
    with pytest.raises(AnsibleFilterError, match="is not an exit code"):
        pgbackrest_info("[]", "zero")
    assert pgbackrest_info("[]", "0")["error"] == "pgbackrest info returned no stanza"


@pytest.mark.parametrize(
    ("output", "variables"),
    [
        (
            "ERROR: [039]: HTTP request failed with 403 (Forbidden):\n*** Response Content ***:\n"
            "<Error><Code>InvalidAccessKeyId</Code></Error>",
            ["pgbackrest_s3_key and pgbackrest_s3_key_secret"],
        ),
        ("<Code>SignatureDoesNotMatch</Code>", ["pgbackrest_s3_key and"]),
        # a HEAD request: no response body, only the status
        ("ERROR: [039]: HTTP request failed with 403 (Forbidden)", ["pgbackrest_s3_key and"]),
        ("<Code>AccessDenied</Code>", ["pgbackrest_s3_key and"]),
        (
            "ERROR: [039]: HTTP request failed with 404 (Not Found):\n<Code>NoSuchBucket</Code>",
            ["pgbackrest_bucket"],
        ),
        ("ERROR: [039]: HTTP request failed with 404 (Not Found)", ["pgbackrest_bucket"]),
        (
            "ERROR: [049]: unable to get address for 'nohost.example': [-2] Name or service "
            "not known",
            ["pgbackrest_s3_endpoint and pgbackrest_s3_ca_file"],
        ),
        (
            "ERROR: [049]: unable to connect to 'store.lab:9000': [111] Connection refused",
            ["pgbackrest_s3_endpoint"],
        ),
        (
            "ERROR: [095]: unable to verify certificate presented by 'store.lab:9000': "
            "[20] unable to get local issuer certificate",
            ["pgbackrest_s3_endpoint"],
        ),
        ("ERROR: [057]: timeout after 15000ms waiting for read", ["pgbackrest_s3_endpoint"]),
        (
            "ERROR: [095]: unable to load info file '/pgbackrest/archive/main/archive.info' or "
            "'/pgbackrest/archive/main/archive.info.copy':\n"
            "FileReadError: raised from remote: unable to decrypt ciphertext",
            ["pgbackrest_cipher_pass"],
        ),
    ],
)
def test_gate_hints(output, variables):
    hints = pgbackrest_gate_hints(output)
    assert len(hints) == len(variables), hints
    for hint, variable in zip(hints, variables, strict=True):
        assert hint.startswith(f"Check {variable}")


def test_gate_hints_sentences():
    assert pgbackrest_gate_hints(["HTTP 403", "NoSuchBucket", "TLS", "cipher"]) == [
        "Check pgbackrest_s3_key and pgbackrest_s3_key_secret (the store refused them).",
        "Check pgbackrest_bucket: the bucket does not exist.",
        "Check pgbackrest_s3_endpoint and pgbackrest_s3_ca_file (unreachable, or its "
        "certificate does not verify).",
        "Check pgbackrest_cipher_pass: the repository exists with another passphrase; "
        "pgBackRest will not make a second repository over it. Use the passphrase it was "
        "created with.",
    ]


@pytest.mark.parametrize("output", ["", None, [], "ERROR: [055]: unable to open missing file"])
def test_gate_hints_unknown(output):
    assert pgbackrest_gate_hints(output) == []


def _raw(backups, status_code=0):
    return [
        {
            "name": "main",
            "status": {"code": status_code, "message": "ok" if status_code == 0 else "error"},
            "archive": [{"min": "000000010000000000000001", "max": "000000010000000000000009"}],
            "backup": backups,
        }
    ]


def _info(backups, status_code=0):
    return pgbackrest_info(json.dumps(_raw(backups, status_code)))


def _backup(kind, stop, error=False, delta=1000):
    return {
        "label": f"L{stop}",
        "type": kind,
        "timestamp": {"start": stop - 60, "stop": stop},
        "info": {"size": 5000, "repository": {"delta": delta}},
        "error": error,
    }


ARCHIVER_OK = {
    "failed_count": 0,
    "last_failed_time": None,
    "last_failed_wal": None,
    "last_archived_time": NOW - 60,
    "last_archived_wal": "000000010000000000000009",
}


def test_status_healthy():
    report = pgbackrest_status(
        _info([_backup("full", NOW - 30 * HOUR), _backup("diff", NOW - 2 * HOUR)]), ARCHIVER_OK, NOW
    )
    assert report["problems"] == []
    assert report["last_full"]["stop"] == NOW - 30 * HOUR
    assert report["last_diff"]["stop"] == NOW - 2 * HOUR
    assert report["last_backup_age_h"] == 2.0
    assert report["last_full_age_h"] == 30.0
    assert report["repo_size"] == 2000
    assert report["last_archived_age_min"] == 1.0
    assert report["wal_archive"] == {
        "min": "000000010000000000000001",
        "max": "000000010000000000000009",
    }


@pytest.mark.parametrize(
    ("backups", "archiver", "problem"),
    [
        ([], ARCHIVER_OK, "no full backup"),
        ([_backup("full", NOW - 200 * HOUR)], ARCHIVER_OK, "last full backup is 200.0 h old"),
        ([_backup("full", NOW - 100 * HOUR)], ARCHIVER_OK, "last good backup is 100.0 h old"),
        # a failed (error) backup does not count as a good one
        (
            [_backup("full", NOW - 100 * HOUR), _backup("diff", NOW - HOUR, error=True)],
            ARCHIVER_OK,
            "last good backup is 100.0 h old",
        ),
        (
            [_backup("full", NOW - HOUR)],
            dict(
                ARCHIVER_OK,
                failed_count=7,
                last_failed_time=NOW - 30,
                last_failed_wal="00000001000000000000000A",
            ),
            "WAL archiving is failing: 7 failures",
        ),
        (
            [_backup("full", NOW - HOUR)],
            dict(ARCHIVER_OK, last_archived_time=NOW - 3600),
            "archived 60.0 min ago",
        ),
        ([_backup("full", NOW - HOUR)], None, "pg_stat_archiver could not be read"),
    ],
)
def test_status_problems(backups, archiver, problem):
    report = pgbackrest_status(_info(backups), archiver, NOW)
    assert any(problem in p for p in report["problems"]), report["problems"]


def test_status_recovered_archiver_is_healthy():
    # failures in the past, followed by successful archiving: healthy again
    archiver = dict(ARCHIVER_OK, failed_count=12, last_failed_time=NOW - 600, last_failed_wal="X")
    report = pgbackrest_status(_info([_backup("full", NOW - HOUR)]), archiver, NOW)
    assert report["problems"] == []


def test_status_unreachable_repository():
    report = pgbackrest_status(pgbackrest_info("", 124), ARCHIVER_OK, NOW)
    assert report["problems"] == [
        "the repository could not be read: pgbackrest info exited with 124 (timed out)"
    ]
    assert report["stanza"] is None
    assert report["last_backup_age_h"] is None
    report = pgbackrest_status(
        _info([_backup("full", NOW - HOUR)], status_code=99), ARCHIVER_OK, NOW
    )
    assert any("stanza status 99" in p for p in report["problems"])
    report = pgbackrest_status(pgbackrest_info(UNREADABLE_INFO), ARCHIVER_OK, NOW)
    assert report["problems"][0].startswith("stanza status 99: other (repo1: [HostConnectError]")


@pytest.mark.parametrize("raw", [_raw([]), HEALTHY_INFO, None])
def test_status_wants_pgbackrest_info(raw):
    with pytest.raises(AnsibleFilterError, match="expected the result of pgbackrest_info"):
        pgbackrest_status(raw, ARCHIVER_OK, NOW)


# --- the status report, from the registered results of the probes -----------------------------

SERVER_NOW = 1800000000.25  # the primary's clock, 2027-01-15 08:00Z
THRESHOLDS = {
    "max_full_age_hours": 192.0,
    "max_backup_age_hours": 26.0,
    "max_archive_age_minutes": 15.0,
    "max_lag_bytes": 67108864,
    "max_lag_seconds": 30.0,
}
INFO_RESULT = {"changed": False, "rc": 0, "stdout": HEALTHY_INFO, "stderr": ""}
ARCHIVER_RESULT = {
    "changed": False,
    "query": "SELECT ... FROM pg_stat_archiver",
    "rowcount": 1,
    "query_result": [
        {
            "failed_count": 0,
            "last_failed_wal": None,
            "last_failed_time": None,
            "archived_count": 42,
            "last_archived_wal": "00000001000000000000000C",
            "last_archived_time": SERVER_NOW - 90,
            "now": SERVER_NOW,
            "extensions": {"vector": "0.8.0"},
        }
    ],
}
REPLICATION_RESULT = {
    "changed": False,
    "rowcount": 1,
    "query_result": [
        {
            "current_lsn": "0/D000060",
            "rows": [
                {
                    "name": "pg2",
                    "state": "streaming",
                    "sync_state": "async",
                    "replay_lsn": "0/D000060",
                    "replay_lag_s": 0.0012,
                    "ssl": True,
                },
                {
                    "name": "pg3",
                    "state": "streaming",
                    "sync_state": "async",
                    "replay_lsn": "0/D000000",
                    "replay_lag_s": None,
                    "ssl": True,
                },
            ],
        }
    ],
}
JOBS_RESULT = {
    "changed": False,
    "rc": 0,
    "stdout": "last-success-diff 1799976000\nlast-success-full 1799544000",
    "stdout_lines": ["last-success-diff 1799976000", "last-success-full 1799544000"],
}
QUERY_FAILED = {
    "failed": True,
    "msg": 'unable to connect to database: connection to server on socket "/var/run/postgresql/'
    '.s.PGSQL.5432" failed: No such file or directory',
}


def _report(**change):
    args = {
        "info": INFO_RESULT,
        "archiver": ARCHIVER_RESULT,
        "replication": REPLICATION_RESULT,
        "jobs": JOBS_RESULT,
        "host": "pg1",
        "expected": ["pg2", "pg3"],
        "thresholds": THRESHOLDS,
    }
    args.update(change)
    return pgbackrest_status_report(**args)


def test_report_healthy():
    report = _report()
    assert report["problems"] == []
    assert report["host"] == "pg1"
    assert report["stanza"] == "main"
    assert report["last_full"]["label"] == "20270110-011502F"
    assert report["last_diff"]["stop_utc"] == "2027-01-15 01:20:00Z"
    assert report["last_backup_age_h"] == round((SERVER_NOW - DIFF_STOP) / 3600, 2)
    assert report["last_full_age_h"] == round((SERVER_NOW - FULL_STOP) / 3600, 2)
    assert report["archiver"] == {
        "failed_count": 0,
        "last_failed_wal": None,
        "last_failed_time": None,
        "archived_count": 42,
        "last_archived_wal": "00000001000000000000000C",
        "last_archived_time": SERVER_NOW - 90,
    }
    assert report["last_archived_age_min"] == 1.5
    assert report["replication"]["problems"] == []
    assert report["replication"]["replicas"]["pg2"]["lag_bytes"] == 0
    assert report["replication"]["replicas"]["pg3"] == {
        "state": "streaming",
        "sync_state": "async",
        "ssl": True,
        "lag_bytes": 0x60,
        "lag_seconds": 0.0,
    }
    assert report["jobs"] == {
        "last-success-diff": "1799976000",
        "last-success-full": "1799544000",
    }
    # Debian 13's pgvector 0.8.0 has both known advisories
    assert report["advisories"] == ["pgvector-959", "pgvector-hnsw-vacuum"]
    assert report["info_error"] == ""
    # the report is what status.yml writes as JSON
    assert json.loads(json.dumps(report)) == report
    assert sorted(report) == [
        "advisories",
        "archiver",
        "attempts",
        "backups",
        "host",
        "info_error",
        "jobs",
        "last_archived_age_min",
        "last_backup_age_h",
        "last_diff",
        "last_full",
        "last_full_age_h",
        "last_incr",
        "pending_restart",
        "problems",
        "replication",
        "repo_size",
        "repos",
        "stanza",
        "wal_archive",
    ]


def test_report_store_outage():
    # The store is down during writes: pgbackrest info times out, archiving fails.
    info = {"changed": False, "rc": 124, "stdout": "", "stderr": ""}
    archiver = json.loads(json.dumps(ARCHIVER_RESULT))
    archiver["query_result"][0].update(
        failed_count=9,
        last_failed_wal="00000001000000000000000E",
        last_failed_time=SERVER_NOW - 5,
    )
    report = _report(info=info, archiver=archiver)
    assert report["problems"] == [
        "the repository could not be read: pgbackrest info exited with 124 (timed out)",
        "WAL archiving is failing: 9 failures, last on 00000001000000000000000E",
    ]
    assert report["info_error"] == "pgbackrest info exited with 124 (timed out)"
    assert report["backups"] == []
    assert report["repo_size"] == 0


def test_report_info_error_is_stderr():
    stderr = "ERROR: [039]: HTTP request failed with 403 (Forbidden)\n"
    report = _report(info={"rc": 39, "stdout": "", "stderr": stderr})
    assert report["info_error"] == stderr.strip()
    assert "exited with 39: ERROR: [039]" in report["problems"][0]


def test_report_database_unreachable():
    # PostgreSQL is down: both queries failed (failed_when: false), the clock is the fallback.
    report = _report(archiver=QUERY_FAILED, replication=QUERY_FAILED, now=SERVER_NOW)
    assert report["problems"] == [
        "pg_stat_archiver could not be read (database unreachable)",
        "replication state could not be read",
    ]
    assert report["archiver"] is None
    assert report["advisories"] == []
    assert report["replication"] == {"replicas": {}, "problems": report["problems"][1:]}
    assert report["last_backup_age_h"] == round((SERVER_NOW - DIFF_STOP) / 3600, 2)


def test_report_replica_problems_are_merged():
    replication = json.loads(json.dumps(REPLICATION_RESULT))
    rows = replication["query_result"][0]["rows"]
    rows[1].update(replay_lsn="0/1000000", ssl=False)
    # as text, the way a json column comes back without the driver's decoding
    replication["query_result"][0]["rows"] = json.dumps(rows)
    report = _report(replication=replication, expected=["pg2", "pg3", "pg4"])
    assert report["problems"] == [
        f"pg3 is {0xD000060 - 0x1000000} bytes behind (limit 67108864)",
        "pg3 streams without TLS",
        "pg4 is not connected to the primary",
    ]
    assert report["replication"]["problems"] == report["problems"]


def test_report_thresholds_apply():
    report = _report(thresholds=dict(THRESHOLDS, max_backup_age_hours="6", max_lag_bytes="64"))
    assert report["problems"] == [
        f"last good backup is {report['last_backup_age_h']} h old (limit 6.0 h)",
        "pg3 is 96 bytes behind (limit 64)",
    ]


def test_report_jobs_forms():
    assert _report(jobs={"stdout": "", "stdout_lines": []})["jobs"] == {}
    assert _report(jobs=["last-failure-full 1799000000", "odd"])["jobs"] == {
        "last-failure-full": "1799000000",
        "odd": "",
    }
    assert _report(jobs="last-success-verify 1799500000\n")["jobs"] == {
        "last-success-verify": "1799500000"
    }


def test_report_jobs_from_pg_disk_facts():
    # pg_disk_facts' files: file name to content, an attempt's detail kept whole
    facts = {
        "changed": False,
        "files": {
            "last-success-diff": "1799976000\n",
            "last-attempt-full": "1799000000 failed store down",
        },
    }
    assert _report(jobs=facts)["jobs"] == {
        "last-success-diff": "1799976000",
        "last-attempt-full": "1799000000 failed store down",
    }
    assert _report(jobs={"changed": False, "files": {}})["jobs"] == {}


def test_report_extensions_as_text():
    archiver = json.loads(json.dumps(ARCHIVER_RESULT))
    archiver["query_result"][0]["extensions"] = '{"vector": "0.8.3"}'
    assert _report(archiver=archiver)["advisories"] == []


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        (None, "postgresql_cluster.status: expected a mapping"),
        (
            {k: v for k, v in THRESHOLDS.items() if k != "max_lag_bytes"},
            "max_lag_bytes: is missing",
        ),
        (dict(THRESHOLDS, max_lag_seconds="soon"), "max_lag_seconds: 'soon' is not a number"),
        (dict(THRESHOLDS, max_full_age_hours=True), "max_full_age_hours: is missing"),
    ],
)
def test_report_thresholds_invalid(thresholds, message):
    with pytest.raises(AnsibleFilterError, match=message):
        _report(thresholds=thresholds)


def test_report_rejects_non_json_info():
    with pytest.raises(AnsibleFilterError, match="the output is not JSON"):
        _report(info={"rc": 0, "stdout": "stanza: main\n    status: ok\n", "stderr": ""})


# --- the last attempt of each scheduled job ------------------------------------------------


def test_report_last_attempts():
    jobs = [
        "last-success-diff 1799976000",
        "last-attempt-diff 1799976000 ok",
        "last-attempt-verify 1799900000 ok",
        "last-attempt-full 1799990000 failed did not run: another job held the lock for 3600 s",
    ]
    report = _report(jobs=jobs)
    assert report["attempts"] == {
        "diff": {
            "at": 1799976000.0,
            "at_utc": "2027-01-15 01:20:00Z",
            "result": "ok",
            "detail": "",
        },
        "full": {
            "at": 1799990000.0,
            "at_utc": "2027-01-15 05:13:20Z",
            "result": "failed",
            "detail": "did not run: another job held the lock for 3600 s",
        },
        "verify": {
            "at": 1799900000.0,
            "at_utc": "2027-01-14 04:13:20Z",
            "result": "ok",
            "detail": "",
        },
    }
    assert report["problems"] == [
        "the last scheduled full backup (2027-01-15 05:13:20Z) failed: did not run: another job "
        "held the lock for 3600 s"
    ]


def test_report_failed_verify_is_a_problem():
    jobs = [
        "last-attempt-verify 1799900000 failed verify found errors: backup 20270110-011502F invalid"
    ]
    report = _report(jobs=jobs)
    assert report["problems"] == [
        "the last pgbackrest verify (2027-01-14 04:13:20Z) failed: verify found errors: "
        "backup 20270110-011502F invalid"
    ]


def test_report_attempt_lines_that_cannot_be_read():
    # an unreadable line is shown as it is, and is a problem: nobody knows what happened
    report = _report(jobs=["last-attempt-diff garbage"])
    assert report["attempts"]["diff"]["result"] == "unknown"
    assert report["problems"] == [
        "the last scheduled diff backup: unreadable record 'garbage' in the job state directory"
    ]


# --- holes in the WAL archive (postgresql-restore repo) ---------------------------------------

HOLE = {
    "timeline": 1,
    "first": "000000010000000000000005",
    "last": "000000010000000000000007",
    "segments": 3,
    "lsn_start": "0/5000000",
    "lsn_end": "0/8000000",
    "from_epoch": 1799600000,
    "from": "2027-01-10T18:53:20Z",
    "to_epoch": 1799700000,
    "to": "2027-01-11T22:40:00Z",
    "dropped_logged": True,
}


def _repo(holes, backups=None, ends=None, rc=0):
    stanza = json.loads(HEALTHY_INFO)[0]
    if backups is not None:
        stanza["backup"] = backups
    doc = {
        "info": stanza,
        "holes": holes,
        "ends": ends
        if ends is not None
        else {"1": {"segment": "00000001000000000000000C", "time": 1}},
        "dropped": [h["first"] for h in holes],
    }
    return {"changed": False, "rc": rc, "stdout": json.dumps(doc), "stderr": ""}


def test_holes_none():
    report = pgbackrest_holes_report(_repo([]), ARCHIVER_RESULT)
    assert report == {"checked": True, "holes": [], "problems": [], "warnings": [], "error": None}


def test_a_hole_with_no_backup_after_it_is_a_problem():
    # the differential backup started at 0/A000028, after the hole: take it away
    stanza = json.loads(HEALTHY_INFO)[0]
    report = pgbackrest_holes_report(_repo([HOLE], backups=stanza["backup"][:1]), ARCHIVER_RESULT)
    assert report["warnings"] == []
    assert len(report["problems"]) == 1
    problem = report["problems"][0]
    for says in (
        "0/5000000",
        "0/8000000",
        "2027-01-10T18:53:20Z",
        "2027-01-11T22:40:00Z",
        "000000010000000000000005",
        "000000010000000000000007",
        "full backup",
    ):
        assert says in problem, (says, problem)
    assert report["holes"][0]["after_backup"] is None


def test_a_hole_with_a_backup_after_it_is_a_warning():
    report = pgbackrest_holes_report(_repo([HOLE]), ARCHIVER_RESULT)
    assert report["problems"] == []
    assert report["warnings"] == [
        "targets between 2027-01-10T18:53:20Z and 2027-01-11T22:40:00Z cannot be restored: WAL "
        "dropped (timeline 1, LSN 0/5000000 to 0/8000000, segments 000000010000000000000005.."
        "000000010000000000000007); backups from 20270110-011502F_20270115-011503D on are not "
        "affected"
    ]
    assert report["holes"][0]["after_backup"] == "20270110-011502F_20270115-011503D"


def test_wal_counted_as_archived_but_missing_from_the_repository_is_a_problem():
    # PostgreSQL archived up to ...0C (the archiver row); the repository ends at ...09:
    # the segments after it were dropped and nothing newer arrived yet.
    ends = {"1": {"segment": "000000010000000000000009", "time": 1}}
    report = pgbackrest_holes_report(_repo([], ends=ends), ARCHIVER_RESULT)
    assert report["problems"] == [
        "PostgreSQL counts WAL up to 00000001000000000000000C as archived, but the repository "
        "ends at 000000010000000000000009 on timeline 1: pgBackRest dropped the segments after "
        "it (archive-push-queue-max); point-in-time recovery past it is broken until a new "
        "full backup"
    ]
    # a timeline the repository has no segment of yet, and a history file, are handled
    archiver = json.loads(json.dumps(ARCHIVER_RESULT))
    archiver["query_result"][0]["last_archived_wal"] = "000000020000000000000010"
    assert "timeline 2" in pgbackrest_holes_report(_repo([]), archiver)["problems"][0]
    archiver["query_result"][0]["last_archived_wal"] = "00000002.history"
    assert pgbackrest_holes_report(_repo([]), archiver)["problems"] == []


def test_holes_not_checked():
    skipped = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}
    assert pgbackrest_holes_report(skipped, ARCHIVER_RESULT) == {
        "checked": False,
        "holes": [],
        "problems": [],
        "warnings": [],
        "error": None,
    }
    failed = {
        "rc": 1,
        "stdout": json.dumps({"result": "failed", "problems": ["repo-ls: boom"]}),
        "stderr": "",
    }
    report = pgbackrest_holes_report(failed, ARCHIVER_RESULT)
    assert report["checked"] is False
    assert report["problems"] == ["the WAL archive could not be checked for holes: repo-ls: boom"]
    garbage = pgbackrest_holes_report({"rc": 1, "stdout": "Traceback", "stderr": "x"}, None)
    assert garbage["problems"] == ["the WAL archive could not be checked for holes: x"]


def test_a_hole_on_a_branch_the_current_timeline_left_is_not_reported():
    # Timeline 2 forked from timeline 1 at 0/5000000: a hole on timeline 1 after that point
    # (the old primary's last segments, pushed out of order when it died) is on no restore's
    # path along timeline 2; one before it is.
    report = json.loads(_repo([HOLE])["stdout"])
    report.update(timeline=2, history="1\t0/5000000\tno recovery target specified\n")
    result = pgbackrest_holes_report({"rc": 0, "stdout": json.dumps(report)}, None)
    assert result["problems"] == [] and result["warnings"] == []
    assert result["holes"][0]["on_history"] is False
    report.update(history="1\t0/9000000\tno recovery target specified\n")
    result = pgbackrest_holes_report({"rc": 0, "stdout": json.dumps(report)}, None)
    assert result["warnings"] and result["holes"][0]["on_history"] is True


def test_each_repository_has_its_window_during_a_cipher_rotation():
    old = _backup("full", NOW - 86400)
    new = {**_backup("full", NOW - 3600), "database": {"id": 1, "repo-key": 2}}
    info = _info([old, new])
    assert [b["repo"] for b in info["backups"]] == [1, 2]
    assert sorted(info["repos"]) == ["1", "2"]
    assert info["repos"]["2"]["backups"] == 1
    assert info["repos"]["2"]["first_utc"] == info["backups"][1]["stop_utc"]
