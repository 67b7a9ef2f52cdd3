"""PgBouncer's pools and inputs (pgfleet.pgbouncer).

``pgbouncer_pools`` sizes each pooled database's pool from the primary's connections,
shared by the PgBouncer of every node; ``pgbouncer_input_problems`` names every bad
pgbouncer_* value, the pools that could exceed the primary's connections included;
``pgbouncer_status_report`` is status.yml's part on who holds the connections;
``pgbouncer_not_paused`` names the hosts a switchover's pause did not hold.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from pgfleet import pgbouncer
from pgfleet.filters import wrap

pgbouncer_pools = wrap(pgbouncer.pgbouncer_pools, AnsibleFilterError)
pgbouncer_input_problems = wrap(pgbouncer.pgbouncer_input_problems, AnsibleFilterError)
pgbouncer_status_report = wrap(pgbouncer.status_report, AnsibleFilterError)
pgbouncer_not_paused = wrap(pgbouncer.not_paused, AnsibleFilterError)


class FilterModule:
    """PgBouncer filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "pgbouncer_pools": pgbouncer_pools,
            "pgbouncer_input_problems": pgbouncer_input_problems,
            "pgbouncer_status_report": pgbouncer_status_report,
            "pgbouncer_not_paused": pgbouncer_not_paused,
        }
