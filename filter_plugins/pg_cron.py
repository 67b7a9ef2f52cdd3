"""Check a cron schedule before it is written into /etc/cron.d.

cron skips a line of /etc/cron.d it cannot read and says so only in syslog, so a typo in a
schedule stops the job without anyone noticing; a line break in a schedule starts a line
of its own, that is a command run as any user. pg_cron_schedule accepts exactly the five
time fields Debian's cron reads (minute, hour, day of month, month, day of week), each
value in range, and returns them joined by single spaces.

Refused on purpose, although cron reads some of them: the @-macros (@reboot runs only at
boot, which is no backup schedule; the message gives the five fields of the others), a
sixth field (in /etc/cron.d the sixth field is the user the job runs as), a range written
from the higher value (sat-sun), a step after a single value or a second step or range
(5/10, */5/2, 1-2-3), a step larger than the field, and any character cron would not read
as part of the time fields (control characters, non-breaking spaces, ...).
"""

from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

EXPECTED = (
    "expected five cron fields 'minute hour day-of-month month day-of-week' such as '15 1 * * 0'"
)
SYNTAX = "each field is *, a value, a range a-b, a list a,b,c, or a step */n or a-b/n"

MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
DAYS = {
    name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}

# (field, lowest, highest, names)
FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, DAYS),
)

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# One element of a field: *, */n, a, a-b or a-b/n, where a and b are numbers or names (their
# range is checked after). Fields are separated by spaces or tabs only, as cron reads them.
_ELEMENT = re.compile(
    r"^(?:(?P<star>\*)|(?P<low>[0-9A-Za-z]+)(?:-(?P<high>[0-9A-Za-z]+))?)(?:/(?P<step>[0-9]+))?$"
)
_BLANKS = re.compile(r"[ \t]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _fail(name: str, message: str) -> None:
    raise AnsibleFilterError(f"{name}: {message}")


def _value(token: str, field: tuple[str, int, int, dict[str, int]], where: str) -> int:
    label, low, high, names = field
    if token.isdigit():
        number = int(token)
        if low <= number <= high:
            return number
        _fail(where, f"{token} is out of range for the {label} ({low}-{high})")
    if token.lower() in names:
        return names[token.lower()]
    allowed = f"{low}-{high}" + (f" or {', '.join(names)}" if names else "")
    _fail(where, f"{token!r} is not a {label} ({allowed})")
    return 0  # unreachable


def _field(text: str, field: tuple[str, int, int, dict[str, int]], where: str) -> None:
    label, _low, high, _names = field
    for element in text.split(","):
        match = _ELEMENT.match(element)
        if not match:
            _fail(where, f"{element!r} in the {label} field {text!r} is not cron syntax; {SYNTAX}")
        step = match.group("step")
        if not match.group("star"):
            first = _value(match.group("low"), field, where)
            if match.group("high") is not None:
                if _value(match.group("high"), field, where) < first:
                    _fail(
                        where,
                        f"the {label} range {element!r} goes backwards; write the lower value "
                        "first (a list covers a wrap, for example 'fri-sat,sun')",
                    )
            elif step is not None:
                _fail(
                    where,
                    f"{element!r} in the {label} field: a step needs * or a range before it "
                    f"(for example '*/{step}' or '{match.group('low')}-{high}/{step}')",
                )
        if step is not None and not 1 <= int(step) <= high:
            _fail(where, f"the {label} step in {element!r} must be from 1 to {high}")


def pg_cron_schedule(value: Any, name: str = "schedule", optional: bool = False) -> str:
    """The five fields of a cron schedule joined by single spaces; raise naming `name`.

    optional: an empty value (or None) disables the job and is returned as ''. Without it
    an empty value is an error.
    """
    if value is None or value == "":
        if optional:
            return ""
        _fail(name, f"must not be empty; {EXPECTED}")
    if not isinstance(value, str):
        _fail(name, f"{type(value).__name__} {value!r} is not a schedule; {EXPECTED}")
    if any(char in value for char in "\r\n\u2028\u2029"):
        _fail(
            name,
            f"{value!r} contains a line break, which would add a line of its own to "
            f"/etc/cron.d; {EXPECTED}",
        )
    if _CONTROL.search(value):
        _fail(name, f"{value!r} contains a control character; {EXPECTED}")
    fields = [field for field in _BLANKS.split(value) if field]
    if not fields:
        empty = " (leave it empty, '', to disable the job)" if optional else ""
        _fail(name, f"{value!r} has only blanks{empty}; {EXPECTED}")
    macro = fields[0].lower()
    if macro == "@reboot":
        _fail(name, f"'@reboot' runs only when the host boots, not on a schedule; {EXPECTED}")
    if macro in MACROS:
        _fail(name, f"{fields[0]!r} is not accepted; write its five fields {MACROS[macro]!r}")
    if len(fields) != len(FIELDS):
        extra = (
            " (in /etc/cron.d the sixth field is the user; cron has no seconds or year field)"
            if len(fields) > len(FIELDS)
            else ""
        )
        count = f"{len(fields)} field" + ("s" if len(fields) > 1 else "")
        _fail(name, f"{value!r} has {count}{extra}; {EXPECTED}")
    for text, field in zip(fields, FIELDS, strict=True):
        _field(text, field, name)
    return " ".join(fields)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"pg_cron_schedule": pg_cron_schedule}
