"""HAProxy's three endpoints under Patroni, from the controller, through every member.

  5000  the leader's PgBouncer: the session is on the leader, and PostgreSQL sees it come
        from the leader's own address (its PgBouncer connects there);
  5001  a replica's PgBouncer: in recovery, and again from the replica's own address;
  5002  the leader's PostgreSQL itself: PostgreSQL sees it come from the member whose
        HAProxy forwarded it, never through PgBouncer.

Environment: PGFLEET_HOSTS (the members' addresses), PGFLEET_LEADER (the leader's
address), PGFLEET_CA (project CA file), PGFLEET_SECRETS (the lab's role passwords,
pg_<role>). Ports: PGFLEET_PRIMARY_PORT, PGFLEET_REPLICA_PORT, PGFLEET_DIRECT_PORT.
"""

from __future__ import annotations

import os
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest

HOSTS = [h for h in os.environ.get("PGFLEET_HOSTS", "").split(",") if h]
LEADER = os.environ.get("PGFLEET_LEADER", "")
CA = os.environ.get("PGFLEET_CA", "")
SECRETS = Path(os.environ.get("PGFLEET_SECRETS", "/nonexistent"))
PRIMARY = int(os.environ.get("PGFLEET_PRIMARY_PORT", "5000"))
REPLICAS = int(os.environ.get("PGFLEET_REPLICA_PORT", "5001"))
DIRECT = int(os.environ.get("PGFLEET_DIRECT_PORT", "5002"))

pytestmark = pytest.mark.skipif(not HOSTS or not LEADER, reason="needs the patroni lab")

WHO = "SELECT pg_is_in_recovery(), host(inet_server_addr()), host(inet_client_addr()), current_user"


def who(host: str, port: int):
    password = (SECRETS / "pg_app").read_text().strip()
    with closing(
        psycopg2.connect(
            host=host,
            port=port,
            dbname="learning",
            user="app",
            password=password,
            sslmode="verify-full",
            sslrootcert=CA,
            connect_timeout=10,
            application_name="pgfleet-verify",
        )
    ) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(WHO)
            return cur.fetchone()


@pytest.mark.parametrize("host", HOSTS)
def test_primary_port_leads_to_the_leaders_pgbouncer(host):
    in_recovery, server, client, user = who(host, PRIMARY)
    assert (in_recovery, server, user) == (False, LEADER, "app")
    assert client == LEADER, f"via {host}: PostgreSQL saw {client}, not the leader's PgBouncer"


@pytest.mark.parametrize("host", HOSTS)
def test_replica_port_leads_to_a_replicas_pgbouncer(host):
    in_recovery, server, client, _ = who(host, REPLICAS)
    assert in_recovery is True
    assert server != LEADER
    assert client == server, f"via {host}: PostgreSQL saw {client}, not {server}'s PgBouncer"


@pytest.mark.parametrize("host", HOSTS)
def test_direct_port_leads_to_the_leaders_postgresql(host):
    in_recovery, server, client, _ = who(host, DIRECT)
    assert (in_recovery, server) == (False, LEADER)
    assert client == host, f"via {host}: PostgreSQL saw {client}, not that member's HAProxy"
