"""The one database session of host-side code: psql, run with the project's session rules.

Every session a host tool opens on PostgreSQL goes through here, so the rules hold in one
place:

- PGOPTIONS always ends with SESSION_OPTIONS (``search_path=pg_catalog,pg_temp``: names
  resolve in pg_catalog only, so an operator or function an application role planted in a
  schema it can write never runs with the superuser's rights; ``synchronous_commit=local``:
  a tool never waits for a synchronous standby). What the caller or the inherited
  environment adds is kept, before them: PostgreSQL applies the last ``-c`` of a name, so
  the safe values always win.
- A password never reaches argv or the environment. ``Session(password=...)`` writes a
  libpq password file (mode 0600, readable only by the user psql runs as) for the life of
  each call and names it in PGPASSFILE, a path; any ``*PASSWORD`` variable inherited from
  the caller's environment is dropped.
- SQL goes on ``-c`` (statements that carry no secret) or on stdin (``Session.script``);
  ``-v`` variables are for values that are not secret either.
- Every call is bounded: libpq's connect timeout, a wall-clock limit on psql itself (its
  process group is killed, psql under runuser included), and statement_timeout set to the
  same limit, so the server stops the statement too.
- Answers come back parsed: psql prints CSV (``--csv -t``), read back into rows of text.
  NULL and the empty string both read as ''.

``psql_argv`` is the argv itself, a pure function: the same list the roles' tasks run.
"""

from __future__ import annotations

import csv
import io
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from .errors import InputError

SESSION_OPTIONS = "-c search_path=pg_catalog,pg_temp -c synchronous_commit=local"
# psql without ~/.psqlrc, unaligned, tuples only, quiet, stopping at the first error.
PSQL_FLAGS = ("-XAtq", "-v", "ON_ERROR_STOP=1")
DEFAULT_TIMEOUT = 60.0
CONNECT_TIMEOUT = 10


class SessionError(Exception):
    """psql failed or did not answer in time. The message holds the argv (never a secret)
    and the end of psql's output."""

    def __init__(self, message: str, returncode: int | None = None, stderr: str = "") -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


@dataclass
class Result:
    """What psql answered: its exit code, its output and the rows read from it."""

    returncode: int
    stdout: str
    stderr: str
    rows: list[list[str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def value(self) -> str:
        """The first column of the first row; '' when there is none."""
        return self.rows[0][0] if self.rows and self.rows[0] else ""


def pgoptions(*extra: str | None) -> str:
    """PGOPTIONS: the given options (the caller's, an inherited PGOPTIONS), then the
    session options, which win over any earlier value of the same setting."""
    parts = [e.strip() for e in extra if e and e.strip() and e.strip() != SESSION_OPTIONS]
    return " ".join([*parts, SESSION_OPTIONS])


def session_env(
    base: Mapping[str, str] | None = None,
    options: str | None = None,
    passfile: str | None = None,
    connect_timeout: int = CONNECT_TIMEOUT,
) -> dict[str, str]:
    """The environment of a session: ``base`` (default: this process's) without any
    password variable, PGOPTIONS merged (see pgoptions), the C locale for messages that
    callers match, PGCONNECT_TIMEOUT, and PGPASSFILE when a passfile is given."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if "PASSWORD" not in k}
    env["PGOPTIONS"] = pgoptions(env.get("PGOPTIONS"), options)
    env["LC_MESSAGES"] = "C"
    env["PGCONNECT_TIMEOUT"] = str(max(1, int(connect_timeout)))
    if passfile:
        env["PGPASSFILE"] = passfile
    return env


def _check_word(value: str, name: str) -> str:
    text = str(value)
    if not text or "=" in text or any(c.isspace() for c in text):
        raise InputError(
            f"{name}: {text!r} is not a plain name; expected a name without spaces or '=' "
            "(a connection string would carry options, and maybe a password, into argv)"
        )
    return text


def psql_argv(
    port: int | str,
    db: str = "postgres",
    *,
    run_as: str | None = "postgres",
    host: str | None = None,
    user: str | None = None,
    csv_output: bool = False,
    variables: Mapping[str, str] | None = None,
) -> list[str]:
    """The psql command line: as ``run_as`` through runuser (None: as this process),
    -XAtq with ON_ERROR_STOP, the port, the host when not the local socket, the login role,
    and the database. The defaults are the list the HA and restore roles run as
    ``[runuser, -u, postgres, --, psql, -XAtq, -v, ON_ERROR_STOP=1, -p, PORT, -d, postgres]``.

    Names go in as plain words (a connection string with ``password=`` is refused); SQL is
    added by the caller (``-c``) or fed on stdin."""
    if not str(port).isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"port: {port!r} is not a TCP port; expected 1-65535")
    argv = ["runuser", "-u", _check_word(run_as, "run_as"), "--"] if run_as else []
    argv += ["psql", *PSQL_FLAGS]
    if csv_output:
        argv.append("--csv")
    argv += ["-p", str(int(port))]
    if host:
        argv += ["-h", _check_word(host, "host")]
    if user:
        argv += ["-U", _check_word(user, "user")]
    for name, value in (variables or {}).items():
        argv += ["-v", f"{_check_word(name, 'variable')}={value}"]
    argv += ["-d", _check_word(db, "db")]
    return argv


def parse_csv(text: str) -> list[list[str]]:
    """psql's --csv output (no header) as rows of text."""
    return [row for row in csv.reader(io.StringIO(text)) if row]


def passfile_line(host: str, port: int | str, db: str, user: str, password: str) -> str:
    """One line of a libpq password file; ':' and '\\' escaped in every field."""

    def esc(value: str) -> str:
        return str(value).replace("\\", "\\\\").replace(":", "\\:")

    return ":".join(esc(v) for v in (host, port, db, user, password)) + "\n"


@contextmanager
def passfile(lines: Sequence[str], owner: str | None = None) -> Iterator[str]:
    """A libpq password file for the life of the block: mode 0600 in a 0700 directory of
    its own, owned by ``owner`` (the user psql runs as) when this process is root; removed
    afterwards. Yields its path."""
    directory = tempfile.mkdtemp(prefix="pgfleet-pass-")
    path = os.path.join(directory, "pgpass")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.writelines(lines)
        if owner and os.geteuid() == 0:
            entry = pwd.getpwnam(owner)
            for p in (directory, path):
                os.chown(p, entry.pw_uid, entry.pw_gid)
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run_bounded(
    argv: Sequence[str], *, input: str | None, env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess:
    """Run argv in a process group of its own; at the timeout the whole group is killed
    (psql under runuser included) and TimeoutExpired raised."""
    with subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env),
        cwd="/",
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)


Runner = Callable[..., subprocess.CompletedProcess]


class Session:
    """psql sessions on one server: ``Session(5432).value('SELECT 1')``.

    run_as: the OS user psql runs as when this process is root ('postgres': peer
    authentication on the local socket); as another user psql runs as that user.
    password: for a login that needs one (never put in argv or the environment).
    options: more session options, kept before the safe ones.
    timeout: seconds for each call, connection included.
    """

    def __init__(
        self,
        port: int | str = 5432,
        db: str = "postgres",
        *,
        host: str | None = None,
        user: str | None = None,
        run_as: str | None = "postgres",
        password: str | None = None,
        options: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        runner: Runner = run_bounded,
    ) -> None:
        self.port, self.db, self.host, self.user = int(port), db, host, user
        self.run_as = run_as
        self._password = password
        self.options = options
        self.timeout = float(timeout)
        self._runner = runner
        psql_argv(self.port, db, run_as=run_as, host=host, user=user)  # checks the names

    def __repr__(self) -> str:  # never the password
        return f"Session(port={self.port}, db={self.db!r}, host={self.host!r}, user={self.user!r})"

    def argv(self, db: str | None = None, variables: Mapping[str, str] | None = None) -> list[str]:
        run_as = self.run_as if self.run_as and os.geteuid() == 0 else None
        return psql_argv(
            self.port,
            db or self.db,
            run_as=run_as,
            host=self.host,
            user=self.user,
            csv_output=True,
            variables=variables,
        )

    @contextmanager
    def _passfile(self, db: str) -> Iterator[str | None]:
        if self._password is None:
            yield None
            return
        line = passfile_line(self.host or "*", self.port, db, self.user or "*", self._password)
        with passfile([line], owner=self.run_as) as path:
            yield path

    def run(
        self,
        sql: str,
        *,
        db: str | None = None,
        stdin: bool = False,
        check: bool = True,
        timeout: float | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Result:
        """Run SQL: on -c, or on stdin when ``stdin`` (a script, or SQL that must not show
        in the process list). check: raise SessionError unless psql exits 0."""
        db = db or self.db
        limit = self.timeout if timeout is None else float(timeout)
        argv = self.argv(db, variables)
        if not stdin:
            argv += ["-c", sql]
        with self._passfile(db) as path:
            # The server gives up on a statement when psql is given up on; the caller's
            # options may still set their own statement_timeout.
            options = f"-c statement_timeout={max(1, int(limit * 1000))}"
            env = session_env(
                options=" ".join(filter(None, [options, self.options])),
                passfile=path,
                connect_timeout=min(CONNECT_TIMEOUT, limit),
            )
            try:
                proc = self._runner(argv, input=sql if stdin else None, env=env, timeout=limit)
            except subprocess.TimeoutExpired:
                raise SessionError(
                    f"{_show(argv)} did not answer within {limit:g} s", None
                ) from None
        result = Result(proc.returncode, proc.stdout or "", proc.stderr or "")
        if proc.returncode == 0:
            result.rows = parse_csv(result.stdout)
        elif check:
            tail = (result.stderr or result.stdout).strip()[-2000:]
            raise SessionError(
                f"{_show(argv)} failed (exit {proc.returncode}): {tail}",
                proc.returncode,
                result.stderr,
            )
        return result

    def rows(self, sql: str, db: str | None = None, **kwargs) -> list[list[str]]:
        return self.run(sql, db=db, **kwargs).rows

    def value(self, sql: str, db: str | None = None, **kwargs) -> str:
        """The first column of the first row ('' when none)."""
        return self.run(sql, db=db, **kwargs).value

    def script(self, text: str, db: str | None = None, **kwargs) -> Result:
        """A psql script on stdin."""
        return self.run(text, db=db, stdin=True, **kwargs)


def _show(argv: Sequence[str]) -> str:
    """An argv for a message, a long -c statement cut short."""
    out = []
    for arg in argv:
        out.append(arg if len(arg) <= 200 else arg[:197] + "...")
    return " ".join(out)
