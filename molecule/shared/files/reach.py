#!/usr/bin/env python3
"""Who reaches what, from inside a lab host (podman exec -i HOST python3 - ARGS < reach.py):

  reach.py pg HOST PORT       send PostgreSQL's SSLRequest and say what answered:
                              postgresql (the server answered S or N), closed (accepted,
                              then closed without a byte: HAProxy's connection reject),
                              refused (nothing listens there), timeout
  reach.py http METHOD URL    an HTTPS request without credentials or certificate checks
                              (the answer's status only: 401, 403, ...)

Prints one JSON line, {"result": ...} or {"status": ...}. Sends no secret.
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import sys
import urllib.error
import urllib.request

SSL_REQUEST = struct.pack("!ii", 8, 80877103)


def pg(host: str, port: int, timeout: float = 3.0) -> str:
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(SSL_REQUEST)
            answer = s.recv(1)
    except ConnectionRefusedError:
        return "refused"
    except ConnectionResetError:
        return "closed"
    except TimeoutError:
        return "timeout"
    except OSError as e:
        return f"error: {e}"
    if answer in (b"S", b"N"):
        return "postgresql"
    return "closed" if not answer else f"other: {answer!r}"


def http(method: str, url: str, timeout: float = 5.0) -> int | None:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    req = urllib.request.Request(url, method=method, data=b"{}" if method != "GET" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[1] == "pg":
        print(json.dumps({"result": pg(argv[2], int(argv[3]))}))
        return 0
    if len(argv) == 4 and argv[1] == "http":
        print(json.dumps({"status": http(argv[2], argv[3])}))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
