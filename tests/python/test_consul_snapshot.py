"""Snapshots: `GET/PUT /v1/snapshot` through py-consul's `snapshot.save/restore`, and
`shoal snapshot save/restore FILE`: the KV store, agent registrations, sessions and their
locks, and flags come back as they were when saved (keys added since are removed); a
damaged archive is refused and changes nothing; a snapshot restores into a fresh
`shoal up` (backup and restore onto another data directory)."""

import gzip
import json
import os
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import consul
import pytest

from conftest import SHOAL_TOML, shoal_bin, shoal_in


def cli(c, *args):
    env = dict(os.environ, SHOAL_ADDR=f"http://{c.http.host}:{c.http.port}")
    return subprocess.run([str(shoal_bin()), *args], env=env, capture_output=True, text=True, timeout=60)


def put_flag(c, name, body):
    req = urllib.request.Request(f"http://{c.http.host}:{c.http.port}/api/v1/flags/{name}",
                                 data=json.dumps(body).encode(), method="PUT",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        assert r.status in (200, 201)


def flag_names(c):
    with urllib.request.urlopen(f"http://{c.http.host}:{c.http.port}/api/v1/flags") as r:
        return sorted(f["name"] for f in json.load(r))


def state(c):
    _, keys = c.kv.get("app/", keys=True)
    _, lock = c.kv.get("app/leader")
    return {
        "keys": sorted(keys or []),
        "services": sorted(s for s in c.agent.services() if s.startswith("snap-")),
        "lock": lock and lock.get("Session"),
        "flags": flag_names(c),
    }


def test_save_change_restore_and_refuse_a_damaged_archive():
    with tempfile.TemporaryDirectory(prefix="shoal-snap-") as tmp:
        workdir = Path(tmp)
        (workdir / "shoal.toml").write_text(SHOAL_TOML)
        with shoal_in(workdir) as (c, _):
            c.kv.put("app/a", "1")
            c.kv.put("app/b", b"\x00\xffbinary")
            c.agent.service.register("snap-web", service_id="snap-web-1", port=9, check=consul.Check.ttl("1h"))
            sid = c.session.create(name="snap-leader", ttl=600)
            assert c.kv.put("app/leader", "me", acquire=sid)
            put_flag(c, "snap_beta", {"enabled": True, "rollout": 30})
            saved = state(c)

            # Through py-consul, as a Consul user would take a backup.
            archive = c.snapshot.save()
            assert archive[:2] == b"\x1f\x8b", "a gzip archive"
            header = json.loads(gzip.decompress(archive).split(b"\n", 1)[0])
            assert header["format"] == "shoal-snapshot" and header["entries"] >= 5

            # And through the CLI, to a file.
            out = cli(c, "snapshot", "save", str(workdir / "backup.snap"))
            assert out.returncode == 0, out.stderr
            assert "saved" in out.stdout and (workdir / "backup.snap").stat().st_size > 100

            # Change everything.
            c.kv.delete("app/a")
            c.kv.put("app/z", "new")
            c.agent.service.deregister("snap-web-1")
            c.session.destroy(sid)
            put_flag(c, "snap_other", {"enabled": False})
            changed = state(c)
            assert changed != saved

            # A damaged archive is refused whole: nothing changes.
            bad = bytearray(archive)
            bad[len(bad) // 2] ^= 0xFF
            with pytest.raises(consul.exceptions.BadRequest):
                c.snapshot.restore(bytes(bad))
            assert state(c) == changed

            out = cli(c, "snapshot", "restore", str(workdir / "backup.snap"))
            assert out.returncode == 0, out.stderr
            assert "restored" in out.stdout
            assert state(c) == saved
            _, b = c.kv.get("app/b")
            assert b["Value"] == b"\x00\xffbinary"
            _, info = c.session.info(sid)
            assert info and info["Name"] == "snap-leader"
            # The restored leader still holds its lock; a contender cannot take it.
            other = c.session.create(name="contender", ttl=60)
            assert c.kv.put("app/leader", "them", acquire=other) is False

            # py-consul's restore of its own save answers True.
            assert c.snapshot.restore(archive) is True
            assert state(c) == saved

        # Onto a fresh data directory: the backup brings the state over.
        fresh = workdir / "fresh"
        fresh.mkdir()
        (fresh / "shoal.toml").write_text(SHOAL_TOML)
        with shoal_in(fresh) as (c, _):
            assert state(c)["keys"] == []
            out = cli(c, "snapshot", "restore", str(workdir / "backup.snap"))
            assert out.returncode == 0, out.stderr
            assert state(c) == saved
            out = cli(c, "snapshot", "restore", str(workdir / "missing.snap"))
            assert out.returncode != 0 and "cannot read" in out.stderr
