"""`/v1/agent/monitor` streams the agent's log as it is written, read by a real
streaming HTTP client (what `consul monitor` does): Consul's line form, its JSON form
with `logjson`, the `loglevel` filter, and a 400 for a level Consul does not know."""

import http.client
import json
import re
import socket
import time

import pytest
import requests


class Monitor:
    """One monitor stream, read line by line as it arrives (chunked, never ending)."""

    def __init__(self, shoal, query):
        host, port = shoal.http.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=10)
        self.conn.request("GET", f"/v1/agent/monitor?{query}")
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200, self.resp.read()
        assert self.resp.getheader("content-type").startswith("text/plain")

    def first(self, pred, timeout=10.0):
        """The first line `pred` accepts within `timeout` seconds, or None."""
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            self.conn.sock.settimeout(left)
            try:
                line = self.resp.readline().decode().rstrip("\n")
            except (TimeoutError, socket.timeout):
                return None
            if pred(line):
                return line
        return None

    def close(self):
        self.conn.close()


def test_lines_come_as_they_are_logged_in_consul_s_form(shoal, c):
    m = Monitor(shoal, "loglevel=info")
    try:
        c.event.fire("monitor-text")
        line = m.first(lambda l: "event=monitor-text" in l)
        assert line is not None, "the event's log line never came"
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[INFO\]  consul: consul user event fired:", line), line
    finally:
        m.close()


def test_logjson_gives_one_object_per_line(shoal, c):
    m = Monitor(shoal, "loglevel=debug&logjson")
    try:
        c.event.fire("monitor-json")
        line = m.first(lambda l: "monitor-json" in l)
        assert line is not None
        v = json.loads(line)
        assert v["@level"] == "info" and v["@module"] == "consul", v
        assert v["@message"].startswith("consul user event fired"), v
        assert re.match(r"^\d{4}-\d\d-\d\dT", v["@timestamp"]), v
    finally:
        m.close()


def test_loglevel_leaves_out_what_says_less(shoal, c):
    info = Monitor(shoal, "loglevel=info")
    warn = Monitor(shoal, "loglevel=warn")
    try:
        c.event.fire("monitor-level")
        assert info.first(lambda l: "monitor-level" in l) is not None
        # The info stream had it: the warn stream, open as long, did not.
        assert warn.first(lambda l: "monitor-level" in l, timeout=1.0) is None
    finally:
        info.close()
        warn.close()


@pytest.mark.parametrize("query", ["loglevel=verbose", "level=info"])
def test_an_unknown_level_or_parameter_is_a_400(shoal, query):
    r = requests.get(f"http://{shoal.http}/v1/agent/monitor?{query}", timeout=10)
    assert r.status_code == 400, r.text
