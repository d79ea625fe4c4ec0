"""Whether this machine reaches the Python package index the way ``bentoml build`` does.

``bentoml build`` locks a bento's packages with ``uv pip compile``, which asks the package index: on a
machine that cannot reach it (offline, a proxy not configured) every build fails with "Failed to lock
PyPI packages", whatever the bentofile says. :func:`unreachable` tells that case from a bentofile's
wrong package name or pin, by locking one of the kit's own pins the same way.
"""

from __future__ import annotations

import shutil
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
    return Lock([f"pydantic=={metadata.version('pydantic')}"]).failure(timeout)


#: What uv says when a requirement has only a source distribution, which ``--no-build`` does not build.
NEEDS_BUILD = "building from source is disabled"


class Lock:
    """``uv pip compile --no-build`` of requirement lines, started at once, as :func:`unreachable`
    describes; :meth:`failure` waits for it.

    It runs as this process's user (root, when grading a class) with the lines on its standard input,
    and runs no code of the packages: uv would build a source distribution to read its dependencies,
    running its build backend, which a learner's bentofile chooses (a package of an index the learner
    runs, say). With ``--no-build`` such a requirement cannot be locked here: :attr:`undecided` then
    says why, and :meth:`failure` finds nothing (a build, run as learner code, locks it its own way).
    """

    def __init__(self, requirements: list[str], index_args: list[str] | None = None) -> None:
        self._home = tempfile.mkdtemp(prefix="bentokit-lock-")
        env = {**allowed_environ(), "HOME": self._home, "TMPDIR": self._home, "UV_NO_CONFIG": "1",
               "UV_HTTP_RETRIES": "1"}
        command = [sys.executable, "-m", "uv", "pip", "compile", "-", "--no-cache", "--quiet", "--no-header",
                   "--no-build"]
        command += index_args or []
        self.error = ""
        #: Why the lines could not be locked without building a source distribution ('' when they could).
        self.undecided = ""
        #: uv's own words, once :meth:`failure` has run.
        self.stderr = ""
        self.process: subprocess.Popen | None = None
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE, env=env, cwd=self._home, text=True)
            with self.process.stdin:  # a few lines: the pipe takes them at once, and uv starts
                self.process.stdin.write("".join(f"{line}\n" for line in requirements))
            self.process.stdin = None  # written and closed: communicate() only reads
        except OSError as err:
            self.error = f"uv could not run: {err}"

    def failure(self, timeout: float = 60.0) -> str:
        """Why the lines cannot be locked ('' when they can); the process is gone afterwards."""
        try:
            if self.process is None:
                return self.error
            try:
                _, err = self.process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate()
                return f"uv found no answer from the package index in {timeout:.0f} s"
            self.stderr = err
            if self.process.returncode == 0:
                return ""
            if NEEDS_BUILD in err:
                self.undecided = self.said()
                return ""
            causes = [line.strip() for line in err.splitlines() if line.strip()]
            if not causes:
                return f"uv pip compile exited with {self.process.returncode}"
            return causes[-1].removeprefix("cause: ")
        finally:
            shutil.rmtree(self._home, ignore_errors=True)

    def close(self) -> None:
        """Stop it unread (its answer is not needed) and remove its home."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.communicate()
        shutil.rmtree(self._home, ignore_errors=True)

    def said(self) -> str:
        """uv's error line and its hints, once :meth:`failure` found one."""
        lines = [ln.strip() for ln in self.stderr.splitlines()]
        return "\n".join(ln for ln in lines if ln.startswith(("error:", "hint:"))) or self.error
