"""Validate and normalise PostgreSQL duration and size settings (pgfleet.units).

A whole, non-negative number, optionally one space, then a case-sensitive unit; a bare
number only when it is 0 or the caller names the unit with ``default_unit``.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from pgfleet import units
from pgfleet.filters import wrap

pg_duration = wrap(units.duration, AnsibleFilterError)
pg_size = wrap(units.size, AnsibleFilterError)


class FilterModule:
    """PostgreSQL duration and size filters."""

    def filters(self) -> dict[str, Any]:
        return {"pg_duration": pg_duration, "pg_size": pg_size}
