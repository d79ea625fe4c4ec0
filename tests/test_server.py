"""bentokit.server: readiness, clear failures, and no process left behind whatever happens."""

from __future__ import annotations

import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bentokit import procs, server

SLOW_SERVICE = textwrap.dedent("""
    import time
    import bentoml

    @bentoml.service
    class Slow:
        def __init__(self) -> None:
            time.sleep(300)  # never ready within the test's limit

        @bentoml.api
        def ping(self) -> str:
            return "pong"
""")


KILLER_SERVICE = textwrap.dedent("""
    import os, signal
    import bentoml

    @bentoml.service
    class Orphan:
        def __init__(self) -> None:
            os.kill(os.getppid(), signal.SIGKILL)  # the supervisor: this worker is an orphan now

        @bentoml.api
        def ping(self) -> str:
            return "pong"
""")


def test_free_port_is_bindable_and_outside_the_ephemeral_range():
    """Ports of the kernel's ephemeral range go to outgoing connections and to port-0 binds too: one
    was taken again before a server bound it (CI). The kit's come from below that range."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {server.free_port() for _ in range(20)}
    for port in ports:
        with socket.socket() as sock:
            sock.bind((server.HOST, port))
    if low > 16000:  # else there is no room below it, and the kernel chooses
        assert all(15000 <= port < low for port in ports), ports
    assert len(ports) > 1  # chosen at random, not one fixed port


def test_crash_on_start_is_reported_with_the_log(tmp_path):
    """The tail is in the message, and the whole log (a temporary file the kit made) is kept and named."""
    (tmp_path / "service.py").write_text("raise RuntimeError('boom at import')\n")
    with pytest.raises(server.ServerError, match="(?s)exited with code.*boom at import") as caught, \
            server.serving("service:Anything", tmp_path, timeout=60):
        pass
    log = Path(str(caught.value).rsplit("The whole log: ", 1)[1].strip())
    try:
        assert "boom at import" in log.read_text()
    finally:
        log.unlink()


def test_a_log_the_kit_made_goes_with_the_server_handle_and_a_given_one_stays(tmp_path):
    """Without a log path, each server's log was a temporary file left behind for good (dozens a day)."""
    sleeper = [sys.executable, "-c", "print('started', flush=True); import time; time.sleep(300)"]
    made = server.launch(sleeper, server.free_port(), tmp_path)
    given = server.launch(sleeper, server.free_port(), tmp_path, log_path=tmp_path / "given.log")
    try:
        deadline = time.monotonic() + 60
        while "started" not in made.log_tail() and time.monotonic() < deadline:
            time.sleep(0.1)  # a poll interval while the interpreter starts
    finally:
        made.stop(grace=1)
        given.stop(grace=1)
    log = made.log_path
    assert log.parent != tmp_path
    assert "started" in made.log_tail()  # still there once stopped: a notebook reads it then
    del made  # the handle is gone: so is the log
    assert not log.exists()
    assert (tmp_path / "given.log").exists()


@pytest.mark.server
def test_never_ready_times_out_and_leaves_nothing(tmp_path):
    (tmp_path / "service.py").write_text(SLOW_SERVICE)
    running = server.start("service:Slow", tmp_path)
    try:
        with pytest.raises(server.ServerError, match="not ready after 8 s"):
            running.wait_ready(timeout=8)
        seen = running.processes()
        groups = running.process_groups()
        assert len(groups) >= 2  # the supervisor's and the stuck worker's own session
    finally:
        running.stop(grace=1)  # the stuck worker ignores SIGTERM: SIGKILL after 1 s, not 10
    assert procs.running(seen) == []
    assert procs.snapshot(groups) == []  # nothing new in those groups or sessions either


@pytest.mark.server
def test_error_inside_the_block_still_stops_the_group(reference_server, saved_model):
    from tests.conftest import ROOT, SERVICE_TARGET

    with pytest.raises(ZeroDivisionError), server.serving(SERVICE_TARGET, ROOT, timeout=90) as running:
        seen = running.processes()
        groups = running.process_groups()
        assert len(seen) >= 2  # supervisor and at least one worker
        1 / 0  # noqa: B018
    assert procs.running(seen) == []
    assert procs.snapshot(groups) == []


@pytest.mark.server
def test_a_service_that_kills_its_supervisor_is_not_ready_and_leaves_no_orphan(tmp_path):
    (tmp_path / "service.py").write_text(KILLER_SERVICE)
    running = server.start("service:Orphan", tmp_path)
    marker = procs.spawn_marker(running.process)
    try:
        try:
            running.wait_ready(timeout=60)
        except server.ServerError as err:
            assert "exited with code -9" in str(err)
        else:  # the 200 came just before the kill: problem(), asked before every live check, says so
            deadline = time.monotonic() + 30
            while running.problem() is None and time.monotonic() < deadline:
                time.sleep(0.1)  # a poll interval
        assert "supervisor exited" in (running.problem() or "")
        orphans = procs.find(marker, var=procs.SPAWN_MARKER)
        assert orphans, "the worker should outlive its supervisor (it is in a session of its own)"
    finally:
        running.stop()
    assert procs.running(orphans) == [] and procs.find(marker, var=procs.SPAWN_MARKER) == []


@pytest.mark.server
def test_a_long_temp_folder_does_not_stop_a_composed_service(saved_model, tmp_path):
    """BentoML makes a composed service's sockets under TMPDIR and refuses paths of 103 characters or
    more: with a long TMPDIR (a cohort's work folder, say) its supervisor died of an AssertionError."""
    from tests.conftest import ROOT

    long_tmp = tmp_path / ("t" * server.MAX_SERVER_TMPDIR)
    long_tmp.mkdir()
    with server.serving("composed_service:CreditRiskApi", ROOT / "solutions", timeout=120,
                        env={"TMPDIR": str(long_tmp)}) as running:
        own = running.tmp_dir
        assert own is not None and len(str(own)) <= server.MAX_SERVER_TMPDIR
        assert running.alive()
    assert not own.exists()  # removed with the server
    assert server._server_tmpdir({"TMPDIR": "/tmp"}, None) is None  # a short one is left as it is
