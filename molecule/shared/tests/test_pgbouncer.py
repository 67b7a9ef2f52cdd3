"""PgBouncer on every node, proven by logging in through it over TLS.

Run by the molecule verify step from the controller, against a converged cluster.
Environment: PGFLEET_HOSTS (the nodes' addresses, the primary's first), PGFLEET_PORT
(PostgreSQL's port), PGFLEET_PGBOUNCER_PORT, PGFLEET_CA (project CA file), PGFLEET_SECRETS
(directory with the lab's role passwords, pg_<role>, and the verify step's probe roles'
passwords, pgbouncer_probe and pgbouncer_expired). For the switchover refused because a
PgBouncer cannot pause: PGFLEET_ROOT (the project), PGFLEET_INVENTORY, PGFLEET_PLAYBOOK
(ansible-playbook) and PGFLEET_SWITCHOVER_TO (a replica's inventory name).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import errors

# An application's sessions, not the project's: PgBouncer refuses startup options, and a
# play's PGOPTIONS (the project's session options) must not reach them.
os.environ.pop("PGOPTIONS", None)

HOSTS = [h for h in os.environ.get("PGFLEET_HOSTS", "").split(",") if h]
PORT = int(os.environ.get("PGFLEET_PORT", "5432"))
POOLER = int(os.environ.get("PGFLEET_PGBOUNCER_PORT", "6432"))
CA = os.environ.get("PGFLEET_CA", "")
SECRETS = Path(os.environ.get("PGFLEET_SECRETS", "/nonexistent"))
ROOT = Path(os.environ.get("PGFLEET_ROOT", "/nonexistent"))
INVENTORY = os.environ.get("PGFLEET_INVENTORY", "")
PLAYBOOK = os.environ.get("PGFLEET_PLAYBOOK", "ansible-playbook")
SWITCHOVER_TO = os.environ.get("PGFLEET_SWITCHOVER_TO", "")
DB = "learning"
PROBE = "pgbouncer_probe"
EXPIRED = "pgbouncer_expired"

pytestmark = pytest.mark.skipif(not HOSTS, reason="needs a converged lab (PGFLEET_HOSTS)")


def secret(name: str) -> str:
    return (SECRETS / name).read_text().strip()


def connect(host: str, role: str, password: str, port: int = POOLER, **kwargs):
    conn = psycopg2.connect(
        host=host,
        port=port,
        dbname=kwargs.pop("dbname", DB),
        user=role,
        password=password,
        sslmode=kwargs.pop("sslmode", "verify-full"),
        sslrootcert=CA,
        connect_timeout=10,
        application_name="pgfleet-verify",
        **kwargs,
    )
    conn.autocommit = True
    return conn


def one(conn, sql: str, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()


@pytest.mark.parametrize("host", HOSTS)
def test_app_reaches_the_primary_through_every_nodes_pgbouncer(host):
    with closing(connect(host, "app", secret("pg_app"))) as conn:
        in_recovery, user, addr = one(
            conn, "SELECT pg_is_in_recovery(), current_user, host(inet_server_addr())"
        )
    assert (in_recovery, user) == (False, "app")
    assert addr == HOSTS[0], f"{host}'s PgBouncer reached {addr}, not the primary {HOSTS[0]}"


def test_tls_is_required():
    with pytest.raises(psycopg2.OperationalError):
        connect(HOSTS[0], "app", secret("pg_app"), sslmode="disable")


@pytest.mark.parametrize(
    ("role", "password"),
    [
        ("postgres", "not-the-password"),
        ("replicator", None),  # its real password: refused all the same
        ("rewinder", None),
        ("pgbouncer_auth", ""),
        (EXPIRED, None),  # VALID UNTIL in the past (CVE-2025-2291)
        ("no_such_role", "whatever"),
    ],
)
def test_refused_logins(role, password):
    if password is None:
        password = secret(f"pg_{role}") if role != EXPIRED else secret(EXPIRED)
    with pytest.raises(psycopg2.OperationalError):
        connect(HOSTS[0], role, password)


def test_the_expired_role_is_refused_and_not_for_a_wrong_password():
    """The expired role's password is right: only its VALID UNTIL refuses it."""
    with pytest.raises(psycopg2.OperationalError) as direct:
        connect(HOSTS[0], EXPIRED, secret(EXPIRED), port=PORT)
    assert "password authentication failed" in str(direct.value)


def _login_works(host: str, role: str, password: str) -> bool:
    try:
        with closing(connect(host, role, password)) as conn:
            return one(conn, "SELECT current_user")[0] == role
    except psycopg2.OperationalError:
        return False


def _eventually(predicate, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def test_the_probe_role_logs_in_through_every_node():
    for host in HOSTS:
        assert _eventually(lambda host=host: _login_works(host, PROBE, secret(PROBE))), host


# Run by the verify step after it gave the probe role a new password (pgbouncer_probe_new),
# with statement logging off: PgBouncer has seen the old one (the test above).
def test_a_changed_password_works_at_the_next_login():
    old, new = secret(PROBE), secret(f"{PROBE}_new")
    for host in HOSTS:
        # A replica's PgBouncer looks the verifier up in its own node's replicated catalog.
        assert _eventually(lambda host=host: _login_works(host, PROBE, new)), host
        assert not _login_works(host, PROBE, old), host


def test_nobody_but_the_auth_role_may_call_the_lookup():
    with closing(connect(HOSTS[0], "app", secret("pg_app"), port=PORT, dbname="postgres")) as conn:
        with pytest.raises(errors.InsufficientPrivilege), conn.cursor() as cur:
            cur.execute("SELECT * FROM pgbouncer.user_lookup('app')")
        with conn.cursor() as cur:
            # The catalogs are readable without USAGE on the schema; a cast to
            # regprocedure would need it.
            cur.execute(
                "SELECT r.rolname FROM pg_roles r, pg_proc p JOIN pg_namespace n"
                " ON n.oid = p.pronamespace WHERE n.nspname = 'pgbouncer'"
                " AND p.proname = 'user_lookup' AND NOT r.rolsuper"
                " AND has_function_privilege(r.oid, p.oid, 'EXECUTE') ORDER BY 1"
            )
            callers = [row[0] for row in cur.fetchall()]
            cur.execute(
                "SELECT r.rolname FROM pg_roles r, pg_namespace n WHERE n.nspname = 'pgbouncer'"
                " AND NOT r.rolsuper AND has_schema_privilege(r.oid, n.oid, 'CREATE')"
            )
            creators = cur.fetchall()
            cur.execute(
                "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'pgbouncer'"
            )
            owner = cur.fetchone()[0]
    assert callers == ["pgbouncer_auth"]
    assert creators == []
    assert owner == "postgres"


def _answers_within(host: str, seconds: float):
    """The primary's address and recovery state through host's PgBouncer, or None when the
    query has no answer within seconds (a paused PgBouncer holds it)."""
    answer: list = []

    def ask() -> None:
        with closing(connect(host, "app", secret("pg_app"))) as conn:
            answer.append(one(conn, "SELECT pg_is_in_recovery(), host(inet_server_addr())"))

    worker = threading.Thread(target=ask, daemon=True)
    worker.start()
    worker.join(seconds)
    return answer[0] if answer else None


@pytest.mark.skipif(
    not INVENTORY or not SWITCHOVER_TO or len(HOSTS) < 2,
    reason="needs a primary and a replica (PGFLEET_INVENTORY, PGFLEET_SWITCHOVER_TO)",
)
def test_a_switchover_whose_pgbouncer_cannot_pause_changes_nothing():
    """A transaction held open through a replica node's PgBouncer keeps its server
    connection: that PgBouncer cannot pause within pgbouncer_pause_timeout, so the
    switchover stops before the primary is touched, and every pause is undone."""
    held = connect(HOSTS[1], "app", secret("pg_app"))
    held.autocommit = False
    try:
        one(held, "SELECT 1")  # in a transaction: the server connection stays with it
        run = subprocess.run(
            [PLAYBOOK, "-i", INVENTORY, str(ROOT / "playbooks/switchover.yml"),
             "-e", f"switchover_to={SWITCHOVER_TO}", "-e", "pgbouncer_pause_timeout=2"],
            capture_output=True, text=True, timeout=600,
            env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
        )  # fmt: skip
        assert one(held, "SELECT 2") == (2,)  # its transaction went on meanwhile
        held.commit()
    finally:
        held.close()
    out = " ".join(run.stdout.split())
    assert run.returncode != 0, out[-2000:]
    assert "PgBouncer could not pause on" in out, out[-2000:]
    assert "within 2 s (pgbouncer_pause_timeout)" in out
    assert "Every pause was undone" in out and "Nothing else was changed" in out
    assert "Clean fast stop of the old primary" not in out
    for host in HOSTS:
        assert _answers_within(host, 10) == (False, HOSTS[0]), f"{host} after the refusal"
    # What the switchover prepared before the pause is undone: the target keeps no member
    # slots (they would hold its WAL for nobody), and every replica streams from the old
    # primary again (none cascades from the target).
    monitor = secret("pg_monitoring")
    with closing(connect(HOSTS[1], "monitoring", monitor, port=PORT)) as target:
        assert one(target, "SELECT count(*) FROM pg_replication_slots") == (0,)

    def every_replica_streams_from_the_primary() -> bool:
        with closing(connect(HOSTS[0], "monitoring", monitor, port=PORT)) as primary:
            return one(
                primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
            ) == (len(HOSTS) - 1,)

    assert _eventually(every_replica_streams_from_the_primary, 30)
