"""Action plugin: whether a host's TCP port answers, tried from the controller itself.

The on-call playbooks try each host's SSH port before anything else, so that a lost host
leaves the play at once instead of stalling it on an SSH connection. As an action plugin
this costs no module run on the controller (no process, no module transfer per host): the
worker that runs the task opens the socket. The documentation is in library/pg_reach.py.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from ansible.plugins.action import ActionBase


def reach(
    host: str,
    port: int,
    timeout: float,
    connect: Callable[..., object] = socket.create_connection,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    pause: float = 0.1,
) -> tuple[bool, float, str]:
    """(answered, seconds, last error): connects until one succeeds or ``timeout`` s have
    passed; each try may take at most what is left of it. A refused connection (sshd not
    listening yet) is tried again after ``pause`` s, like wait_for."""
    start = clock()
    error = ""
    while True:
        left = timeout - (clock() - start)
        if left <= 0:
            return False, clock() - start, error or "no answer"
        try:
            sock = connect((host, int(port)), timeout=left)
        except OSError as exc:
            error = str(exc) or type(exc).__name__
            if clock() - start + pause >= timeout:
                return False, clock() - start, error
            sleep(pause)
            continue
        close = getattr(sock, "close", None)
        if close:
            close()
        return True, clock() - start, ""


def check_args(args: dict) -> tuple[str, int, float]:
    """(host, port, timeout), or ValueError naming what is wrong."""
    unknown = sorted(set(args) - {"host", "port", "timeout"})
    if unknown or not args.get("host"):
        raise ValueError(f"pg_reach: needs host, takes port and timeout; got {sorted(args)}")
    try:
        port, timeout = int(args.get("port", 22)), float(args.get("timeout", 1))
    except (TypeError, ValueError):
        port, timeout = 0, 0.0
    if not 0 < port < 65536 or not timeout > 0:
        raise ValueError(
            f"pg_reach: port must be 1-65535 and timeout a number of seconds above 0; "
            f"got port={args.get('port')!r}, timeout={args.get('timeout')!r}"
        )
    return str(args["host"]), port, timeout


class ActionModule(ActionBase):
    """RV(reached) says whether the port answered; the task fails only on bad arguments,
    so that a plugin error is never taken for a lost host."""

    TRANSFERS_FILES = False
    # No persistent connection is set up for this action; the ssh connection plugin is
    # lazy and this action runs no command, so the host is never contacted through Ansible.
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        try:
            host, port, timeout = check_args(self._task.args)
        except ValueError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        ok, elapsed, error = reach(host, port, timeout)
        result.update(
            changed=False,
            reached=ok,
            elapsed=round(elapsed, 3),
            host=host,
            port=port,
            msg=f"{host}:{port} answered"
            if ok
            else f"{host}:{port} did not answer within {timeout:g} s: {error}",
        )
        return result
