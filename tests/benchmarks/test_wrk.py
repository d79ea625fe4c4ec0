"""wrk's Lua script and the parsing of its result line; a real wrk run when wrk is installed."""

from __future__ import annotations

import json
import re
import shutil
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks import wrk

LINE = ('WRK_RESULT {"requests": 2500, "duration_us": 2000000, "bytes": 1, "connect": 0, "read": 2, '
        '"write": 0, "status": 3, "timeout": 1, "mean_us": 812.5, "p50_us": 700, "p90_us": 1500, '
        '"p99_us": 4200, "max_us": 9000}')


def test_parse_reads_the_result_line_among_wrk_output():
    output = (f"Running 2s test @ http://127.0.0.1:1/x\n  1 threads and 8 connections\n{LINE}\n"
              "Requests/sec: 1250\n")
    result = wrk.parse(output)
    assert result.requests == 2500
    assert result.rps == pytest.approx(1250.0)
    assert (result.p50_ms, result.p90_ms, result.p99_ms, result.max_ms) == (0.7, 1.5, 4.2, 9.0)
    assert result.mean_ms == pytest.approx(0.8125)
    assert result.non_2xx == 3
    assert result.socket_errors == 3  # read 2 + timeout 1
    assert result.failed == 6
    assert result.to_dict()["failed"] == 6


def test_parse_without_a_result_line_is_a_clear_error():
    with pytest.raises(wrk.WrkError, match="no result line"):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_lua_script_escapes_the_body():
    body = json.dumps({"a": 'quote " and backslash \\ and\nnewline'})
    script = wrk.lua_script(body)
    line = next(x for x in script.splitlines() if x.startswith("wrk.body"))
    literal = line.split("=", 1)[1].strip()
    assert literal.startswith('"') and literal.endswith('"')
    unescaped = re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), literal[1:-1])
    assert json.loads(unescaped) == json.loads(body)


class _Echo(BaseHTTPRequestHandler):
    """Answers POSTs with 200 and counts the bodies it got."""

    bodies: list[bytes] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        _Echo.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        payload = b'{"status": "APPROVED"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


class _EchoServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # wrk closes its connections when its time is up, at times while an answer is being written:
        # the broken pipe that follows is how the run ends, not an error worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")
def test_a_real_wrk_run_posts_the_body_and_reports():
    httpd = _EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        body = json.dumps({"credit_application": {"home": "owner"}})
        result = wrk.run(f"http://127.0.0.1:{httpd.server_port}/classify", body, clients=2, seconds=1)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.requests > 0
    assert result.failed == 0
    assert result.p50_ms <= result.p99_ms <= result.max_ms
    assert _Echo.bodies and all(b == body.encode() for b in _Echo.bodies)
