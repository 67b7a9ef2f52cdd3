"""Nothing from the inventory reaches a root shell unquoted.

Every ``{{ ... }}`` inside a ``shell`` task of the roles and playbooks must end in
``quote`` (or quote each item with ``map('quote')`` before joining them). A host address,
a path or a name that holds a quote or a ``;`` then stays one word for the shell.
"""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(
    [
        *ROOT.glob("roles/*/tasks/*.yml"),
        *ROOT.glob("roles/*/handlers/*.yml"),
        *ROOT.glob("playbooks/*.yml"),
    ]
)
EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.S)
QUOTED = re.compile(r"(\|\s*quote|map\('quote'\)\s*\|\s*join\([^)]*\))\s*$")


def _shell_commands(tasks):
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        for key in ("block", "rescue", "always", "tasks"):
            yield from _shell_commands(task.get(key))
        for module in ("ansible.builtin.shell", "shell"):
            if module in task:
                args = task[module]
                yield task.get("name", "?"), args["cmd"] if isinstance(args, dict) else args


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_shell_expressions_are_quoted(path):
    for name, cmd in _shell_commands(yaml.safe_load(path.read_text())):
        for expression in EXPRESSION.findall(cmd):
            assert QUOTED.search(" ".join(expression.split())), (
                f"{path.relative_to(ROOT)}: task {name!r} puts {{{{{expression.strip()}}}}} into a "
                "shell command without quote"
            )


def test_the_check_sees_an_unquoted_expression():
    tasks = [{"name": "t", "ansible.builtin.shell": {"cmd": "psql -h {{ ansible_host }}"}}]
    ((_name, cmd),) = _shell_commands(tasks)
    assert not QUOTED.search(EXPRESSION.findall(cmd)[0].strip())
