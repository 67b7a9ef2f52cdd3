"""The code that acts on hosts is Python (modules in library/, host tools), not shell.

roles/ and playbooks/ keep at most SHELL_BUDGET `shell` tasks, each with a one-line
`# shell: <why>` comment right above the `ansible.builtin.shell:` key, and no YAML holds
Python (`python3 -c`) or a heredoc.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHELL_BUDGET = 10
YAML = sorted(p for d in ("roles", "playbooks") for p in (ROOT / d).rglob("*.yml") if p.is_file())


def _shell_tasks() -> list[tuple[str, int, str]]:
    found = []
    for path in YAML:
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if re.match(r"\s*(ansible\.builtin\.)?shell:", line):
                above = lines[i - 1].strip() if i else ""
                found.append((str(path.relative_to(ROOT)), i + 1, above))
    return found


def test_at_most_the_budget_of_shell_tasks():
    tasks = _shell_tasks()
    assert len(tasks) <= SHELL_BUDGET, "\n".join(f"{f}:{n}" for f, n, _ in tasks)


def test_every_shell_task_says_why():
    missing = [f"{f}:{n}" for f, n, above in _shell_tasks() if not above.startswith("# shell: ")]
    assert not missing, "shell tasks without a '# shell: <why>' line above:\n" + "\n".join(missing)


def test_no_python_or_heredoc_inside_yaml():
    bad = []
    for path in YAML:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"python3? +(-c|-)( |$)|<<-?\s*['\"]?[A-Z_]+['\"]?", line):
                bad.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not bad, "\n".join(bad)
