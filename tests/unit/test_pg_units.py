import re

import pytest
from ansible.errors import AnsibleFilterError

import pg_units
from pg_units import pg_duration, pg_size

DURATION_EXPECTED = (
    "expected a whole number followed by one of us, ms, s, min, h, d "
    "(for example '30s' or '5min'), or 0 to disable"
)
SIZE_EXPECTED = (
    "expected a whole number followed by one of B, kB, MB, GB, TB "
    "(for example '128MB' or '1GB'), or 0"
)

# (input, normalised)
VALID_DURATIONS = [
    ("30s", "30s"),
    (" 30s", "30s"),
    ("30s\n", "30s"),
    ("30 s", "30s"),
    ("5min", "5min"),
    ("250ms", "250ms"),
    ("1h", "1h"),
    ("2d", "2d"),
    ("100us", "100us"),
    ("1999us", "1999us"),
    ("2000 us", "2000us"),
    ("0", "0"),
    ("0s", "0s"),
    ("007s", "7s"),
    (0, "0"),
]

# (input, hint expected at the end of the message or "")
INVALID_DURATIONS = [
    ("30 seconds", ""),
    ("30sec", ""),
    ("30  s", ""),
    ("", ""),
    ("   ", ""),
    ("s", ""),
    ("1.5s", "; fractions are not accepted, use a smaller unit instead"),
    (".5h", "; fractions are not accepted, use a smaller unit instead"),
    ("-1s", "; negative values are not accepted"),
    ("-1", "; negative values are not accepted"),
    ("30S", "; units are case-sensitive, did you mean '30s'?"),
    ("5MIN", "; units are case-sensitive, did you mean '5min'?"),
    ("30", "; a bare number needs a unit"),
    (30, "; a bare number needs a unit"),
    (-1, "; negative values are not accepted"),
    (True, "; booleans are not accepted"),
    (False, "; booleans are not accepted"),
    (None, ""),
    (1.5, ""),
    (0.0, ""),
    (["30s"], ""),
    ("30kB", ""),
    ("\u0663\u0660s", ""),  # Arabic-Indic digits are not ASCII digits
]


@pytest.mark.parametrize(("value", "expected"), VALID_DURATIONS)
def test_pg_duration_valid(value, expected):
    assert pg_duration(value) == expected


@pytest.mark.parametrize(("value", "hint"), INVALID_DURATIONS)
def test_pg_duration_invalid(value, hint):
    shown = repr(value)
    message = f"my_timeout: {shown} is not a PostgreSQL duration; {DURATION_EXPECTED}{hint}"
    with pytest.raises(AnsibleFilterError, match=f"^{re.escape(message)}$"):
        pg_duration(value, name="my_timeout")


def test_pg_duration_error_message_from_brief():
    with pytest.raises(AnsibleFilterError) as excinfo:
        pg_duration("30 seconds", name="postgresql_idle_in_transaction_session_timeout")
    assert str(excinfo.value) == (
        "postgresql_idle_in_transaction_session_timeout: '30 seconds' is not a PostgreSQL "
        "duration; expected a whole number followed by one of us, ms, s, min, h, d "
        "(for example '30s' or '5min'), or 0 to disable"
    )


def test_pg_duration_default_name():
    with pytest.raises(AnsibleFilterError, match=r"^value: '1 minute' is not"):
        pg_duration("1 minute")


@pytest.mark.parametrize(
    ("value", "default_unit", "expected"),
    [
        (250, "ms", "250ms"),
        ("250", "ms", "250ms"),
        (30, "s", "30s"),
        (1500, "us", "1500us"),
        (0, "ms", "0"),
        ("10s", "ms", "10s"),  # an explicit unit wins over default_unit
    ],
)
def test_pg_duration_default_unit(value, default_unit, expected):
    assert pg_duration(value, default_unit=default_unit) == expected


def test_pg_duration_default_unit_changes_expected_form():
    with pytest.raises(AnsibleFilterError) as excinfo:
        pg_duration("30 seconds", name="t", default_unit="ms")
    assert str(excinfo.value) == (
        "t: '30 seconds' is not a PostgreSQL duration; expected a whole number followed by one "
        "of us, ms, s, min, h, d (for example '30s' or '5min'), a bare whole number (read as ms), "
        "or 0 to disable"
    )


@pytest.mark.parametrize("default_unit", ["MB", "sec", "S", ""])
def test_pg_duration_bad_default_unit(default_unit):
    message = (
        f"t: default_unit {default_unit!r} is not a PostgreSQL duration unit; "
        "expected one of us, ms, s, min, h, d or None"
    )
    with pytest.raises(AnsibleFilterError, match=f"^{re.escape(message)}$"):
        pg_duration(30, name="t", default_unit=default_unit)


# (input, normalised)
VALID_SIZES = [
    ("128kB", "128kB"),
    ("1MB", "1MB"),
    ("64MB", "64MB"),
    ("64 MB", "64MB"),
    (" 1GB ", "1GB"),
    ("2TB", "2TB"),
    ("8192B", "8192B"),
    ("1536kB", "1536kB"),
    ("0", "0"),
    ("0MB", "0MB"),
    (0, "0"),
]

INVALID_SIZES = [
    ("1gb", "; units are case-sensitive, did you mean '1GB'?"),
    ("128KB", "; units are case-sensitive, did you mean '128kB'?"),
    ("8192b", "; units are case-sensitive, did you mean '8192B'?"),
    ("1 GiB", ""),
    ("1G", ""),
    ("1 M", ""),
    ("1  GB", ""),
    ("1.5GB", "; fractions are not accepted, use a smaller unit instead"),
    ("-1MB", "; negative values are not accepted"),
    ("1s", ""),
    ("", ""),
    ("MB", ""),
    ("8192", "; a bare number needs a unit"),
    (8192, "; a bare number needs a unit"),
    (-1, "; negative values are not accepted"),
    (True, "; booleans are not accepted"),
    (None, ""),
    (1.0, ""),
    ({"size": "1GB"}, ""),
]


@pytest.mark.parametrize(("value", "expected"), VALID_SIZES)
def test_pg_size_valid(value, expected):
    assert pg_size(value) == expected


@pytest.mark.parametrize(("value", "hint"), INVALID_SIZES)
def test_pg_size_invalid(value, hint):
    message = f"shared_buffers: {value!r} is not a PostgreSQL size; {SIZE_EXPECTED}{hint}"
    with pytest.raises(AnsibleFilterError, match=f"^{re.escape(message)}$"):
        pg_size(value, name="shared_buffers")


@pytest.mark.parametrize(
    ("value", "default_unit", "expected"),
    [
        (8192, "B", "8192B"),
        ("8192", "B", "8192B"),
        (64, "MB", "64MB"),
        (0, "B", "0"),
        ("1GB", "B", "1GB"),
    ],
)
def test_pg_size_default_unit(value, default_unit, expected):
    assert pg_size(value, default_unit=default_unit) == expected


@pytest.mark.parametrize("default_unit", ["b", "KB", "kb", "ms"])
def test_pg_size_bad_default_unit(default_unit):
    message = (
        f"x: default_unit {default_unit!r} is not a PostgreSQL size unit; "
        "expected one of B, kB, MB, GB, TB or None"
    )
    with pytest.raises(AnsibleFilterError, match=f"^{re.escape(message)}$"):
        pg_size(1, name="x", default_unit=default_unit)


def test_long_values_are_truncated_in_messages():
    with pytest.raises(AnsibleFilterError) as excinfo:
        pg_size("x" * 500, name="v")
    assert str(excinfo.value).startswith("v: '" + "x" * 76 + "... is not a PostgreSQL size;")


def test_filter_module_exports():
    filters = pg_units.FilterModule().filters()
    assert filters == {"pg_duration": pg_duration, "pg_size": pg_size}
