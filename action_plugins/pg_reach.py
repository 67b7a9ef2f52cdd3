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


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False  # the host itself is never contacted through Ansible

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        unknown = sorted(set(args) - {"host", "port", "timeout"})
        if unknown or not args.get("host"):
            result.update(
                failed=True, msg=f"pg_reach: needs host, takes port and timeout; got {sorted(args)}"
            )
            return result
        try:
            port, timeout = int(args.get("port", 22)), float(args.get("timeout", 1))
        except (TypeError, ValueError):
            result.update(
                failed=True, msg=f"pg_reach: port and timeout must be numbers; got {args!r}"
            )
            return result
        ok, elapsed, error = reach(str(args["host"]), port, timeout)
        result.update(changed=False, elapsed=round(elapsed, 3), host=str(args["host"]), port=port)
        if not ok:
            result.update(
                failed=True,
                msg=f"{args['host']}:{port} did not answer within {timeout:g} s: {error}",
            )
        return result
