"""The institution service of the demo fleet: where a person works."""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INSTANCE = os.environ.get("SHOAL_INSTANCE", "institution")
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

    def log_request(self, code="-", size="-"):
        """One JSON line per request on stdout, with the W3C trace id when there is one."""
        status = int(code) if isinstance(code, int) else 0
        line = {"level": "info" if status < 500 else "error",
                "msg": f"{self.command} {self.path}", "status": status, "instance": INSTANCE}
        parts = (self.headers.get("traceparent") or "").split("-")
        tid = parts[1] if len(parts) == 4 and len(parts[1]) == 32 else self.headers.get("X-Trace-Id")
        if tid:
            line["trace_id"] = tid
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()

    def log_message(self, fmt, *args):
        sys.stderr.write("%s\n" % (fmt % args))
        sys.stderr.flush()


if __name__ == "__main__":
    port = int(os.environ["PORT"])
    print(f"institution listening on {port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
