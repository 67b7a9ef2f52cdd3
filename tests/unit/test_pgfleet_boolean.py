"""pgfleet.boolean: the one parser of the true/false values operators type."""

from pathlib import Path

import pytest

from pgfleet import boolean
from pgfleet.boolean import FALSE, TRUE, is_bool, parse_bool
from pgfleet.errors import InputError


@pytest.mark.parametrize(
    "value",
    [True, 1, "true", "yes", "on", "1", "TRUE", "Yes", "On", " true ", "\tyes\n"],
)
def test_true(value):
    assert parse_bool(value) is True
    assert is_bool(value)


@pytest.mark.parametrize(
    "value",
    [False, 0, "false", "no", "off", "0", "FALSE", "No", "OFF", " off "],
)
def test_false(value):
    assert parse_bool(value) is False
    assert is_bool(value)


@pytest.mark.parametrize(
    "value",
    [
        "ture",
        "",
        " ",
        "maybe",
        "y",
        "n",
        "t",
        "f",
        "2",
        "-1",
        "1.0",
        "truee",
        "yes please",
        2,
        -1,
        1.0,
        0.0,
        None,
        [],
        ["true"],
        {},
        {"true": 1},
        b"true",
    ],
)
def test_anything_else_is_refused_naming_the_variable(value):
    with pytest.raises(InputError) as error:
        parse_bool(value, "failover_force")
    message = str(error.value)
    assert message.startswith(f"failover_force: {value!r} is not a true/false value")
    assert "true, yes, on, 1" in message
    assert "false, no, off, 0" in message
    assert not is_bool(value)


def test_default_name():
    with pytest.raises(InputError, match=r"^value: 'ture'"):
        parse_bool("ture")


def test_input_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse_bool("ture")


def test_the_two_lists_do_not_overlap():
    assert set(TRUE).isdisjoint(FALSE)
    assert all(text == text.strip().lower() for text in TRUE + FALSE)


def test_no_ansible_import():
    # pgfleet runs on hosts and in modules too: it never imports Ansible.
    source = Path(boolean.__file__).read_text()
    assert "ansible" not in source.lower()
