"""Every exported filter has its documentation next to it, ansible-core style.

filter_plugins/<filter>.yml holds DOCUMENTATION, EXAMPLES and RETURN (what ansible-doc -t
filter shows); its options are the filter's parameters, and no documentation file is left
for a filter that is no longer exported.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
import yaml

FILTER_PLUGINS = Path(__file__).resolve().parents[2] / "filter_plugins"
MODULES = sorted(path.stem for path in FILTER_PLUGINS.glob("*.py"))
FILTERS = {
    filter_name: (module, function)
    for module in MODULES
    for filter_name, function in importlib.import_module(module).FilterModule().filters().items()
}


def _doc(filter_name: str) -> dict:
    path = FILTER_PLUGINS / f"{filter_name}.yml"
    assert path.is_file(), f"{filter_name} (from {FILTERS[filter_name][0]}.py) has no {path.name}"
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("filter_name", sorted(FILTERS))
def test_filter_is_documented(filter_name):
    doc = _doc(filter_name)
    assert set(doc) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}
    documentation = doc["DOCUMENTATION"]
    assert documentation["name"] == filter_name
    assert documentation["short_description"].strip()
    assert documentation["description"]
    assert "_input" in documentation["options"]
    assert documentation["positional"].split(",")[0].strip() == "_input"
    assert isinstance(doc["EXAMPLES"], str) and filter_name in doc["EXAMPLES"]
    assert doc["RETURN"]["_value"]["description"]
    assert doc["RETURN"]["_value"]["type"]


@pytest.mark.parametrize("filter_name", sorted(FILTERS))
def test_documented_options_are_the_parameters(filter_name):
    documentation = _doc(filter_name)["DOCUMENTATION"]
    parameters = list(inspect.signature(FILTERS[filter_name][1]).parameters)
    positional = [p.strip() for p in documentation["positional"].split(",")]
    # The input is the first parameter; the other positional ones keep their names.
    assert positional[1:] == parameters[1 : len(positional)]
    assert set(documentation["options"]) - {"_input"} == set(parameters[1:])


def test_no_documentation_without_a_filter():
    orphans = sorted(path.name for path in FILTER_PLUGINS.glob("*.yml") if path.stem not in FILTERS)
    assert orphans == []
