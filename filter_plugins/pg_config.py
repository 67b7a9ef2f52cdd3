"""Render values and lines for postgresql.conf (pgfleet.conf).

Strings are written as postgresql.conf string literals; line breaks and NUL characters are
refused rather than written into a broken file; sizes and durations are checked.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from pgfleet import conf
from pgfleet.filters import wrap

pg_conf_value = wrap(conf.render_value, AnsibleFilterError)
pg_conf_lines = wrap(conf.render_lines, AnsibleFilterError)


class FilterModule:
    """postgresql.conf rendering filters."""

    def filters(self) -> dict[str, Any]:
        return {"pg_conf_value": pg_conf_value, "pg_conf_lines": pg_conf_lines}
