"""Every module in library/ documents exactly the options its AnsibleModule accepts.

The argument_spec given to AnsibleModule (a dict literal in the module) and the options
of its DOCUMENTATION must name the same options, with the same type, choices and
default: a choice documented but not accepted fails on a host, in the middle of a play.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

LIBRARY = Path(__file__).resolve().parents[2] / "library"
MODULES = sorted(LIBRARY.glob("*.py"))


def _spec(tree: ast.Module) -> dict:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "AnsibleModule":
            for keyword in node.keywords:
                if keyword.arg == "argument_spec" and isinstance(keyword.value, ast.Dict):
                    return ast.literal_eval(keyword.value)
    return {}


def _documentation(tree: ast.Module) -> dict:
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DOCUMENTATION":
            return yaml.safe_load(ast.literal_eval(node.value))
    return {}


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_documented_options_are_the_accepted_ones(path):
    tree = ast.parse(path.read_text())
    spec = _spec(tree)
    documented = _documentation(tree).get("options") or {}
    if not spec:
        pytest.skip("argument_spec is not a literal in this module")
    assert sorted(documented) == sorted(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc.get("type", "str") == option.get("type", "str"), name
        assert doc.get("choices") == option.get("choices"), name
        if "default" in option:
            assert doc.get("default") == option["default"], name
