"""The promotion hook runs once, and its failure stops no host.

roles/postgresql_ha/tasks/hook.yml is run the way the failover and switchover run it, on
three local stand-in hosts, with a hook that works and one that fails. A failing hook is
reported loudly (the play's result stays successful: the promotion stands), and every host
goes on to the steps after it with the same outcome recorded for the report.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

INVENTORY = """\
all:
  hosts:
    pg1: {ansible_connection: local}
    pg2: {ansible_connection: local}
    pg3: {ansible_connection: local}
"""

PLAYBOOK = """\
- name: A promotion, then the hook
  hosts: all
  gather_facts: false
  vars:
    __postgresql_ha_event: failover
    __postgresql_ha_old: pg1
    __postgresql_ha_new: pg2
    __postgresql_ha_hook: not configured
  tasks:
    - name: Hook
      ansible.builtin.include_tasks: "{ROOT}/roles/postgresql_ha/tasks/hook.yml"

    - name: After the hook
      ansible.builtin.debug:
        msg: "AFTER {{{{ inventory_hostname }}}} hook={{{{ __postgresql_ha_hook }}}}"
"""

HOOKS = {
    "ok": """\
- name: Test hook | Runs
  ansible.builtin.debug:
    msg: >-
      HOOK RAN {{ postgresql_ha_event }} {{ postgresql_ha_new_primary }}
      from {{ postgresql_ha_old_primary }}
""",
    "failing": """\
- name: Test hook | Runs
  ansible.builtin.debug:
    msg: >-
      HOOK RAN {{ postgresql_ha_event }} {{ postgresql_ha_new_primary }}
      from {{ postgresql_ha_old_primary }}

- name: Test hook | Fails
  ansible.builtin.fail:
    msg: the DNS API said no
""",
}


def run_hook(tmp_path: Path, hook: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "inventory.yml").write_text(INVENTORY)
    (tmp_path / "hook.yml").write_text(HOOKS[hook])
    (tmp_path / "play.yml").write_text(PLAYBOOK.format(ROOT=ROOT))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    return subprocess.run(
        [
            "ansible-playbook",
            "-i",
            str(tmp_path / "inventory.yml"),
            str(tmp_path / "play.yml"),
            "-e",
            f"postgresql_ha_promotion_hook={tmp_path / 'hook.yml'}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("hook", "outcome"),
    [("ok", "hook=ok"), ("failing", "hook=FAILED: the DNS API said no")],
)
def test_hook_runs_once_and_every_host_goes_on(tmp_path, hook, outcome):
    result = run_hook(tmp_path, hook)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert output.count('"msg": "HOOK RAN failover pg2 from pg1"') == 1, output
    for host in ("pg1", "pg2", "pg3"):
        assert f"AFTER {host} {outcome}" in output, output
    assert ("THE PROMOTION HOOK FAILED" in output) == (hook == "failing"), output
