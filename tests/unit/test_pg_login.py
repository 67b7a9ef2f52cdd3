"""library/pg_login.py: what counts as a refused login, and that a client's login carries
no session options (PgBouncer refuses them)."""

import pytest
from conftest import load_module


@pytest.fixture(scope="module")
def mod():
    return load_module("pg_login")


@pytest.mark.parametrize(
    ("stderr", "refused"),
    [
        ('FATAL:  password authentication failed for user "app"', True),
        ('FATAL:  role "app" is not permitted to log in', True),
        ("FATAL:  SASL authentication failed", True),  # PgBouncer
        ("could not connect to server: Connection refused", False),
        ('FATAL:  no pg_hba.conf entry for host "10.0.0.1"', False),
    ],
)
def test_only_the_server_refusing_the_login_counts_as_refused(mod, stderr, refused):
    assert mod.refused(stderr) is refused


def test_a_client_login_runs_without_pgoptions(mod, monkeypatch):
    seen = {}

    def fake(argv, *, input, env, timeout):
        seen.update(env)

    monkeypatch.setattr(mod, "run_bounded", fake)
    mod.as_a_client(
        ["psql"], input=None, env={"PGOPTIONS": "-c x=1", "PGPASSFILE": "/p"}, timeout=1
    )
    assert "PGOPTIONS" not in seen and seen["PGPASSFILE"] == "/p"
