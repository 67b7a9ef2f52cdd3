"""The controller side of playbooks/diagnose.yml (pgfleet.diagnose).

``pg_diagnose_refusal`` says why a ``diagnose`` value is refused ('' when it is one of the
allowed ones); ``pg_diagnose_report`` builds the report (readable lines and the same as
data) from what the pg_diagnose module read on the primary, the replicas' own views,
PgBouncer's pools and the free space of the data filesystem.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from pgfleet import diagnose
from pgfleet.filters import wrap

pg_diagnose_refusal = wrap(diagnose.refusal, AnsibleFilterError)
pg_diagnose_report = wrap(diagnose.report, AnsibleFilterError)


class FilterModule:
    """Diagnosis filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "pg_diagnose_refusal": pg_diagnose_refusal,
            "pg_diagnose_report": pg_diagnose_report,
        }
