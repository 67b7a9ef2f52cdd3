"""The filter files share code only through the pgfleet package (module_utils/pgfleet).

Ansible loads every file of filter_plugins/ by its path, under a module name of its own,
without putting the directory on sys.path. So no filter file imports another one: what two
of them need lives once in pgfleet, which the project installs into its virtualenv
(requirements.txt, ``-e .``), and which the modules and host tools import too. Nothing
touches sys.path.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILTER_PLUGINS = ROOT / "filter_plugins"
FILES = sorted(FILTER_PLUGINS.glob("*.py"))
SIBLINGS = {path.stem for path in FILES}
# The ansible next to this Python (the project's venv), else the one on PATH.
ANSIBLE = shutil.which("ansible", path=str(Path(sys.executable).parent)) or "ansible"


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_no_file_is_loaded_by_path(path):
    assert "importlib" not in _imported(path)
    assert "spec_from_file_location" not in path.read_text()


def test_no_filter_file_imports_another_or_touches_sys_path():
    for path in FILES:
        assert not (_imported(path) & SIBLINGS) - {path.stem}, path.name
        assert "sys.path" not in path.read_text(), path.name


def test_shared_code_comes_from_pgfleet():
    # The pieces more than one caller needs are imported from the package, not copied.
    needs = {
        "pg_access": {"pgfleet"},
        "pg_config": {"pgfleet"},
        "pg_lsn": {"pgfleet"},
        "pgbackrest": {"pgfleet"},
        "pg_restore": {"pgfleet"},
        "pg_failover": {"pgfleet"},
    }
    for stem, wanted in needs.items():
        assert wanted <= _imported(FILTER_PLUGINS / f"{stem}.py"), stem


def test_filters_work_under_ansible(tmp_path):
    # pg_access_roles_sql renders role settings with pg_config, which checks durations with
    # pg_units; pg_access_password_sql computes verifiers with pg_scram.
    roles = [{"name": "app", "password": "x" * 20, "settings": {"statement_timeout": "5 s"}}]
    expression = f"{roles!r} | pg_access_roles_sql({{}}) + {roles!r} | pg_access_password_sql({{}})"
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "PYTHONPATH" and not key.startswith("ANSIBLE_")
    }
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    debug = json.dumps({"msg": "{{ " + expression + " }}"})
    result = subprocess.run(
        [ANSIBLE, "-i", "localhost,", "-c", "local", "localhost", "-m", "debug", "-a", debug],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "ALTER ROLE \\\"app\\\" SET statement_timeout = '5s'" in output
    assert 'ALTER ROLE \\"app\\" PASSWORD \'SCRAM-SHA-256$4096:' in output
    assert "WARNING" not in output
