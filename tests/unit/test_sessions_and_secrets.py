"""What every session the project opens, and every task that handles a secret, must do,
checked on the code itself (the security molecule fault proves the behaviour on hosts):

- every play that works on PostgreSQL hosts sets PGOPTIONS to the cluster definition's
  session options, and those resolve names only in pg_catalog;
- the host tools that open sessions set the same options themselves;
- no task hands a secret to a process through its environment (PGPASSWORD and the like),
  nothing in the repository uses PGPASSWORD or a conninfo password;
- a task that renders or copies a file holding a secret hides both its result and its
  diff (no_log and diff: false).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SAFE = "search_path=pg_catalog,pg_temp"
SESSION_ENV = "{{ postgresql_cluster.session_options }}"
# Plays that open no session on PostgreSQL: etcd's (it runs before the cluster is loaded).
NO_SESSION_PLAYS = {
    "PostgreSQL | etcd, the consensus store of Patroni (postgresql_ha_engine patroni)"
}


def _plays(path: Path) -> list[dict]:
    return [
        p for p in yaml.safe_load(path.read_text()) or [] if isinstance(p, dict) and "hosts" in p
    ]


PLAYBOOKS = [*sorted((ROOT / "playbooks").glob("*.yml")), ROOT / "lab/demo.yml"]


def test_the_session_options_resolve_names_only_in_pg_catalog():
    cluster = yaml.safe_load((ROOT / "roles/postgresql_cluster/vars/main.yml").read_text())
    options = cluster["postgresql_cluster"]["session_options"]
    assert f"-c {SAFE}" in options.split(" -c ") or options.startswith(f"-c {SAFE}")
    assert "synchronous_commit=local" in options


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_play_on_postgresql_hosts_sets_the_session_options(path):
    for play in _plays(path):
        if play["name"] in NO_SESSION_PLAYS or "postgresql" not in str(play["hosts"]):
            continue
        env = play.get("environment") or {}
        assert env.get("PGOPTIONS") == SESSION_ENV, (
            f"{path.name}: play {play['name']!r} must set environment PGOPTIONS: {SESSION_ENV!r}"
        )


def test_the_host_tools_set_the_session_options_themselves():
    job = (ROOT / "roles/pgbackrest/templates/usr/local/sbin/pgbackrest-scheduled.j2").read_text()
    assert "export PGOPTIONS={{ postgresql_cluster.session_options | quote }}" in job
    # The Python host tools take them from the one session helper, pgfleet.session.
    from pgfleet import session

    assert session.SESSION_OPTIONS.startswith(f"-c {SAFE}")
    restore = (ROOT / "roles/postgresql_restore/files/postgresql-restore").read_text()
    assert "from pgfleet import lsn, session" in restore
    assert "SESSION_OPTIONS = session.SESSION_OPTIONS" in restore
    assert 'os.environ["PGOPTIONS"] = SESSION_OPTIONS' in restore
    fence = (ROOT / "roles/postgresql_server/files/postgresql-fence-check").read_text()
    assert "PGOPTIONS = session.SESSION_OPTIONS" in fence


# --------------------------------------------------------------------------- secrets
_SOURCES = [
    p
    for d in (
        "roles",
        "playbooks",
        "lab",
        "molecule",
        "bench",
        "scripts",
        "filter_plugins",
        "library",
        "module_utils",
    )
    for p in sorted((ROOT / d).rglob("*"))
    if p.is_file()
    and p.suffix in {".yml", ".yaml", ".j2", ".py", ".sh", ""}
    and "__pycache__" not in p.parts
]


@pytest.mark.parametrize("path", _SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_password_through_the_environment_or_a_conninfo(path):
    text = path.read_text(errors="replace")
    assert "PGPASSWORD" not in text, (
        f"{path}: a password in the environment shows in ps and sudo's log"
    )
    assert not re.search(r"\bpassword=\{\{|\bpassword=\$|password=\{password", text), (
        f"{path}: a password inside a connection string reaches a command line; use a passfile"
    )


def _tasks(node):
    """Every task mapping in a tasks file, blocks included."""
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        if "block" in node:
            for key in ("block", "rescue", "always"):
                yield from _tasks(node.get(key) or [])
        elif "name" in node or any("." in k for k in node):
            yield node
            for key in ("tasks", "handlers", "pre_tasks", "post_tasks"):
                yield from _tasks(node.get(key) or [])


_TASK_FILES = (
    sorted((ROOT / "roles").glob("*/tasks/*.yml"))
    + sorted((ROOT / "roles").glob("*/handlers/*.yml"))
    + PLAYBOOKS
)
_SECRET_NAME = re.compile(r"password|passphrase|secret|cipher|token|s3_key", re.I)


@pytest.mark.parametrize("path", _TASK_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_secret_in_a_tasks_environment(path):
    for task in _tasks(yaml.safe_load(path.read_text()) or []):
        env = task.get("environment")
        if not isinstance(env, dict):
            continue
        for key, value in env.items():
            assert not _SECRET_NAME.search(str(key)), (
                f"{path}: {task.get('name')}: {key} in the environment"
            )
            assert not _SECRET_NAME.search(str(value)), (
                f"{path}: {task.get('name')}: environment {key} carries a secret ({value})"
            )


@pytest.mark.parametrize("path", _TASK_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_file_holding_a_secret_is_written_with_no_log_and_no_diff(path):
    for task in _tasks(yaml.safe_load(path.read_text()) or []):
        module = next(
            (k for k in task if k in ("ansible.builtin.template", "ansible.builtin.copy")), None
        )
        if not module or not task.get("no_log"):
            continue
        assert task.get("diff") is False, (
            f"{path}: {task.get('name')}: it hides a secret from the log (no_log) but --diff would "
            "print it: add diff: false"
        )
