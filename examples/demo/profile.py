"""The profile service of the demo fleet: composes a person's page from the
publications and institution services, which it reaches through Shoal by name."""

import json
import os
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROXY = os.environ.get("SHOAL_PROXY", "http://127.0.0.1:8080")
INSTANCE = os.environ.get("SHOAL_INSTANCE", "profile")


def trace_id(headers):
    """The W3C trace id of a request: from `traceparent`, else `X-Trace-Id`."""
    parts = (headers.get("traceparent") or "").split("-")
    if len(parts) == 4 and len(parts[1]) == 32:
        return parts[1]
    return headers.get("X-Trace-Id")


def log_request(handler, status):
    """One JSON line per request on stdout; the trace id ties it to the proxy's spans."""
    line = {"level": "info" if status < 500 else "error",
            "msg": f"{handler.command} {handler.path}", "status": status, "instance": INSTANCE}
    tid = trace_id(handler.headers)
    if tid:
        line["trace_id"] = tid
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def flags(headers):
    """The feature flags the gateway decided for this request (`X-Flag-<name>`), names
    in lower case (header names are case-insensitive, and clients such as urllib
    change their case)."""
    return {k[7:].lower(): v for k, v in headers.items() if k.lower().startswith("x-flag-")}


def call(service, path, incoming):
    """GET PROXY/path with Host: service, continuing the incoming request's trace and
    passing its feature flags on (one decision for the whole call tree); returns parsed
    JSON or an error marker."""
    headers = {"Host": service}
    for name in ("traceparent", "tracestate"):
        if incoming.get(name):
            headers[name] = incoming[name]
    for name, value in flags(incoming).items():
        headers["X-Flag-" + name] = value
    req = urllib.request.Request(PROXY + path, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return json.loads(resp.read())
    except Exception as exc:  # a failing dependency degrades the page, never breaks it
        return {"unavailable": str(exc)}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/health":
            return self.reply(200, {"status": "ok"})
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        if len(parts) == 2 and parts[0] == "profile":
            user = parts[1]
            page = {
                "user": user,
                "served_by": INSTANCE,
                "flags": flags(self.headers),
                "publications": call("publications", f"/publications/{user}", self.headers),
                "institution": call("institution", f"/institution/{user}", self.headers),
            }
            return self.reply(200, page)
        return self.reply(404, {"error": "not found", "path": self.path})

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_request(self, code="-", size="-"):
        log_request(self, int(code) if isinstance(code, int) else 0)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))
        sys.stderr.flush()


if __name__ == "__main__":
    port = int(os.environ["PORT"])
    print(f"profile listening on {port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
