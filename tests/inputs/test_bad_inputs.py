"""Bad inventory values stop site.yml before any change, with a message naming the variable.

Each case runs the real site.yml in check mode with only the validation tags against a
local stand-in host (RELIABILITY.md, inputs). The valid baseline must pass, so a broken
harness cannot make every case look "refused".
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = Path(__file__).with_name("inventory.yml")


def run_site(extra_vars: dict) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    return subprocess.run(
        [
            "ansible-playbook",
            "-i",
            str(INVENTORY),
            str(ROOT / "site.yml"),
            "--check",
            "--tags",
            "validate",
            "-e",
            json.dumps(extra_vars),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_valid_inputs_pass():
    result = run_site({"postgresql_server_idle_in_transaction_session_timeout": "30s"})
    assert result.returncode == 0, result.stdout + result.stderr


BAD = [
    pytest.param(
        {"postgresql_server_idle_in_transaction_session_timeout": "30 seconds"},
        ["postgresql_server_idle_in_transaction_session_timeout", "'30 seconds'", "5min"],
        id="timeout-with-words",
    ),
    pytest.param(
        {"postgresql_server_log_min_duration_statement": "1.5s"},
        ["postgresql_server_log_min_duration_statement"],
        id="fractional-duration",
    ),
    pytest.param(
        {"postgresql_server_port": "five-four-three-two"},
        ["postgresql_server_port", "int"],
        id="port-not-int",
    ),
    pytest.param(
        {"postgresql_server_storage": "nvme"},
        ["postgresql_server_storage", "ssd, hdd, network"],
        id="storage-unknown-choice",
    ),
    pytest.param(
        {"postgresql_server_settings": {"work_mem": "16 megabytes"}},
        ["postgresql_server_settings", "work_mem"],
        id="setting-bad-size",
    ),
    pytest.param(
        {"postgresql_server_settings": {"ssl": False}},
        ["postgresql_server_settings must not set"],
        id="setting-overrides-baseline",
    ),
    pytest.param(
        {
            "postgresql_server_hba_entries": [
                {"databases": ["app"], "users": ["app"], "address": "0.0.0.0/0", "method": "trust"}
            ]
        },
        ["postgresql_server_hba_entries", "method"],
        id="hba-trust",
    ),
    pytest.param(
        {
            "postgresql_server_hba_entries": [
                {"databases": ["app"], "users": ["postgres"], "address": "10.0.0.0/8"}
            ]
        },
        ["postgresql_server_hba_entries[0].users", "superuser"],
        id="hba-remote-superuser",
    ),
    pytest.param(
        {
            "postgresql_server_hba_entries": [
                {"databases": ["app"], "users": ["app"], "address": "10.0.0.1"}
            ]
        },
        ["postgresql_server_hba_entries[0].address", "CIDR"],
        id="hba-address-not-cidr",
    ),
    pytest.param(
        {
            "postgresql_access_roles": [
                {"name": "analytics", "settings": {"statement_timeout": "5 minutes"}}
            ]
        },
        ["postgresql_access_roles[0].settings['statement_timeout']", "'5 minutes'"],
        id="role-timeout-with-words",
    ),
    pytest.param(
        {
            "postgresql_access_roles": [{"name": "app"}],
            "postgresql_access_databases": [
                {"name": "learning", "owner": "app", "grants": [{"role": "ai", "access": "select"}]}
            ],
        },
        ["postgresql_access_databases[0].grants[0].role", "not a present role"],
        id="grant-to-undeclared-role",
    ),
    pytest.param(
        {"postgresql_access_roles": [{"name": "app", "password": "short"}]},
        ["postgresql_access_roles[0].password", "16 characters"],
        id="short-password",
    ),
    pytest.param(
        {"pgbackrest_cipher_pass": "too-short-passphrase"},
        ["pgbackrest_cipher_pass", "at least 32 characters"],
        id="short-repository-passphrase",
    ),
    pytest.param(
        {
            "pgbackrest_s3_endpoint": "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"
        },
        ["pgbackrest_s3_endpoint", "without a scheme"],
        id="endpoint-with-scheme",
    ),
    pytest.param(
        {
            "pgbackrest_repo_type": "r2",
            "pgbackrest_r2_account_id": "0123456789abcdef0123456789abcdef",
            "pgbackrest_s3_endpoint": "0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
            "pgbackrest_s3_region": "us-east-1",
        },
        ["pgbackrest_s3_region", "R2 needs 'auto'"],
        id="r2-region-not-auto",
    ),
    pytest.param(
        {
            "pgbackrest_repo_type": "r2",
            "pgbackrest_r2_account_id": "not-an-account",
            "pgbackrest_s3_endpoint": "{{ pgbackrest_r2_account_id | pgbackrest_r2_endpoint }}",
        },
        ["pgbackrest_r2_account_id", "32 lowercase hex"],
        id="r2-bad-account-id",
    ),
    pytest.param(
        {"pgbackrest_retention_full": "two"},
        ["pgbackrest_retention_full"],
        id="retention-not-int",
    ),
    pytest.param(
        {"postgresql_server_memory_mb": 100},
        ["memtotal_mb", "256"],
        id="memory-too-small",
    ),
]


@pytest.mark.parametrize(("extra_vars", "expected"), BAD)
def test_bad_input_is_refused_naming_the_variable(extra_vars, expected):
    result = run_site(extra_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for text in expected:
        assert text in output, f"{text!r} not in output:\n{output}"
