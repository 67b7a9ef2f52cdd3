import re
from collections import OrderedDict

import pytest
from ansible.errors import AnsibleFilterError

import pg_config
from pg_config import pg_conf_lines, pg_conf_value

VALID_VALUES = [
    (True, "on"),
    (False, "off"),
    (0, "0"),
    (1, "1"),
    (200, "200"),
    (-1, "-1"),
    (0.9, "0.9"),
    (1.1, "1.1"),
    (4.0, "4.0"),
    (1e-05, "1e-05"),
    ("try", "'try'"),
    ("128MB", "'128MB'"),
    ("", "''"),
    ("it's", "'it''s'"),
    ("C:\\temp", "'C:\\\\temp'"),
    ("%m [%p] %q%u@%d ", "'%m [%p] %q%u@%d '"),
    ("\\'", "'\\\\'''"),
    ("tab\there", "'tab\there'"),
    (["pg_stat_statements", "pgaudit"], "'pg_stat_statements,pgaudit'"),
    (("pg_stat_statements",), "'pg_stat_statements'"),
    ([], "''"),
    (['"$user"', "public"], "'\"$user\",public'"),
    (["dir\\sub"], "'dir\\\\sub'"),
]


@pytest.mark.parametrize(("value", "expected"), VALID_VALUES)
def test_pg_conf_value_valid(value, expected):
    assert pg_conf_value(value) == expected


TYPE_EXPECTED = (
    "cannot be written to postgresql.conf; expected a boolean, a number, a string or a list "
    "of strings (leave the setting out, or set it to null in a settings mapping, to keep "
    "PostgreSQL's default)"
)
LIST_EXPECTED = (
    "expected a list element without commas or quotes (a whole double-quoted identifier such "
    "as '\"$user\"' is allowed), for example 'pg_stat_statements'"
)
ELEMENT_EXPECTED = (
    "is not a string; expected every list element to be a non-empty string such as "
    "'pg_stat_statements'"
)
LINE_EXPECTED = (
    "contains a line break or NUL character, which a postgresql.conf value cannot hold; "
    "expected a single-line string"
)

INVALID_VALUES = [
    (None, f"shared_buffers: None (None) {TYPE_EXPECTED}"),
    ({"a": 1}, f"shared_buffers: {{'a': 1}} (dict) {TYPE_EXPECTED}"),
    ({1, 2}, f"shared_buffers: {{1, 2}} (set) {TYPE_EXPECTED}"),
    (b"on", f"shared_buffers: b'on' (bytes) {TYPE_EXPECTED}"),
    (float("nan"), "shared_buffers: nan is not a finite number; expected a number such as 0.9"),
    (float("inf"), "shared_buffers: inf is not a finite number; expected a number such as 0.9"),
    ("a\nb", f"shared_buffers: 'a\\nb' {LINE_EXPECTED}"),
    ("a\rb", f"shared_buffers: 'a\\rb' {LINE_EXPECTED}"),
    ("a\x00b", f"shared_buffers: 'a\\x00b' {LINE_EXPECTED}"),
    (["a,b"], f"shared_buffers[0]: 'a,b' contains a comma; {LIST_EXPECTED}"),
    (["ok", "it's"], f'shared_buffers[1]: "it\'s" contains a single quote; {LIST_EXPECTED}'),
    (
        ['a"b'],
        "shared_buffers[0]: 'a\"b' contains a double quote that does not wrap the whole "
        f"element; {LIST_EXPECTED}",
    ),
    (
        ['"a"b"'],
        'shared_buffers[0]: \'"a"b"\' contains a double quote that does not wrap the whole '
        f"element; {LIST_EXPECTED}",
    ),
    ([""], f"shared_buffers[0]: '' is empty; {LIST_EXPECTED}"),
    (["ok", " "], f"shared_buffers[1]: ' ' is empty; {LIST_EXPECTED}"),
    (["a\nb"], f"shared_buffers[0]: 'a\\nb' {LINE_EXPECTED}"),
    (
        ["ok", 1],
        f"shared_buffers[1]: 1 (int) {ELEMENT_EXPECTED}",
    ),
    (
        [None],
        f"shared_buffers[0]: None (NoneType) {ELEMENT_EXPECTED}",
    ),
    (
        [["nested"]],
        f"shared_buffers[0]: ['nested'] (list) {ELEMENT_EXPECTED}",
    ),
]


@pytest.mark.parametrize(("value", "message"), INVALID_VALUES)
def test_pg_conf_value_invalid(value, message):
    with pytest.raises(AnsibleFilterError, match=f"^{re.escape(message)}$"):
        pg_conf_value(value, name="shared_buffers")


def test_pg_conf_value_default_name():
    with pytest.raises(AnsibleFilterError, match=r"^value: None \(None\) cannot be written"):
        pg_conf_value(None)


def test_pg_conf_lines_sorted_and_rendered():
    settings = {
        "shared_preload_libraries": ["pg_stat_statements", "pgaudit"],
        "shared_buffers": "2048MB",
        "max_connections": 100,
        "jit": False,
        "random_page_cost": 1.1,
        "pgaudit.log": "ddl,role",
        "log_line_prefix": "%m [%p] ",
        "archive_command": "test ! -f '/arch/%f'",
    }
    assert pg_conf_lines(settings) == [
        "archive_command = 'test ! -f ''/arch/%f'''",
        "jit = off",
        "log_line_prefix = '%m [%p] '",
        "max_connections = 100",
        "pgaudit.log = 'ddl,role'",
        "random_page_cost = 1.1",
        "shared_buffers = '2048MB'",
        "shared_preload_libraries = 'pg_stat_statements,pgaudit'",
    ]


def test_pg_conf_lines_skips_none_values():
    settings = {"work_mem": None, "huge_pages": "try", "wal_buffers": None}
    assert pg_conf_lines(settings) == ["huge_pages = 'try'"]


def test_pg_conf_lines_all_none_or_empty():
    assert pg_conf_lines({"work_mem": None}) == []
    assert pg_conf_lines({}) == []


def test_pg_conf_lines_accepts_any_mapping():
    settings = OrderedDict([("b_setting", 2), ("a_setting", 1)])
    assert pg_conf_lines(settings) == ["a_setting = 1", "b_setting = 2"]


@pytest.mark.parametrize(
    "key",
    ["shared_buffers", "_private", "pgaudit.log", "pg_stat_statements.max", "a1", "x.y_2"],
)
def test_pg_conf_lines_valid_keys(key):
    assert pg_conf_lines({key: 1}) == [f"{key} = 1"]


KEY_EXPECTED = (
    "is not a valid PostgreSQL parameter name; expected lowercase letters, digits and "
    "underscores, optionally with one dot after an extension prefix (for example "
    "'shared_buffers' or 'pgaudit.log')"
)


@pytest.mark.parametrize(
    "key",
    [
        "Shared Buffers",
        "Shared_Buffers",
        "shared-buffers",
        "shared buffers",
        "1setting",
        "a.b.c",
        ".log",
        "pgaudit.",
        "pgaudit.1log",
        "",
        "work_mem\n",
        "work_mem = 1MB #",
        1,
        None,
    ],
)
def test_pg_conf_lines_invalid_keys(key):
    message = f"postgresql_settings: setting name {key!r} {KEY_EXPECTED}"
    with pytest.raises(AnsibleFilterError, match=f"^{re.escape(message)}$"):
        pg_conf_lines({key: 1, "work_mem": "4MB"}, name="postgresql_settings")


def test_pg_conf_lines_invalid_key_with_none_value_still_rejected():
    with pytest.raises(AnsibleFilterError, match=r"setting name 'Bad Key' is not a valid"):
        pg_conf_lines({"Bad Key": None})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"shared_buffers": {"size": "1GB"}},
            f"postgresql_settings['shared_buffers']: {{'size': '1GB'}} (dict) {TYPE_EXPECTED}",
        ),
        (
            {"pgaudit.log": "a\nb"},
            f"postgresql_settings['pgaudit.log']: 'a\\nb' {LINE_EXPECTED}",
        ),
        (
            {"shared_preload_libraries": ["a", "b,c"]},
            f"postgresql_settings['shared_preload_libraries'][1]: 'b,c' contains a comma; "
            f"{LIST_EXPECTED}",
        ),
    ],
)
def test_pg_conf_lines_invalid_values_name_the_key(settings, message):
    with pytest.raises(AnsibleFilterError, match=f"^{re.escape(message)}$"):
        pg_conf_lines(settings, name="postgresql_settings")


@pytest.mark.parametrize(
    ("settings", "type_name"),
    [
        ([("work_mem", "4MB")], "list"),
        ("work_mem=4MB", "str"),
        (None, "NoneType"),
    ],
)
def test_pg_conf_lines_requires_mapping(settings, type_name):
    message = (
        f"postgresql_settings: {settings!r} ({type_name}) is not a mapping; expected a mapping "
        "of PostgreSQL setting names to values, for example {'shared_buffers': '1GB'}"
    )
    with pytest.raises(AnsibleFilterError, match=f"^{re.escape(message)}$"):
        pg_conf_lines(settings, name="postgresql_settings")


def test_filter_module_exports():
    assert pg_config.FilterModule().filters() == {
        "pg_conf_value": pg_conf_value,
        "pg_conf_lines": pg_conf_lines,
    }


# Sizes and durations of known settings are checked before they reach a server.
UNIT_VALID = [
    ({"work_mem": "16MB"}, ["work_mem = '16MB'"]),
    ({"work_mem": " 16MB"}, ["work_mem = '16MB'"]),
    ({"shared_buffers": "4096"}, ["shared_buffers = '4096'"]),  # base unit kept (8kB blocks)
    ({"statement_timeout": "30s"}, ["statement_timeout = '30s'"]),
    ({"log_min_duration_statement": "-1"}, ["log_min_duration_statement = '-1'"]),
    ({"max_slot_wal_keep_size": -1}, ["max_slot_wal_keep_size = -1"]),
    ({"application_name": "30 seconds"}, ["application_name = '30 seconds'"]),  # not a unit setting
]


@pytest.mark.parametrize(("settings", "expected"), UNIT_VALID)
def test_unit_settings_valid(settings, expected):
    assert pg_conf_lines(settings, name="postgresql_server_settings") == expected


UNIT_INVALID = [
    ({"work_mem": "16 megabytes"}, r"postgresql_server_settings\['work_mem'\]"),
    ({"shared_buffers": "1gb"}, r"postgresql_server_settings\['shared_buffers'\]"),
    ({"statement_timeout": "30 seconds"}, r"postgresql_server_settings\['statement_timeout'\]"),
    ({"lock_timeout": "1.5s"}, r"postgresql_server_settings\['lock_timeout'\]"),
]


@pytest.mark.parametrize(("settings", "message"), UNIT_INVALID)
def test_unit_settings_invalid(settings, message):
    with pytest.raises(AnsibleFilterError, match=message):
        pg_conf_lines(settings, name="postgresql_server_settings")
