"""pgfleet.session, the one database session of host-side code: the argv it builds (the same
the roles run), the environment (safe PGOPTIONS merged, no password variable), and, against
a real local PostgreSQL started here (skipped without initdb or root), the session options
in effect, rows read back, a password that reaches the server only through a passfile, and
calls that are bounded."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from pgfleet import session
from pgfleet.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3ss10n-pw:with\\odd"


# ------------------------------------------------------------------ pure parts
def test_the_argv_is_the_one_the_roles_run():
    """The roles' psql list (postgresql_cluster.psql_argv), with the port filled in, is
    psql_argv's default."""
    cluster = yaml.safe_load((ROOT / "roles/postgresql_cluster/vars/main.yml").read_text())
    argv = [
        str(a).replace("{{ postgresql_cluster_port | int }}", "5432")
        for a in cluster["postgresql_cluster"]["psql_argv"]
    ]
    assert session.psql_argv(5432) == argv


def test_the_argv_as_this_user_with_a_host_and_a_login():
    assert session.psql_argv(5433, "app", run_as=None, host="pg1", user="migrator") == [
        "psql",
        "-XAtq",
        "-v",
        "ON_ERROR_STOP=1",
        "-p",
        "5433",
        "-h",
        "pg1",
        "-U",
        "migrator",
        "-d",
        "app",
    ]


@pytest.mark.parametrize(
    "kwargs, what",
    [
        ({"db": "dbname=app password=x"}, "db"),
        ({"host": "pg1 password=x"}, "host"),
        ({"user": "a=b"}, "user"),
        ({"port": "5432; rm"}, "port"),
        ({"port": 0}, "port"),
    ],
)
def test_a_connection_string_never_reaches_the_argv(kwargs, what):
    args = {"port": 5432, **kwargs}
    with pytest.raises(InputError, match=what):
        session.psql_argv(args.pop("port"), **args)


def test_pgoptions_keep_what_the_caller_adds_and_the_safe_values_win():
    opts = session.pgoptions("-c search_path=public", "-c application_name=drill")
    assert opts == (
        "-c search_path=public -c application_name=drill "
        "-c search_path=pg_catalog,pg_temp -c synchronous_commit=local"
    )
    assert session.pgoptions(None, "") == session.SESSION_OPTIONS


def test_the_environment_has_no_password_variable():
    env = session.session_env(
        {"PATH": "/usr/bin", "PGPASSWORD": "x", "MY_DB_PASSWORD": "y", "PGOPTIONS": "-c a=b"},
        options="-c application_name=t",
        passfile="/run/x/pgpass",
        connect_timeout=3,
    )
    assert not [k for k in env if "PASSWORD" in k]
    assert env["PGOPTIONS"] == f"-c a=b -c application_name=t {session.SESSION_OPTIONS}"
    assert env["PGPASSFILE"] == "/run/x/pgpass"
    assert env["PGCONNECT_TIMEOUT"] == "3"


def test_passfile_lines_escape_colons_and_backslashes():
    assert session.passfile_line("*", 5432, "db", "u", "a:b\\c") == "*:5432:db:u:a\\:b\\\\c\n"


def test_the_passfile_is_private_and_removed(tmp_path):
    with session.passfile(["*:*:*:u:pw\n"]) as path:
        assert Path(path).read_text() == "*:*:*:u:pw\n"
        assert os.stat(path).st_mode & 0o777 == 0o600
        assert os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700
    assert not os.path.exists(path)


def test_csv_rows():
    text = '"pg_catalog,pg_temp",local,"a ""b"""\n,"two\nlines",x\n'
    assert session.parse_csv(text) == [
        ["pg_catalog,pg_temp", "local", 'a "b"'],
        ["", "two\nlines", "x"],
    ]


def test_a_failure_names_the_argv_and_psql_s_message_not_the_password():
    def runner(argv, **kw):
        return subprocess.CompletedProcess(argv, 2, "", "FATAL:  password authentication failed")

    s = session.Session(5432, host="pg1", user="u", password=PASSWORD, runner=runner)
    with pytest.raises(session.SessionError) as err:
        s.value("SELECT 1")
    assert "password authentication failed" in str(err.value) and err.value.returncode == 2
    assert PASSWORD not in str(err.value) and PASSWORD not in repr(s)
    # check=False hands the result back instead.
    assert s.run("SELECT 1", check=False).returncode == 2


# ------------------------------------------------------------------ a real server
def _initdb() -> str | None:
    return shutil.which("initdb") or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None
    )


@pytest.fixture(scope="module")
def server():
    """A PostgreSQL cluster run as the postgres user: local socket (peer) and 127.0.0.1
    (scram-sha-256), a login role `app_login` with a password."""
    initdb = _initdb()
    if os.geteuid() != 0 or not initdb:
        pytest.skip("needs root and PostgreSQL's initdb on this machine")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("needs a postgres user")
    bindir = os.path.dirname(initdb)
    work = tempfile.mkdtemp(prefix="pgfleet-session-")
    shutil.chown(work, "postgres")
    data = os.path.join(work, "data")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def as_postgres(*argv):
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv],
            check=True,
            capture_output=True,
            cwd="/",
            timeout=60,
        )

    as_postgres(f"{bindir}/initdb", "-D", data, "-A", "peer", "--no-sync", "-U", "postgres")
    Path(data, "pg_hba.conf").write_text(
        "local all all peer\nhost all all 127.0.0.1/32 scram-sha-256\n"
    )
    opts = f"-p {port} -k {work} -c listen_addresses=127.0.0.1 -c fsync=off"
    as_postgres(f"{bindir}/pg_ctl", "-D", data, "-o", opts, "-l", f"{work}/log", "-w", "start")
    admin = session.Session(port, host=work)
    admin.script(
        "CREATE ROLE app_login LOGIN PASSWORD :'pw';\n",
        variables={"pw": "x"},  # a placeholder; the real password goes in below, on stdin
    )
    admin.script(f"ALTER ROLE app_login PASSWORD '{PASSWORD}';\n")
    try:
        yield {"port": port, "socket": work}
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", f"{bindir}/pg_ctl", "-D", data, "-m", "immediate",
             "stop"],
            capture_output=True,
            cwd="/",
            check=False,
        )  # fmt: skip
        shutil.rmtree(work, ignore_errors=True)


def test_every_session_resolves_names_in_pg_catalog_and_commits_locally(server, monkeypatch):
    """Even when the caller's environment and options ask for another search_path."""
    monkeypatch.setenv("PGOPTIONS", "-c search_path=public")
    s = session.Session(server["port"], host=server["socket"], options="-c work_mem=7MB")
    row = s.rows(
        "SELECT current_setting('search_path'), current_setting('synchronous_commit'), "
        "current_setting('work_mem')"
    )
    assert row == [["pg_catalog,pg_temp", "local", "7MB"]]


def test_rows_come_back_as_text(server):
    s = session.Session(server["port"], host=server["socket"])
    rows = s.rows("SELECT 'a,b', NULL, E'l1\\nl2' UNION ALL SELECT '\"q\"', '', 'z'")
    assert rows == [["a,b", "", "l1\nl2"], ['"q"', "", "z"]]
    assert s.value("SELECT 1 WHERE false") == ""
    assert s.value("SELECT 42") == "42"


def test_a_script_goes_on_stdin_not_the_argv(server):
    seen = []

    def spy(argv, **kw):
        seen.append((argv, kw))
        return session.run_bounded(argv, **kw)

    s = session.Session(server["port"], host=server["socket"], runner=spy)
    assert s.script("SELECT 'from stdin';\n").value == "from stdin"
    ((argv, kw),) = seen
    assert "from stdin" not in " ".join(argv) and "from stdin" in kw["input"]


def test_a_password_goes_only_through_a_passfile(server):
    seen = []

    def spy(argv, **kw):
        seen.append((argv, dict(kw["env"]), Path(kw["env"]["PGPASSFILE"]).read_text()))
        return session.run_bounded(argv, **kw)

    s = session.Session(
        server["port"], host="127.0.0.1", user="app_login", password=PASSWORD, runner=spy
    )
    assert s.value("SELECT current_user") == "app_login"
    ((argv, env, passfile),) = seen
    assert PASSWORD not in " ".join(argv)
    assert not [k for k, v in env.items() if PASSWORD in v or "PASSWORD" in k]
    assert passfile.endswith(":app_login:s3ss10n-pw\\:with\\\\odd\n")
    assert not os.path.exists(env["PGPASSFILE"])  # removed after the call


def test_a_wrong_password_fails_without_showing_it(server):
    s = session.Session(server["port"], host="127.0.0.1", user="app_login", password="wrong-pw")
    with pytest.raises(session.SessionError, match="password authentication failed") as err:
        s.value("SELECT 1")
    assert "wrong-pw" not in str(err.value)


def test_a_statement_that_outlasts_the_timeout_is_killed(server):
    s = session.Session(server["port"], host=server["socket"], timeout=0.7)
    start = time.monotonic()
    # Two bounds end it, whichever comes first: psql killed at the wall-clock limit, or the
    # server's statement_timeout (the same limit). On a loaded machine the waiting Python
    # process may be scheduled late, and the server's cancel wins: both are the bound.
    with pytest.raises(
        session.SessionError,
        match=r"did not answer within 0\.7 s|canceling statement due to statement timeout",
    ):
        s.value("SELECT pg_sleep(30)")
    assert time.monotonic() - start < 5
    # psql was killed with runuser: nobody is left waiting on the sleep.
    admin = session.Session(server["port"], host=server["socket"])
    deadline = time.monotonic() + 10
    while (
        admin.value("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'")
        != "0"
    ):
        assert time.monotonic() < deadline, "the backend of the killed psql is still there"
        time.sleep(0.2)
