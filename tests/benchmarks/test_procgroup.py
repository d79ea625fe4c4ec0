"""Serving a target: first answer, CPU and memory of all its processes, and nothing left after stop.

The fake server below behaves like ``bentoml serve`` where it matters: it answers over HTTP and has
one worker in its own group and one that leaves for a session of its own (as circus's workers do).
"""

from __future__ import annotations

import contextlib
import os
import sys
import textwrap
import time

import psutil
import pytest

from benchmarks import procgroup, serve
from benchmarks.targets import Target
from bentokit import procs
from bentokit.server import ServerError

FAKE_SERVER = textwrap.dedent("""
    import json, os, subprocess, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    port, answer = int(sys.argv[1]), sys.argv[2]
    if answer == "die":
        sys.exit(3)
    spin = "import time\\nwhile True: sum(range(100000)); time.sleep(0.001)"
    subprocess.Popen([sys.executable, "-c", spin])  # a worker in the group
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.reply(b"OK")
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.reply(answer.encode())
        def reply(self, payload):
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        def log_message(self, *args):
            pass

    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
""")


def fake(answer: str = '{"probability": 0.1, "status": "APPROVED"}') -> Target:
    return Target("fake", "fake server", lambda port: [sys.executable, "-c", FAKE_SERVER, str(port), answer])


def wait_for_members(pgid: int, timeout: float = 20.0) -> list[psutil.Process]:
    """The fake server's 3 processes, once the escaping one has its own session."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = procgroup.members(pgid)
        with contextlib.suppress(ProcessLookupError):
            if len(found) == 3 and any(os.getpgid(p.pid) != pgid for p in found):
                return found
        time.sleep(0.05)
    raise AssertionError(f"the fake server has {len(procgroup.members(pgid))} processes, not the 3 expected")


def test_serving_measures_every_process_and_leaves_none(tmp_path):
    with serve.serving(fake(), tmp_path / "fake.log", timeout=30) as (server, cold):
        assert cold > 0
        processes = wait_for_members(server.process.pid)
        escaped = [p.pid for p in processes if os.getpgid(p.pid) != server.process.pid]
        before = procgroup.cpu_seconds(server.process.pid)
        time.sleep(0.5)
        used = procgroup.cpu_used(before, procgroup.cpu_seconds(server.process.pid))
        assert used > 0.01  # the spinning worker's CPU is counted
        assert procgroup.rss_bytes(server.process.pid) > 3 * 1024 * 1024
    assert escaped, "the fake server should have a worker in a session of its own"
    assert procs.running(processes) == []
    assert procgroup.members(server.process.pid) == []


def test_processes_are_stopped_when_the_block_fails(tmp_path):
    with pytest.raises(RuntimeError, match="boom"), \
            serve.serving(fake(), tmp_path / "fake.log", timeout=30) as (server, _):
        processes = wait_for_members(server.process.pid)
        raise RuntimeError("boom")
    assert procs.running(processes) == []


def test_a_server_that_exits_is_a_clear_error(tmp_path):
    with pytest.raises(ServerError, match="exited with code 3"), \
            serve.serving(fake("die"), tmp_path / "fake.log", timeout=30):
        pass


def test_an_answer_that_is_not_a_decision_is_refused(tmp_path):
    with pytest.raises(ServerError, match="not a decision"), \
            serve.serving(fake('{"status": "MAYBE-NOT"}'), tmp_path / "fake.log", timeout=30):
        pass
