"""bentokit.server: readiness, clear failures, and no process left behind whatever happens."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
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
    assert not running.tmp_dir.exists()  # with the sockets its killed supervisor could not remove


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


@pytest.mark.server
def test_the_supervisor_takes_commands_from_no_other_user(reference_server):
    """BentoML's supervisor (a circus arbiter) obeys ``quit``, ``stop`` and ``add`` (a watcher running any
    command) from whatever connects to its control endpoints, unauthenticated. BentoML put them on two
    TCP ports of 127.0.0.1, where any local user reaches them: in a class run, a classmate's code. Now
    the server's port is the tree's only TCP listener, and its Unix sockets are in folders that only
    the server's user can enter."""
    tree = procs.snapshot([reference_server.process])
    listening, sockets = set(), set()
    for process in tree:
        with contextlib.suppress(psutil.Error):
            listening |= {conn.laddr.port for conn in process.net_connections("inet")
                          if conn.status == psutil.CONN_LISTEN}
            sockets |= {conn.laddr for conn in process.net_connections("unix") if conn.laddr}
    assert listening == {reference_server.port}
    assert len(sockets) >= 2, sockets  # the control and the events endpoints
    owner = os.getuid()  # the session's server is not confined
    for path in sockets:
        folder = Path(path).parent
        assert folder.is_relative_to(reference_server.tmp_dir), path  # removed by stop(), even after a kill
        mode = folder.stat()
        assert mode.st_uid == owner and mode.st_mode & 0o077 == 0, (path, oct(mode.st_mode))


REACH = """
import socket, sys
for address in sys.argv[1:]:
    family = socket.AF_UNIX if address.startswith("/") else socket.AF_INET
    with socket.socket(family) as sock:
        try:
            sock.connect(address if family == socket.AF_UNIX else ("127.0.0.1", int(address)))
            print("reached", address)
        except OSError as error:
            print("refused", address, error.errno)
"""


@pytest.mark.server
@pytest.mark.skipif(os.geteuid() != 0, reason="connects as another user: needs root")
def test_another_user_cannot_reach_the_supervisors_control(reference_server):
    """What the test above checks, from the outside: as ``nobody``, nothing the server's processes listen
    on can be connected to, but its HTTP port (before, a ``quit`` sent to one of two TCP ports ended
    the server, whoever sent it)."""
    endpoints = set()
    for process in procs.snapshot([reference_server.process]):
        with contextlib.suppress(psutil.Error):
            endpoints |= {str(conn.laddr.port) for conn in process.net_connections("inet")
                          if conn.status == psutil.CONN_LISTEN and conn.laddr.port != reference_server.port}
            endpoints |= {conn.laddr for conn in process.net_connections("unix") if conn.laddr}
    assert endpoints
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    outside = subprocess.run([python, "-c", REACH, *sorted(endpoints)], user="nobody", cwd="/",
                             capture_output=True, text=True, timeout=60, check=True)
    assert "reached" not in outside.stdout, outside.stdout
    assert reference_server.alive()


def test_a_proxy_in_the_environment_is_never_asked_for_this_machines_servers(tmp_path) -> None:
    """An instructor behind a proxy (HTTP_PROXY set, 127.0.0.1 not in NO_PROXY): the grader's requests to
    a learner's server went to the proxy, and the whole class lost the live endpoint group."""
    import http.server
    import threading

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        dead = f"http://127.0.0.1:{server.free_port()}"  # a proxy nobody answers for
        code = f"import bentokit, requests; print(requests.get({url!r}, timeout=10).status_code)"
        env = {**os.environ, "HTTP_PROXY": dead, "http_proxy": dead, "NO_PROXY": "example.org"}
        env.pop("no_proxy", None)
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                              timeout=60, cwd=tmp_path)
        assert done.stdout.strip() == "200", done.stderr
        plain = code.replace("import bentokit, ", "import ")
        without = subprocess.run([sys.executable, "-c", plain], env=env, capture_output=True, text=True,
                                 timeout=60, cwd=tmp_path)
        assert without.returncode != 0  # what requests does on its own: asks the proxy
    finally:
        httpd.shutdown()
        httpd.server_close()
