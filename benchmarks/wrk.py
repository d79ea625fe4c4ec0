"""Load a server with ``wrk`` (a C load generator: it costs the shared cores far less than Python).

The request body is set and the summary read back through wrk's own Lua hooks: ``done()`` prints
one ``WRK_RESULT {...}`` JSON line with exact latency percentiles and the error counters.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MARKER = "WRK_RESULT "

LUA_TEMPLATE = """\
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{{"requests": %d, "duration_us": %d, "bytes": %d, '
    .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, '
    .. '"mean_us": %.1f, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}}\\n',
    "{marker}", summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed no result."""


@dataclass
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms) and failed requests."""

    requests: int
    seconds: float
    rps: float
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int

    @property
    def failed(self) -> int:
        """Requests that did not get a 2xx/3xx answer, or whose connection failed."""
        return self.non_2xx + self.socket_errors

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failed": self.failed}


def lua_script(body: str) -> str:
    """The wrk script that POSTs ``body`` (JSON text) and prints the result line."""
    return LUA_TEMPLATE.format(body=_lua_string(body), marker=MARKER)


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def parse(output: str) -> WrkResult:
    """Read the ``WRK_RESULT`` line of wrk's output."""
    for line in output.splitlines():
        if line.startswith(MARKER):
            raw = json.loads(line[len(MARKER):])
            break
    else:
        raise WrkError(f"wrk printed no result line:\n{output[-2000:]}")
    seconds = raw["duration_us"] / 1e6
    return WrkResult(
        requests=raw["requests"],
        seconds=seconds,
        rps=raw["requests"] / seconds if seconds > 0 else 0.0,
        mean_ms=raw["mean_us"] / 1e3,
        p50_ms=raw["p50_us"] / 1e3,
        p90_ms=raw["p90_us"] / 1e3,
        p99_ms=raw["p99_us"] / 1e3,
        max_ms=raw["max_us"] / 1e3,
        non_2xx=raw["status"],
        socket_errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
    )


def command(url: str, script: Path, clients: int, seconds: float, timeout_s: float = 10.0) -> list[str]:
    """The wrk command line: one thread (enough for a loopback server), ``clients`` connections."""
    executable = shutil.which("wrk")
    if executable is None:
        raise WrkError("wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk`")
    return [executable, "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s",
            f"--timeout={timeout_s:g}s", "-s", str(script), url]


def start(url: str, body: str, clients: int, seconds: float) -> subprocess.Popen:
    """Start wrk against ``url`` in the background; finish it with ``finish``."""
    script = Path(tempfile.mkstemp(prefix="kit-wrk-", suffix=".lua")[1])
    script.write_text(lua_script(body))
    return subprocess.Popen(command(url, script, clients, seconds), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)


def finish(process: subprocess.Popen, seconds: float) -> WrkResult:
    """Wait (bounded) for a wrk started by ``start`` and parse its result."""
    try:
        output, _ = process.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise WrkError(f"wrk did not finish in {seconds + 30:.0f} s") from None
    script = process.args[-2]
    Path(script).unlink(missing_ok=True)
    if process.returncode != 0:
        raise WrkError(f"wrk exited with code {process.returncode}:\n{output[-2000:]}")
    return parse(output)


def run(url: str, body: str, clients: int, seconds: float) -> WrkResult:
    """Load ``url`` with ``clients`` connections for ``seconds`` and return the result."""
    return finish(start(url, body, clients, seconds), seconds)
