import re

import pytest
from ansible.errors import AnsibleFilterError

import pg_units
from pg_units import pg_duration, pg_duration_ms, pg_size, pg_size_bytes, pg_size_mb

DURATION_EXPECTED = (
    "expected a whole number followed by one of us, ms, s, min, h, d "
    "(for example '30s' or '5min'), or 0 to disable"
)
SIZE_EXPECTED = (
    "expected a whole number followed by one of B, kB, MB, GB, TB "
    "(for example '128MB' or '1GB'), or 0"
)

# (input, normalised, milliseconds)
VALID_DURATIONS = [
    ("30s", "30s", 30_000),
    (" 30s", "30s", 30_000),
    ("30s\n", "30s", 30_000),
    ("30 s", "30s", 30_000),
    ("5min", "5min", 300_000),
    ("250ms", "250ms", 250),
    ("1h", "1h", 3_600_000),
    ("2d", "2d", 172_800_000),
    ("100us", "100us", 0),
    ("1999us", "1999us", 1),
    ("2000 us", "2000us", 2),
    ("0", "0", 0),
    ("0s", "0s", 0),
    ("007s", "7s", 7_000),
    (0, "0", 0),
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


@pytest.mark.parametrize(("value", "expected", "_ms"), VALID_DURATIONS)
def test_pg_duration_valid(value, expected, _ms):
    assert pg_duration(value) == expected


@pytest.mark.parametrize(("value", "_normalised", "expected"), VALID_DURATIONS)
def test_pg_duration_ms_valid(value, _normalised, expected):
    assert pg_duration_ms(value) == expected


@pytest.mark.parametrize(("value", "hint"), INVALID_DURATIONS)
@pytest.mark.parametrize("func", [pg_duration, pg_duration_ms])
def test_pg_duration_invalid(func, value, hint):
    shown = repr(value)
    message = f"my_timeout: {shown} is not a PostgreSQL duration; {DURATION_EXPECTED}{hint}"
    with pytest.raises(AnsibleFilterError, match=f"^{re.escape(message)}$"):
        func(value, name="my_timeout")


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
    ("value", "default_unit", "expected", "expected_ms"),
    [
        (250, "ms", "250ms", 250),
        ("250", "ms", "250ms", 250),
        (30, "s", "30s", 30_000),
        (1500, "us", "1500us", 1),
        (0, "ms", "0", 0),
        ("10s", "ms", "10s", 10_000),  # an explicit unit wins over default_unit
    ],
)
def test_pg_duration_default_unit(value, default_unit, expected, expected_ms):
    assert pg_duration(value, default_unit=default_unit) == expected
    assert pg_duration_ms(value, default_unit=default_unit) == expected_ms


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


# (input, normalised, bytes, megabytes)
VALID_SIZES = [
    ("128kB", "128kB", 131_072, 0),
    ("1MB", "1MB", 1_048_576, 1),
    ("64MB", "64MB", 67_108_864, 64),
    ("64 MB", "64MB", 67_108_864, 64),
    (" 1GB ", "1GB", 1_073_741_824, 1024),
    ("2TB", "2TB", 2_199_023_255_552, 2_097_152),
    ("8192B", "8192B", 8192, 0),
    ("1536kB", "1536kB", 1_572_864, 1),
    ("2047kB", "2047kB", 2_096_128, 1),
    ("2048kB", "2048kB", 2_097_152, 2),
    ("0", "0", 0, 0),
    ("0MB", "0MB", 0, 0),
    (0, "0", 0, 0),
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


@pytest.mark.parametrize(("value", "expected", "_bytes", "_mb"), VALID_SIZES)
def test_pg_size_valid(value, expected, _bytes, _mb):
    assert pg_size(value) == expected


@pytest.mark.parametrize(("value", "_normalised", "expected", "_mb"), VALID_SIZES)
def test_pg_size_bytes_valid(value, _normalised, expected, _mb):
    assert pg_size_bytes(value) == expected


@pytest.mark.parametrize(("value", "_normalised", "_bytes", "expected"), VALID_SIZES)
def test_pg_size_mb_valid(value, _normalised, _bytes, expected):
    assert pg_size_mb(value) == expected


@pytest.mark.parametrize(("value", "hint"), INVALID_SIZES)
@pytest.mark.parametrize("func", [pg_size, pg_size_bytes, pg_size_mb])
def test_pg_size_invalid(func, value, hint):
    message = f"shared_buffers: {value!r} is not a PostgreSQL size; {SIZE_EXPECTED}{hint}"
    with pytest.raises(AnsibleFilterError, match=f"^{re.escape(message)}$"):
        func(value, name="shared_buffers")


@pytest.mark.parametrize(
    ("value", "default_unit", "expected", "expected_bytes"),
    [
        (8192, "B", "8192B", 8192),
        ("8192", "B", "8192B", 8192),
        (64, "MB", "64MB", 67_108_864),
        (0, "B", "0", 0),
        ("1GB", "B", "1GB", 1_073_741_824),
    ],
)
def test_pg_size_default_unit(value, default_unit, expected, expected_bytes):
    assert pg_size(value, default_unit=default_unit) == expected
    assert pg_size_bytes(value, default_unit=default_unit) == expected_bytes


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
    assert filters == {
        "pg_duration": pg_duration,
        "pg_duration_ms": pg_duration_ms,
        "pg_size": pg_size,
        "pg_size_bytes": pg_size_bytes,
        "pg_size_mb": pg_size_mb,
    }
