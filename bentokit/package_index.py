"""Whether this machine reaches the Python package index the way ``bentoml build`` does.

``bentoml build`` locks a bento's packages with ``uv pip compile``, which asks the package index: on a
machine that cannot reach it (offline, a proxy not configured) every build fails with "Failed to lock
PyPI packages", whatever the bentofile says. :func:`unreachable` tells that case from a bentofile's
wrong package name or pin, by locking one of the kit's own pins the same way.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from importlib import metadata

from bentokit.procs import allowed_environ

#: What ``bentoml build`` prints when its lock failed (for whatever reason).
LOCK_FAILED = "Failed to lock PyPI packages"
#: Where to build and grade instead, for the messages that name an unreachable index.
WHERE_REACHABLE = ("where the index is reachable (behind a proxy: set HTTPS_PROXY, and SSL_CERT_FILE for one "
                   "that intercepts HTTPS)")


def described(cause: str) -> str:
    """The machine's problem, in the words every message about it uses (``cause``: :func:`unreachable`'s)."""
    return f"this machine cannot reach the Python package index ({cause})"


def unreachable(timeout: float = 60.0) -> str:
    """Why ``uv pip compile`` cannot lock ``pydantic==<the installed version>`` here ('' when it can).

    It runs with the variables learner code gets (``procs.allowed_environ``: the proxy and CA settings),
    a fresh home, no uv configuration file and no cache, so that it asks the index as a grading's build
    does; uv retries once.
    """
    requirement = f"pydantic=={metadata.version('pydantic')}\n"
    with tempfile.TemporaryDirectory(prefix="bentokit-index-") as home:
        env = {**allowed_environ(), "HOME": home, "TMPDIR": home, "UV_NO_CONFIG": "1", "UV_HTTP_RETRIES": "1"}
        command = [sys.executable, "-m", "uv", "pip", "compile", "-", "--no-cache", "--quiet", "--no-header"]
        try:
            done = subprocess.run(command, input=requirement, env=env, cwd=home, capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return f"uv found no answer from the package index in {timeout:.0f} s"
        except OSError as err:
            return f"uv could not run: {err}"
    if done.returncode == 0:
        return ""
    causes = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    return causes[-1].removeprefix("cause: ") if causes else f"uv pip compile exited with {done.returncode}"
