#!/usr/bin/python3
"""The lab's alert receiver: Alertmanager's webhook posts here, and each notification is
appended as one JSON line to /var/lib/webhook-sink/alerts.jsonl. GET / returns that file,
so a test (or an operator) can read what reached the receiver:

  webhook-sink.py ADDRESS PORT

Lab only: it checks nothing and keeps everything.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LOG = Path("/var/lib/webhook-sink/alerts.jsonl")


class Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            line = json.dumps(json.loads(body), sort_keys=True)
        except ValueError:
            self.send_response(400)
            self.end_headers()
            return
        with LOG.open("a") as f:
            f.write(line + "\n")
        self.send_response(200)
        self.end_headers()

    def do_GET(self) -> None:
        data = LOG.read_bytes() if LOG.exists() else b""
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:
        pass


def main() -> int:
    LOG.parent.mkdir(parents=True, exist_ok=True)
    ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Sink).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
