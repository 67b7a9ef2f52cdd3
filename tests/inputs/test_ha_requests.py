"""Bad requests to the on-call playbooks stop before any host is touched.

switchover.yml, failover.yml, rejoin.yml, restore.yml, restore_drill.yml, diagnose.yml and
rotate.yml check the request (-e ...) in their first task, on the controller. Each bad
request must fail there, with a message naming the variable and the expected form: no host
is probed, no Python traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = Path(__file__).with_name("inventory.yml")
CHECK_TASKS = (
    "Request | The inventory settings",
    "Request | Check the request",
    "Inputs | Restore and drill settings",
    "Inputs | The weekly drill schedule",
    "Diagnose | diagnose is one of",
    "Rotate | The request",
)
LATER_TASKS = (
    "Reach | SSH port",
    "Topology | Probe",
    "Gates",
    "Refusals",
    "Repository |",
    "Preflight |",
    "Diagnose | Read the primary",
)


def run(playbook: str, extra_vars: dict) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    return subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), str(ROOT / "playbooks" / playbook)]
        + (["-e", json.dumps(extra_vars)] if extra_vars else []),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


BAD = [
    pytest.param(
        "rotate.yml",
        {},
        ["Rotation refused, nothing was changed", "rotate is not set"],
        id="rotate-missing",
    ),
    pytest.param(
        "rotate.yml",
        {"rotate": "replicator"},
        ["'replicator' is not something rotate.yml rotates", "role:app", "replication, rewind"],
        id="rotate-unknown",
    ),
    pytest.param(
        "rotate.yml",
        {"rotate": "role:nobody"},
        ["'role:nobody' names no application login role", "the roles are migrator, app"],
        id="rotate-unknown-role",
    ),
    pytest.param(
        "rotate.yml",
        {"rotate": "patroni_restapi", "rotate_confirm": "patroni_restapi"},
        ["rotate: patroni_restapi is Patroni's REST API password", "no REST API to rotate"],
        id="rotate-restapi-streaming",
    ),
    pytest.param(
        "rotate.yml",
        {"rotate": "tls_ca", "rotate_confirm": "tls_ca", "postgresql_server_tls_mode": "provided"},
        ["tls_ca rotates the CA the project manages (postgresql_server_tls_mode: managed)"],
        id="rotate-ca-provided",
    ),
    pytest.param(
        "rotate.yml",
        {"rotate": "repo_cipher", "rotate_confirm": "repo_cipher", "pgbackrest_repo_path_next": ""},
        ["pgbackrest_repo_path_next: missing", "a new path in the same bucket"],
        id="rotate-repo-path-next-missing",
    ),
    pytest.param(
        "rotate.yml",
        {"rotate": "replication", "postgresql_replica_password_next": ""},
        ["postgresql_replica_password_next: missing; put the new secret in the vault"],
        id="rotate-next-missing",
    ),
    pytest.param(
        "rotate.yml",
        {
            "rotate": "replication",
            "rotate_confirm": "replication",
            "postgresql_replica_password": "the-same-secret-123",
            "postgresql_replica_password_next": "the-same-secret-123",
        },
        ["postgresql_replica_password_next: the same as the current secret"],
        id="rotate-next-same",
    ),
    pytest.param(
        "rotate.yml",
        {"rotate_finish": "replication", "rotate_confirm": "replication"},
        ["rotate_finish: replication ends in one run and has nothing to finish"],
        id="rotate-finish-one-phase",
    ),
    pytest.param(
        "rotate.yml",
        {"rotate": "r2_keys", "postgresql_ha_engine": "patroni"},
        ["is not built yet under Patroni"],
        id="rotate-under-patroni",
    ),
    pytest.param(
        "rotate.yml",
        {"rotate": "role:migrator", "rotate_confirm": "role:migrator"},
        ["postgresql_access_roles[migrator].password_next: missing", "never takes a secret"],
        id="rotate-role-next-missing",
    ),
    pytest.param(
        "diagnose.yml",
        {},
        ["diagnose is not set", "locks, connections, space, replication, queries"],
        id="diagnose-missing",
    ),
    pytest.param(
        "diagnose.yml",
        {"diagnose": "lock"},
        ["diagnose: 'lock' is not one of locks, connections, space, replication, queries"],
        id="diagnose-unknown",
    ),
    pytest.param(
        "switchover.yml", {}, ["switchover_to is required", "input-probe"], id="switchover-missing"
    ),
    pytest.param(
        "switchover.yml",
        {"switchover_to": "pg9"},
        ["switchover_to=pg9 is not a host of the postgresql group", "expected one of input-probe"],
        id="switchover-unknown",
    ),
    pytest.param("failover.yml", {}, ["failover_from is required"], id="failover-missing"),
    pytest.param(
        "failover.yml",
        {"failover_from": "db1; rm -rf /"},
        ["failover_from=db1; rm -rf / is not a host of the postgresql group"],
        id="failover-unknown",
    ),
    pytest.param(
        "failover.yml",
        {"failover_from": "input-probe", "failover_to": "input-probe"},
        ["failover_to=input-probe is the failed primary itself"],
        id="failover-to-itself",
    ),
    pytest.param(
        "failover.yml",
        {"failover_from": "input-probe", "failover_force": "maybe"},
        ["failover_force must be true or false; got maybe"],
        id="failover-force-not-bool",
    ),
    pytest.param(
        "failover.yml",
        {"failover_from": "input-probe", "failover_force": 2},
        ["failover_force must be true or false; got 2."],
        id="failover-force-two",
    ),
    pytest.param(
        "failover.yml",
        {"failover_from": ["input-probe"]},
        ["is not a host of the postgresql group"],
        id="failover-list",
    ),
    pytest.param("rejoin.yml", {}, ["rejoin_host is required"], id="rejoin-missing"),
    pytest.param(
        "rejoin.yml", {"rejoin_host": "PG1"}, ["rejoin_host=PG1 is not a host"], id="rejoin-unknown"
    ),
    pytest.param(
        "failover.yml",
        {"failover_from": "input-probe", "postgresql_ha_backup_type": "weekly"},
        ["postgresql_ha_backup_type", "weekly"],
        id="backup-type-choice",
    ),
    pytest.param(
        "switchover.yml",
        {"switchover_to": "input-probe", "postgresql_ha_switchover_promote_wait": -5},
        ["postgresql_ha_switchover_promote_wait must be whole seconds from 0 to 3600", "got -5"],
        id="switchover-promote-wait-negative",
    ),
    pytest.param(
        "switchover.yml",
        {"switchover_to": "input-probe", "postgresql_ha_switchover_max_lag_bytes": "16MB"},
        ["postgresql_ha_switchover_max_lag_bytes", "int"],
        id="max-lag-not-int",
    ),
    pytest.param(
        "restore.yml",
        {"restore_target_time": "2026-11-28 04:30:00"},
        ["restore_target_time='2026-11-28 04:30:00' has no time zone", "Restore refused"],
        id="restore-time-without-zone",
    ),
    pytest.param(
        "restore.yml",
        {"restore_target_time": "2026-11-28"},
        ["is only a date", "Quote the whole time"],
        id="restore-time-split-by-the-shell",
    ),
    pytest.param(
        "restore.yml",
        {
            "restore_target_time": "2026-11-28 04:30:00+00",
            "restore_target_name": "before-migration",
        },
        ["Set at most one recovery target", "restore_target_time, restore_target_name"],
        id="restore-two-targets",
    ),
    pytest.param(
        "restore.yml",
        {"restore_target_lsn": "3000060"},
        ["restore_target_lsn='3000060' is not an LSN", "X/Y"],
        id="restore-lsn-form",
    ),
    pytest.param(
        "restore.yml",
        {"restore_mode": "side"},
        ["restore_mode=side needs restore_host=NAME"],
        id="restore-side-without-host",
    ),
    pytest.param(
        "restore.yml",
        {"restore_mode": "side", "restore_host": "pg9"},
        ["restore_host=pg9 is not a host of the postgresql group"],
        id="restore-side-unknown-host",
    ),
    pytest.param(
        "restore.yml",
        {"restore_target_time": "2026-11-28 04:30:00+00", "restore_confirm": "pg9"},
        ["restore_confirm=pg9 is not a host of the postgresql group"],
        id="restore-confirm-unknown",
    ),
    pytest.param(
        "restore.yml",
        {"restore_confirm": "input-probe", "restore_hosts_down": "input-probe, pg9"},
        [
            "restore_hosts_down=input-probe, pg9: pg9 is not a host of the postgresql group",
            "the members that do not answer, comma-separated",
        ],
        id="restore-hosts-down-unknown",
    ),
    pytest.param(
        "restore.yml",
        {"restore_side_drop": True},
        ["restore_side_drop=true needs restore_mode=side"],
        id="restore-drop-without-side",
    ),
    pytest.param(
        "restore.yml",
        {"restore_accept_loss": "ture", "restore_side_drop": ""},
        [
            "restore_side_drop must be true or false; got .",
            "restore_accept_loss must be true or false; got ture.",
        ],
        id="restore-switches-not-bool",
    ),
    pytest.param(
        "restore.yml",
        {
            "restore_mode": "side",
            "restore_host": "input-probe",
            "postgresql_restore_side_port": 5432,
        },
        ["postgresql_restore_side_port=5432 is the production port"],
        id="restore-side-port-is-production",
    ),
    pytest.param(
        "restore_drill.yml",
        {"drill_host": "pg9"},
        ["drill_host=pg9 is not a host of the postgresql group"],
        id="drill-unknown-host",
    ),
    pytest.param(
        "restore_drill.yml",
        {"postgresql_restore_drill_schedule": "weekly"},
        ["postgresql_restore_drill_schedule"],
        id="drill-schedule-form",
    ),
]


@pytest.mark.parametrize(("playbook", "extra_vars", "expected"), BAD)
def test_bad_request_stops_before_any_host(playbook, extra_vars, expected):
    result = run(playbook, extra_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert any(task in output for task in CHECK_TASKS), output
    for text in expected:
        assert text in output, f"{text!r} not in output:\n{output}"
    for task in LATER_TASKS:
        assert task not in output, f"{task} ran:\n{output}"
    assert "Traceback" not in output, output
