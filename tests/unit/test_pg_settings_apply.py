"""pg_settings_apply: a value that waits for a restart is not mistaken for a wrong one."""

import pytest
from ansible.errors import AnsibleFilterError

from pg_settings_apply import pg_file_problems, pg_restart_summary, pg_settings_refused


def row(name, error, context, problem=None):
    return {"name": name, "error": error, "context": context, "problem": problem or f"x: {error}"}


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([], []),
        # postgresql_query reports a query that returned no rows as {}.
        ({}, []),
        (None, []),
        ([row("shared_buffers", "setting could not be applied", "postmaster")], []),
        ([row("max_connections", "setting could not be applied", "postmaster")], []),
        (
            [
                row(
                    "work_mem",
                    'invalid value for parameter "work_mem": "16 megabytes"',
                    "user",
                    "a:3: bad",
                )
            ],
            ["a:3: bad"],
        ),
        # A setting that applies at reload cannot be "waiting for a restart".
        ([row("work_mem", "setting could not be applied", "user", "a:4: w")], ["a:4: w"]),
        # Unknown parameter names and pg_hba errors have no pg_settings context.
        ([row("no_such", "unrecognized configuration parameter", None, "a:5: u")], ["a:5: u"]),
        (
            [{"problem": "pg_hba.conf:9: invalid CIDR", "error": "invalid CIDR"}],
            ["pg_hba.conf:9: invalid CIDR"],
        ),
        (
            [
                row("shared_buffers", "setting could not be applied", "postmaster"),
                row("port", 'invalid value for parameter "port": "70000"', "postmaster", "a:1: p"),
            ],
            ["a:1: p"],
        ),
    ],
)
def test_file_problems(rows, expected):
    assert pg_file_problems(rows) == expected


@pytest.mark.parametrize("bad", ["text", [1, 2], {"a": 1}])
def test_file_problems_rejects_non_rows(bad):
    with pytest.raises(AnsibleFilterError, match="pg_file_settings"):
        pg_file_problems(bad)


def test_restart_summary():
    rows = [
        {"name": "max_connections", "current": "100", "new": "120"},
        {"name": "shared_buffers", "current": "128MB", "new": "200MB"},
        {"name": "wal_level", "current": "replica", "new": None},
    ]
    assert pg_restart_summary(rows) == (
        "max_connections 100 -> 120, shared_buffers 128MB -> 200MB, wal_level replica -> (default)"
    )


def test_restart_summary_needs_names():
    with pytest.raises(AnsibleFilterError, match="no setting name"):
        pg_restart_summary([{"current": "1"}])


PROTECTED = ["password_encryption", "log_connections", "shared_preload_libraries"]
PREFIXES = ["include", "ssl", "pgaudit."]
OWNED = {"archive_timeout": "pgbackrest_archive_timeout", "port": "postgresql_cluster_port"}


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, []),
        ({"work_mem": "16MB", "log_min_duration_statement": "500ms"}, []),
        (
            {"archive_timeout": "1min"},
            ["['archive_timeout']: archive_timeout is set by pgbackrest_archive_timeout"],
        ),
        ({"port": 5433}, ["set by postgresql_cluster_port"]),
        ({"log_connections": False}, ["security baseline"]),
        ({"include_dir": "/tmp"}, ["['include_dir']", "security baseline"]),
        ({"include": "/etc/x.conf"}, ["security baseline"]),
        ({"ssl_max_protocol_version": "TLSv1"}, ["security baseline"]),
        ({"pgaudit.log": "none"}, ["security baseline"]),
    ],
)
def test_settings_refused(settings, expected):
    reasons = pg_settings_refused(settings, PROTECTED, PREFIXES, OWNED)
    assert bool(reasons) == bool(expected)
    for text in expected:
        assert any(text in reason for reason in reasons), reasons
    assert all(r.startswith("postgresql_server_settings[") for r in reasons)


def test_settings_refused_needs_a_mapping():
    with pytest.raises(AnsibleFilterError, match="postgresql_server_settings"):
        pg_settings_refused(["work_mem"], PROTECTED)
