"""PostgreSQL WAL positions (LSNs) and replication lag.

An LSN is written 'X/Y': two hexadecimal 32-bit halves. These filters parse and compare
them, and turn pg_stat_replication rows into a lag report with thresholds, for the status
playbook.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from pgfleet import lsn, replication
from pgfleet.filters import wrap

pg_lsn_int = wrap(lsn.lsn_int, AnsibleFilterError)
pg_lsn_diff = wrap(lsn.lsn_diff, AnsibleFilterError)
pg_history_last = wrap(lsn.history_last, AnsibleFilterError)


pg_replication_report = wrap(replication.report, AnsibleFilterError)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "pg_lsn_int": pg_lsn_int,
            "pg_lsn_diff": pg_lsn_diff,
            "pg_history_last": pg_history_last,
            "pg_replication_report": pg_replication_report,
        }
