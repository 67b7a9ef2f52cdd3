"""PostgreSQL SCRAM-SHA-256 password verifiers (pgfleet.scram).

``pg_scram_verifier`` computes the verifier PostgreSQL would store for a password, so a
role's password is set without the plaintext reaching the server or its logs;
``pg_scram_matches`` tells whether a stored verifier already belongs to a password.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from pgfleet import scram
from pgfleet.filters import wrap

pg_scram_verifier = wrap(scram.verifier, AnsibleFilterError)
pg_scram_matches = wrap(scram.matches, AnsibleFilterError)


class FilterModule:
    """PostgreSQL SCRAM-SHA-256 password filters."""

    def filters(self) -> dict[str, Any]:
        return {"pg_scram_verifier": pg_scram_verifier, "pg_scram_matches": pg_scram_matches}
