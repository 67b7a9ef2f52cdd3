"""The contract between roles: what one role may read of another, and which of its task
files another may run.

- A role's private variables (`__<role>_...`) are read and set by that role only. Another
  role's tasks, handlers, templates, defaults or vars that name one, and a playbook that
  names any, break the contract: the role publishes the value instead, as a documented
  fact or variable without the `__` prefix (e.g. `postgresql_node`).
- An include_role/import_role with `tasks_from` (in roles/, playbooks/ or site.yml) runs
  an entry point that the target role declares in its meta/argument_specs.yml (`main` is
  always allowed), so it is documented and its inputs are checked.

Every violation is reported with its file and line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# Where a role keeps what Ansible reads (files/ and library/ hold host-side programs).
ROLE_PARTS = ("tasks", "handlers", "templates", "defaults", "vars", "meta")
INCLUDE_KEYS = {
    "include_role",
    "import_role",
    "ansible.builtin.include_role",
    "ansible.builtin.import_role",
}
PRIVATE = re.compile(r"(?<![A-Za-z0-9_])__([a-z][a-z0-9_]*)")


def role_names(root: Path = ROOT) -> list[str]:
    """The roles, longest name first (postgresql_server before a shorter prefix)."""
    names = [p.name for p in (root / "roles").iterdir() if p.is_dir()]
    return sorted(names, key=len, reverse=True)


def owner_of(name: str, roles: list[str]) -> str | None:
    """The role whose private prefix `__<role>_` a variable name (without the `__`) has."""
    for role in roles:
        if name.startswith(role + "_"):
            return role
    return None


def private_references(text: str, roles: list[str], own: str | None) -> list[tuple[int, str]]:
    """(line, variable) for every `__<role>_` name in `text` that belongs to a role other
    than `own` (own None: a playbook, where every role's private name is foreign)."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in PRIVATE.finditer(line):
            role = owner_of(match.group(1), roles)
            if role is not None and role != own:
                found.append((number, "__" + match.group(1)))
    return found


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that keeps each mapping's first line as the key `__line__`."""


def _mapping(loader, node, deep=False):
    mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=deep)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def role_includes(data) -> list[tuple[int, str, str]]:
    """(line, role, tasks_from) for every include_role/import_role in parsed task YAML."""
    found = []
    if isinstance(data, list):
        for item in data:
            found += role_includes(item)
    elif isinstance(data, dict):
        for key, value in data.items():
            if key in INCLUDE_KEYS and isinstance(value, dict):
                entry = str(value.get("tasks_from", "main"))
                entry = re.sub(r"\.ya?ml$", "", entry)
                found.append((value.get("__line__", data["__line__"]), str(value["name"]), entry))
            elif key != "__line__":
                found += role_includes(value)
    return found


def entry_points(role: str, root: Path = ROOT) -> set[str]:
    spec = root / "roles" / role / "meta" / "argument_specs.yml"
    if not spec.exists():
        return {"main"}
    return {"main", *(yaml.safe_load(spec.read_text()).get("argument_specs") or {})}


def undeclared_entry_points(path: Path, root: Path = ROOT) -> list[str]:
    """The include_role/import_role targets in one YAML file that their role does not
    declare, as 'file:line: role:tasks_from ...'."""
    data = yaml.load(path.read_text(), Loader=_LineLoader)  # a SafeLoader
    rel = path.relative_to(root)
    out = []
    for line, role, entry in role_includes(data):
        if "{{" in role or "{{" in entry:
            out.append(f"{rel}:{line}: {role}:{entry} is templated; name the entry point")
        elif not (root / "roles" / role).is_dir():
            out.append(f"{rel}:{line}: {role} is not a role of this repository")
        elif entry not in entry_points(role, root):
            out.append(
                f"{rel}:{line}: {role}:{entry} is not an entry point declared in "
                f"roles/{role}/meta/argument_specs.yml"
            )
    return out


def role_files(root: Path = ROOT) -> list[tuple[str, Path]]:
    out = []
    for role in sorted((root / "roles").iterdir()):
        for part in ROLE_PARTS:
            base = role / part
            if base.is_dir():
                out += [(role.name, p) for p in sorted(base.rglob("*")) if p.is_file()]
    return out


def playbook_files(root: Path = ROOT) -> list[Path]:
    return [root / "site.yml", *sorted((root / "playbooks").rglob("*.yml"))]


def private_violations(root: Path = ROOT) -> list[str]:
    roles = role_names(root)
    out = []
    for own, path in role_files(root):
        for line, name in private_references(path.read_text(), roles, own):
            out.append(
                f"{path.relative_to(root)}:{line}: {own} names {name}, private to another role"
            )
    for path in playbook_files(root):
        for line, name in private_references(path.read_text(), roles, None):
            out.append(
                f"{path.relative_to(root)}:{line}: a playbook names {name}, private to a role"
            )
    return out


def entry_point_violations(root: Path = ROOT) -> list[str]:
    out = []
    yaml_files = [p for _, p in role_files(root) if p.suffix in (".yml", ".yaml")]
    for path in yaml_files + playbook_files(root):
        if "templates" in path.relative_to(root).parts:
            continue
        out += undeclared_entry_points(path, root)
    return out


# --- the repository ----------------------------------------------------------------------


def test_no_role_or_playbook_names_another_roles_private_variables():
    found = private_violations()
    assert not found, f"{len(found)} cross-role private references:\n" + "\n".join(found)


def test_every_cross_role_entry_point_is_declared():
    found = entry_point_violations()
    assert not found, f"{len(found)} undeclared entry points:\n" + "\n".join(found)


# --- the checks themselves, on a small made-up repository ---------------------------------


@pytest.fixture
def repo(tmp_path):
    def write(rel, text):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    write("site.yml", "---\n- ansible.builtin.import_playbook: playbooks/a.yml\n")
    write(
        "roles/alpha/meta/argument_specs.yml",
        "argument_specs:\n  main: {options: {}}\n  client: {options: {}}\n",
    )
    write("roles/alpha_beta/meta/argument_specs.yml", "argument_specs:\n  main: {options: {}}\n")
    write("roles/alpha/tasks/main.yml", "---\n- ansible.builtin.debug: {msg: '{{ __alpha_x }}'}\n")
    write(
        "roles/alpha_beta/tasks/main.yml",
        "---\n- ansible.builtin.debug: {msg: '{{ __alpha_beta_y }}'}\n",
    )
    write("playbooks/a.yml", "---\n- hosts: all\n  vars: {__local: 1}\n  tasks: []\n")
    return tmp_path, write


def test_clean_repository_has_no_violation(repo):
    root, _ = repo
    assert private_violations(root) == []
    assert entry_point_violations(root) == []


def test_longest_role_prefix_owns_a_name(repo):
    root, write = repo
    # __alpha_beta_y belongs to alpha_beta, not alpha: alpha naming it breaks the contract.
    write("roles/alpha/templates/x.j2", "a\n{{ __alpha_beta_y }}\n")
    assert private_violations(root) == [
        "roles/alpha/templates/x.j2:2: alpha names __alpha_beta_y, private to another role"
    ]


@pytest.mark.parametrize(
    "part", ["tasks/other.yml", "handlers/main.yml", "defaults/main.yml", "vars/main.yml"]
)
def test_a_role_registering_or_reading_another_roles_name_is_reported(repo, part):
    root, write = repo
    write(f"roles/alpha_beta/{part}", "---\n# fine\n- register: __alpha_trust\n")
    assert private_violations(root) == [
        f"roles/alpha_beta/{part}:3: alpha_beta names __alpha_trust, private to another role"
    ]


def test_a_playbook_naming_a_private_variable_is_reported(repo):
    root, write = repo
    write("playbooks/b.yml", "---\n- hosts: all\n  tasks:\n    - debug: {var: __alpha_x}\n")
    assert private_violations(root) == [
        "playbooks/b.yml:4: a playbook names __alpha_x, private to a role"
    ]


def test_undeclared_tasks_from_is_reported_with_its_line(repo):
    root, write = repo
    write(
        "playbooks/c.yml",
        "---\n- hosts: all\n  tasks:\n"
        "    - ansible.builtin.import_role: {name: alpha, tasks_from: client}\n"
        "    - ansible.builtin.import_role: {name: alpha}\n"
        "    - name: x\n      ansible.builtin.include_role:\n        name: alpha\n"
        "        tasks_from: secret.yml\n",
    )
    write(
        "roles/alpha_beta/tasks/x.yml",
        "---\n- block:\n    - include_role: {name: alpha_beta, tasks_from: inner}\n",
    )
    assert entry_point_violations(root) == [
        "roles/alpha_beta/tasks/x.yml:3: alpha_beta:inner is not an entry point declared in "
        "roles/alpha_beta/meta/argument_specs.yml",
        "playbooks/c.yml:8: alpha:secret is not an entry point declared in "
        "roles/alpha/meta/argument_specs.yml",
    ]
