"""pgbackrest filters: R2 preset, repository validation, conf rendering, queue size, status."""

import pytest
from ansible.errors import AnsibleFilterError

from pgbackrest import (
    pgbackrest_conf_lines,
    pgbackrest_queue_max,
    pgbackrest_r2_endpoint,
    pgbackrest_repo_check,
    pgbackrest_status,
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


def _info(backups, status_code=0):
    return [
        {
            "name": "main",
            "status": {"code": status_code, "message": "ok" if status_code == 0 else "error"},
            "archive": [{"min": "000000010000000000000001", "max": "000000010000000000000009"}],
            "backup": backups,
        }
    ]


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
    assert "no stanza" in pgbackrest_status([], ARCHIVER_OK, NOW)["problems"][0]
    report = pgbackrest_status(
        _info([_backup("full", NOW - HOUR)], status_code=99), ARCHIVER_OK, NOW
    )
    assert any("stanza status 99" in p for p in report["problems"])
