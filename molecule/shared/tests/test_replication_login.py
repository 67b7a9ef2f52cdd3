"""A replication login as the replication role, with a password read from a file: the one
rotate.yml just set works, the one it replaced is refused.

Run by the rotation fault from the controller. Environment: PGFLEET_HOST (the primary's
address), PGFLEET_CA (project CA file), PGFLEET_USER (the replication role),
PGFLEET_NEW and PGFLEET_OLD (files holding the new and the old password).
"""

from __future__ import annotations

import os
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest
from psycopg2.extras import PhysicalReplicationConnection

HOST = os.environ.get("PGFLEET_HOST", "")

pytestmark = pytest.mark.skipif(not HOST, reason="needs a lab primary (PGFLEET_HOST)")


def login(password_file: str):
    return psycopg2.connect(
        host=HOST,
        port=int(os.environ.get("PGFLEET_PORT", "5432")),
        user=os.environ.get("PGFLEET_USER", "replicator"),
        password=Path(password_file).read_text().strip(),
        sslmode="verify-full",
        sslrootcert=os.environ["PGFLEET_CA"],
        connect_timeout=10,
        application_name="pgfleet-verify-rotation",
        connection_factory=PhysicalReplicationConnection,
    )


def test_the_new_password_logs_in_for_replication():
    with closing(login(os.environ["PGFLEET_NEW"])) as conn, conn.cursor() as cur:
        cur.execute("IDENTIFY_SYSTEM")
        assert cur.fetchone()[0]  # the system identifier


def test_the_replaced_password_is_refused():
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        login(os.environ["PGFLEET_OLD"]).close()
