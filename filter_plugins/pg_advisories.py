"""Known vulnerabilities of the extensions the project installs (pgfleet.advisories).

The role reads the version of each extension Debian ships and asks the table which
advisories apply; until a fixed build is installed it applies the mitigation.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from pgfleet import advisories
from pgfleet.filters import wrap

ADVISORIES = advisories.ADVISORIES
pg_extension_advisories = wrap(advisories.applying, AnsibleFilterError)
pg_advisory_settings = wrap(advisories.settings, AnsibleFilterError)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "pg_extension_advisories": pg_extension_advisories,
            "pg_advisory_settings": pg_advisory_settings,
        }
