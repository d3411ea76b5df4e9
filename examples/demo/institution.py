"""The institution service of the demo fleet: where a person works."""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INSTITUTIONS = {"ada": "Analytical Engine Society", "alan": "University of Manchester"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        if len(parts) == 2 and parts[0] == "institution":
            name = INSTITUTIONS.get(parts[1], "Independent researcher")
            return self.reply(200, {"user": parts[1], "institution": name})
        return self.reply(404, {"error": "not found"})

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stdout.write("%s\n" % (fmt % args))
        sys.stdout.flush()


if __name__ == "__main__":
    port = int(os.environ["PORT"])
    print(f"institution listening on {port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
