"""Read what a role's probe printed on a host.

Each role asks a host for its state in one round trip and gets one JSON object back. A
probe that prints something else (a shell error, a missing interpreter, a message of the
day) must stop the play with a message that says which probe and what it printed, not a
Python traceback from deep inside a task.
"""

from __future__ import annotations

import json
from typing import Any

from ansible.errors import AnsibleFilterError


def pg_probe_json(text: Any, probe: str = "probe") -> dict[str, Any]:
    """Parse the last non-empty line a probe printed as a JSON object."""
    if not isinstance(text, str):
        raise AnsibleFilterError(
            f"{probe}: expected the probe's output text, got {type(text).__name__}"
        )
    lines = [line for line in text.splitlines() if line.strip()]
    shown = (lines[-1] if lines else "")[:200]
    try:
        value = json.loads(lines[-1]) if lines else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise AnsibleFilterError(
            f"{probe}: the host answered {shown!r}, not the JSON object the probe prints; "
            "expected python3 and the role's packages to run there (check the task's stderr)"
        )
    return value


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"pg_probe_json": pg_probe_json}
