"""A Consul client's lock and leader election through a restart of `shoal up`, with the
unmodified py-consul client: the session (with a TTL) and the lock it holds live in the
store, so after a restart on the same data the holder still holds it, a contender still
cannot take it, the holder renews and releases, and then the contender wins; a session
left to expire after the restart releases its lock at its TTL."""

import tempfile
import time
from pathlib import Path

from conftest import SHOAL_TOML, shoal_in, wait_until

KEY = "service/web/leader"


def holder(c, key=KEY):
    _, kv = c.kv.get(key)
    return kv and kv.get("Session")


def test_a_lock_and_its_session_survive_a_restart():
    with tempfile.TemporaryDirectory(prefix="shoal-lock-") as tmp:
        workdir = Path(tmp)
        (workdir / "shoal.toml").write_text(SHOAL_TOML)
        with shoal_in(workdir) as (c, _):
            leader = c.session.create(name="leader", ttl=60, behavior="release")
            contender = c.session.create(name="contender", ttl=60, behavior="release")
            assert c.kv.put(KEY, "node-a", acquire=leader) is True
            assert c.kv.put(KEY, "node-b", acquire=contender) is False
            _, before = c.kv.get(KEY)
            # A short-lived session whose lock must go at its TTL, restart or not.
            short = c.session.create(name="short", ttl=10, behavior="delete")
            assert c.kv.put("service/batch/lock", "x", acquire=short) is True
            short_made = time.monotonic()

        with shoal_in(workdir) as (c, _):
            _, info = c.session.info(leader)
            assert info and info["ID"] == leader and info["TTL"] == "60s"
            _, kv = c.kv.get(KEY)
            assert kv["Session"] == leader and kv["Value"] == b"node-a"
            assert kv["LockIndex"] == before["LockIndex"]
            # Leader election goes on: the contender still loses, the leader renews.
            assert c.kv.put(KEY, "node-b", acquire=contender) is False
            assert c.session.renew(leader)["ID"] == leader
            # The leader steps down; the contender takes over.
            assert c.kv.put(KEY, "node-a", release=leader) is True
            assert holder(c) is None
            assert c.kv.put(KEY, "node-b", acquire=contender) is True
            _, kv = c.kv.get(KEY)
            assert kv["Session"] == contender and kv["LockIndex"] == before["LockIndex"] + 1

            # The short session expires at its TTL (10 s from its creation, at most
            # twice that as Consul allows) and, with behavior=delete, takes its key.
            wait_until(lambda: c.kv.get("service/batch/lock")[1] is None, timeout=25,
                       what="the short session's key deleted at its TTL after the restart")
            assert time.monotonic() - short_made >= 9
            assert c.session.info(short)[1] is None
