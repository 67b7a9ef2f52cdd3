"""The role READMEs are generated from meta/argument_specs.yml (scripts/role-docs.py): a
README that differs from its role's specification fails here."""

import re
from pathlib import Path

import pytest
import yaml
from conftest import load_script

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def docs():
    return load_script("role_docs", ROOT / "scripts/role-docs.py")


def test_every_role_readme_matches_its_argument_specs(docs):
    wanted = docs.roles(ROOT)
    assert len(wanted) == len(list(ROOT.glob("roles/*/meta/argument_specs.yml")))
    stale = [
        str(path.relative_to(ROOT))
        for path, text in wanted.items()
        if not path.exists() or path.read_text() != text
    ]
    assert not stale, f"out of date, run scripts/role-docs.py: {stale}"


def test_every_option_of_a_role_is_in_its_readme():
    text = (ROOT / "roles/postgresql_server/README.md").read_text()
    specs = yaml.safe_load((ROOT / "roles/postgresql_server/meta/argument_specs.yml").read_text())
    for name in specs["argument_specs"]["main"]["options"]:
        assert f"| `{name}` |" in text


def test_render_defaults_required_secrets_choices_and_pipes(docs):
    text = docs.render(
        "demo",
        {
            "argument_specs": {
                "main": {
                    "short_description": "A demo",
                    "description": ["First paragraph,", "second."],
                    "options": {
                        "demo_list": {"type": "list", "elements": "str", "default": ["a"]},
                        "demo_mode": {"type": "str", "choices": ["x", "y"], "default": "x"},
                        "demo_pass": {
                            "type": "str",
                            "no_log": True,
                            "description": "Its password.",
                        },
                        "demo_need": {"type": "int", "required": True, "description": "a | b"},
                        "demo_empty": {"type": "str", "default": ""},
                    },
                }
            }
        },
    )
    assert "# Role `demo`" in text
    assert '| `demo_list` | list of str | `["a"]` |' in text
    assert "| `demo_mode` | str: `x`, `y` | `x` |" in text
    assert (
        "| `demo_pass` | str | unset | Its password. Secret: from the vault, never logged. |"
        in text
    )
    assert "| `demo_need` | int | required | a \\| b |" in text
    assert '| `demo_empty` | str | `""` |' in text


def test_an_entry_point_sharing_mains_options_says_so(docs):
    options = {"demo_x": {"type": "int", "default": 1}}
    text = docs.render(
        "demo",
        {
            "argument_specs": {
                "main": {"options": options},
                "seed": {"short_description": "Seed it", "options": options},
                "other": {"options": {"demo_y": {"type": "bool", "default": False}}},
            }
        },
    )
    seed = text.split("## Entry point `seed`")[1].split("## Entry point")[0]
    assert "Takes the same variables as `main`." in seed
    assert "demo_x" not in seed
    assert "| `demo_y` | bool | `false` |" in text


def test_a_role_without_entry_points_is_refused(docs):
    with pytest.raises(ValueError, match=re.escape("roles/demo/meta/argument_specs.yml")):
        docs.render("demo", {"argument_specs": {}})


def test_check_mode_names_a_stale_readme(docs, tmp_path, capsys):
    role = tmp_path / "roles/demo"
    (role / "meta").mkdir(parents=True)
    (role / "meta/argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    options:\n      demo_x: {type: int, default: 1}\n"
    )
    assert docs.main(["--check"], tmp_path) == 1
    assert "roles/demo/README.md" in capsys.readouterr().err
    assert not (role / "README.md").exists()
    assert docs.main([], tmp_path) == 0
    assert "| `demo_x` | int | `1` |" in (role / "README.md").read_text()
    assert docs.main(["--check"], tmp_path) == 0
