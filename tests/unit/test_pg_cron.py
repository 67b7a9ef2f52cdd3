"""pg_cron_schedule: five cron fields in range, or an error naming the variable.

The accepted and refused schedules agree with `crontab -n` of Debian 13's cron
(3.0pl1-197), except where the filter is stricter on purpose (marked below).
"""

import pytest
from ansible.errors import AnsibleFilterError

from pg_cron import FilterModule, pg_cron_schedule

NAME = "pgbackrest_schedule_diff"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("15 1 * * 0", "15 1 * * 0"),
        ("15 1 * * 1-6", "15 1 * * 1-6"),
        ("45 3 * * 3", "45 3 * * 3"),
        ("*/5 * * * *", "*/5 * * * *"),
        ("0 0-23/2 1,15 jan-mar mon-fri", "0 0-23/2 1,15 jan-mar mon-fri"),
        ("0 0 * * 7", "0 0 * * 7"),
        ("0 0 * * 5-7", "0 0 * * 5-7"),
        ("0 0 * * SUN", "0 0 * * SUN"),
        ("0 0 * JAN,mar *", "0 0 * JAN,mar *"),
        ("0 0 * * mon-7", "0 0 * * mon-7"),
        ("0 0 * jan-3 *", "0 0 * jan-3 *"),
        ("00 01 * * *", "00 01 * * *"),
        ("*/59 * * * *", "*/59 * * * *"),
        ("0 */23 */31 */12 */7", "0 */23 */31 */12 */7"),
        ("59 23 31 12 7", "59 23 31 12 7"),
        ("0 0 1 1 0", "0 0 1 1 0"),
        ("  15\t1 *  * 0 ", "15 1 * * 0"),
    ],
)
def test_valid(value, expected):
    assert pg_cron_schedule(value, name=NAME) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        # A line break adds a line of its own to /etc/cron.d: a command as any user.
        ("15 1 * * 0\n* * * * * root id", "contains a line break"),
        ("15 1 * * 0\r* * * * * root id", "contains a line break"),
        ("15 1 * * 0\u2028", "contains a line break"),
        ("15 1 * * 0\x00", "control character"),
        ("15\x0b1 * * 0", "control character"),
        # Field count: a sixth field is the user in /etc/cron.d.
        ("15 1 * * * 0", "has 6 fields (in /etc/cron.d the sixth field is the user"),
        ("0 15 1 * * 0", "has 6 fields"),
        ("15 1 * *", "has 4 fields"),
        ("daily", "has 1 field;"),
        # Macros (cron reads them; refused on purpose).
        ("@reboot", "'@reboot' runs only when the host boots"),
        ("@daily", "write its five fields '0 0 * * *'"),
        ("@Weekly", "write its five fields '0 0 * * 0'"),
        # Out of range, as cron refuses them.
        ("60 * * * *", "60 is out of range for the minute (0-59)"),
        ("0 24 * * *", "24 is out of range for the hour (0-23)"),
        ("0 0 0 * *", "0 is out of range for the day of month (1-31)"),
        ("0 0 32 * *", "32 is out of range for the day of month"),
        ("0 0 * 0 *", "0 is out of range for the month (1-12)"),
        ("0 0 * 13 *", "13 is out of range for the month"),
        ("0 0 * * 8", "8 is out of range for the day of week (0-7)"),
        ("0 0 1-40 * *", "40 is out of range for the day of month"),
        ("0 0 * * monday", "'monday' is not a day of week (0-7 or sun, mon"),
        ("0 0 * * jan", "'jan' is not a day of week"),
        ("0 0 mon * *", "'mon' is not a day of month (1-31)"),
        ("H * * * *", "'H' is not a minute"),
        ("0 0 L * *", "'L' is not a day of month"),
        ("0 0 ? * *", "'?' in the day of month field '?' is not cron syntax"),
        ("1,,2 * * * *", "'' in the minute field '1,,2' is not cron syntax"),
        ("-1 * * * *", "'-1' in the minute field"),
        ("*/0 * * * *", "the minute step in '*/0' must be from 1 to 59"),
        ("5/10 * * * *", "a step needs * or a range before it (for example '*/10' or '5-59/10')"),
        ("0\u00a00 * * * *", "is not cron syntax"),
        # Stricter than cron on purpose: cron reads these, not as anyone means them.
        ("0 0 * * 5-1", "the day of week range '5-1' goes backwards"),
        ("0 0 * * sat-sun", "the day of week range 'sat-sun' goes backwards"),
        ("*/60 * * * *", "the minute step in '*/60' must be from 1 to 59"),
        ("1-2-3 * * * *", "'1-2-3' in the minute field"),
        ("*/5/2 * * * *", "'*/5/2' in the minute field"),
        # Not a schedule at all.
        ("   ", "has only blanks"),
        (5, "int 5 is not a schedule"),
        (["15 1 * * 0"], "is not a schedule"),
    ],
)
def test_invalid(value, message):
    with pytest.raises(AnsibleFilterError) as err:
        pg_cron_schedule(value, name=NAME)
    text = str(err.value)
    assert text.startswith(f"{NAME}: "), text
    assert message in text, text


@pytest.mark.parametrize("value", ["", None])
def test_empty_disables_an_optional_job(value):
    assert pg_cron_schedule(value, name=NAME, optional=True) == ""


@pytest.mark.parametrize("value", ["", None])
def test_empty_is_refused_unless_optional(value):
    with pytest.raises(AnsibleFilterError, match="pgbackrest_schedule_full: must not be empty"):
        pg_cron_schedule(value, name="pgbackrest_schedule_full")


def test_blanks_are_not_an_empty_optional_schedule():
    with pytest.raises(AnsibleFilterError, match=r"only blanks \(leave it empty"):
        pg_cron_schedule("  ", name=NAME, optional=True)


def test_every_error_gives_the_expected_form():
    with pytest.raises(AnsibleFilterError, match="expected five cron fields 'minute hour"):
        pg_cron_schedule("15 1 * * * 0", name=NAME)


def test_exported():
    assert FilterModule().filters()["pg_cron_schedule"] is pg_cron_schedule
