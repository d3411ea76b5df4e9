"""A Python HTTP service whose requests spend their time in one known function,
hot_spin (HOT_N rounds a request, default 20000): what `shoal profile` should find
first in it. Used by crates/shoal/tests/profile.rs and bench/profile.sh."""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROUNDS = int(os.environ.get("HOT_N", "20000"))


def hot_spin(n):
    x = 0
    for i in range(n):
        x = (x * 31 + i) % 1000003
    return x


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = str(hot_spin(ROUNDS) if self.path != "/health" else 0).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
