"""User events through py-consul: `event.fire` with a payload and filters, `event.list` by
name (payloads decoded), and a blocking list (`index` from the last answer) woken by the next
fire, with Consul's event index (the newest event's UUID folded to 64 bits)."""

import threading
import time
import urllib.error
import urllib.request


def uuid_index(uuid):
    """Consul's uuidToUint64."""
    h = uuid.replace("-", "")
    return int(h[:16], 16) ^ int(h[16:], 16)


def test_fire_answers_the_event(c):
    e = c.event.fire("deploy-web", "v42", service="web", tag="blue", node="node-.*")
    assert e["Name"] == "deploy-web" and len(e["ID"]) == 36
    assert e["Payload"] == "djQy"  # base64 of v42, as Consul's JSON carries []byte
    assert (e["NodeFilter"], e["ServiceFilter"], e["TagFilter"]) == ("node-.*", "web", "blue")
    assert e["Version"] == 1 and e["LTime"] >= 1
    empty = c.event.fire("deploy-web")
    assert empty["Payload"] is None


def test_list_by_name_in_order(c):
    a = c.event.fire("list-a", "one")
    c.event.fire("list-b", "other")
    b = c.event.fire("list-a", "two")
    index, events = c.event.list(name="list-a")
    assert [(e["ID"], e["Payload"]) for e in events] == [(a["ID"], b"one"), (b["ID"], b"two")]
    assert int(index) == uuid_index(b["ID"])
    assert events[0]["LTime"] < events[1]["LTime"]
    _, all_events = c.event.list()
    assert {"list-a", "list-b"} <= {e["Name"] for e in all_events}
    index, none = c.event.list(name="never-fired")
    assert none == [] and index == "1"


def test_blocking_list_wakes_on_the_next_event(c):
    c.event.fire("wake", "first")
    index, events = c.event.list(name="wake")
    result = {}

    def block():
        start = time.monotonic()
        result["answer"] = c.event.list(name="wake", index=index, wait="30s")
        result["took"] = time.monotonic() - start

    t = threading.Thread(target=block)
    t.start()
    time.sleep(0.3)  # let the list block first (a fire before it blocks answers the same)
    assert t.is_alive(), "a list with the current index must block"
    fired = c.event.fire("wake", "second")
    t.join(timeout=10)
    assert not t.is_alive()
    new_index, new_events = result["answer"]
    assert result["took"] < 10
    assert new_events[-1]["ID"] == fired["ID"] and new_events[-1]["Payload"] == b"second"
    assert int(new_index) == uuid_index(fired["ID"]) != int(index)


def test_blocking_list_times_out_unchanged(c):
    c.event.fire("quiet", "x")
    index, events = c.event.list(name="quiet")
    start = time.monotonic()
    again_index, again = c.event.list(name="quiet", index=index, wait="1s")
    assert 0.9 < time.monotonic() - start < 5
    assert again_index == index and again == events


def test_oversized_and_unnamed_events_are_refused(shoal):
    def fire(path, body):
        req = urllib.request.Request(f"http://{shoal.http}/v1/event/fire/{path}", data=body, method="PUT")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    assert fire("big", b"x" * 600) == 400  # Consul: name + payload up to 512 bytes
    assert fire("ok", b"x" * 100) == 200
    assert fire("tagonly?tag=blue", b"") == 400  # a tag filter needs a service filter
