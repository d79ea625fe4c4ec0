"""Whether this machine reaches the Python package index the way ``bentoml build`` does.

``bentoml build`` locks a bento's packages with ``uv pip compile``, which asks the package index: on a
machine that cannot reach it (offline, a proxy not configured) every build fails with "Failed to lock
PyPI packages", whatever the bentofile says. :func:`unreachable` tells that case from a bentofile's
wrong package name or pin, by locking one of the kit's own pins the same way.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import IO

from bentokit import cache, procs
from bentokit.procs import Sandbox, allowed_environ

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


#: How much of the end of uv's messages a lock keeps.
MESSAGES_KEPT = 64 * 1024
#: What uv says when a requirement has only a source distribution, which ``--no-build`` does not build.
NEEDS_BUILD = "building from source is disabled"
#: How long a lock that passed stands for the same lines and indexes, when kept (``keep=True``): a class
#: run locks the same bentofile for every learner, at 0.6 s of CPU each.
KEPT_SECONDS = 3600.0


def _kept_pass(requirements: list[str], index_args: list[str]) -> Path:
    """Where a pass of these lines and indexes is kept: a file of the kit's cache, private to this user."""
    what = json.dumps([requirements, index_args, metadata.version("uv"), sys.version]).encode()
    return cache.folder("locks") / cache.key(what)


def _fresh(path: Path) -> bool:
    """Whether ``path`` is a kept pass of this user's, written less than :data:`KEPT_SECONDS` ago."""
    try:
        return cache.trusted(path) and time.time() - path.stat().st_mtime < KEPT_SECONDS
    except OSError:
        return False


class Lock:
    """``uv pip compile`` of requirement lines, started at once, as :func:`unreachable` describes;
    :meth:`failure` waits for it.

    Without ``sandbox`` it runs as this process's user (root, when grading a class), with the lines on
    its standard input and ``--no-build``: it runs no code of the packages. uv would build a source
    distribution to read its dependencies, running its build backend, which a learner's bentofile
    chooses (a package of an index the learner runs, say). Such a requirement cannot be locked so:
    :attr:`undecided` then says why, and :meth:`failure` finds nothing.

    With ``sandbox`` it runs as learner code (that sandbox's user, the lines in a file of its own) and
    builds what it must, as the build's own lock does. Code of the learner's choosing may then run in
    it and could make it pass, so only its failure tells anything (the grader's use: an undecided lock
    done again).

    With ``keep`` (without ``sandbox``), a pass is kept in the kit's cache, and the same lines and
    indexes locked again within :data:`KEPT_SECONDS` pass without asking the index again
    (:attr:`kept`). Never for :func:`unreachable`, which asks whether the index answers now.
    """

    def __init__(self, requirements: list[str], index_args: list[str] | None = None,
                 sandbox: Sandbox | None = None, keep: bool = False) -> None:
        self.requirements, self.index_args = list(requirements), list(index_args or [])
        self.error = ""
        #: Why the lines could not be locked without building a source distribution ('' when they could).
        self.undecided = ""
        #: uv's own words, once :meth:`failure` has run.
        self.stderr = ""
        #: :meth:`failure` stopped it at its time limit (the machine busy, or the index silent).
        self.timed_out = False
        self.process: subprocess.Popen | None = None
        self._failure: str | None = None
        self._home = ""
        self._messages: IO[bytes] | None = None
        self._keep = _kept_pass(self.requirements, self.index_args) if keep and sandbox is None else None
        #: The pass is the one kept from an earlier lock of the same lines and indexes.
        self.kept = self._keep is not None and _fresh(self._keep)
        if self.kept:
            self._failure = ""
            return
        self._home = tempfile.mkdtemp(prefix="bentokit-lock-", dir=sandbox.room if sandbox else None)
        env = {"HOME": self._home, "TMPDIR": self._home, "UV_NO_CONFIG": "1", "UV_HTTP_RETRIES": "1"}
        lines = "".join(f"{line}\n" for line in self.requirements)
        command = [sys.executable, "-m", "uv", "pip", "compile", "-", "--no-cache", "--quiet", "--no-header"]
        # uv's messages go to a file of this process's (a build backend's output can be any size), of
        # which :meth:`failure` reads the end.
        self._messages = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        try:
            if sandbox is not None:
                Path(self._home, "requirements.in").write_text(lines)
                sandbox.give(self._home)
                command[5] = "requirements.in"
                self.process = procs.spawn(command + self.index_args, cwd=self._home, env=env,
                                           sandbox=sandbox, stdout=subprocess.DEVNULL, stderr=self._messages)
                return
            self.process = subprocess.Popen(command + ["--no-build"] + self.index_args, stdin=subprocess.PIPE,
                                            stdout=subprocess.DEVNULL, stderr=self._messages,
                                            env={**allowed_environ(), **env}, cwd=self._home)
            with self.process.stdin:  # a few lines: the pipe takes them at once, and uv starts
                self.process.stdin.write(lines.encode())
        except OSError as err:
            self.error = f"uv could not run: {err}"

    def failure(self, timeout: float = 60.0) -> str:
        """Why the lines cannot be locked ('' when they can); the process is gone afterwards. Asked
        again, the same answer."""
        if self._failure is None:
            self._failure = self._wait(timeout)
        return self._failure

    def _wait(self, timeout: float) -> str:
        try:
            if self.process is None:
                return self.error
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                procs.kill_tree(self.process, grace=0)
                self.timed_out = True
                return f"uv found no answer from the package index in {timeout:.0f} s"
            self._messages.seek(max(0, self._messages.seek(0, 2) - MESSAGES_KEPT))
            self.stderr = err = self._messages.read().decode(errors="replace")
            if self.process.returncode == 0:
                if self._keep is not None:
                    with contextlib.suppress(OSError):
                        self._keep.touch()  # an older pass's time renewed
                return ""
            if NEEDS_BUILD in err:
                self.undecided = self.said()
                return ""
            causes = [line.strip() for line in err.splitlines() if line.strip()]
            if not causes:
                return f"uv pip compile exited with {self.process.returncode}"
            return causes[-1].removeprefix("cause: ")
        finally:
            self.close()

    def close(self) -> None:
        """Stop it, read or not (its answer is not needed), and remove its home and messages."""
        if self.process is not None:
            procs.kill_tree(self.process, grace=0)
        if self._messages is not None:
            self._messages.close()
        if self._home:
            procs.remove_tree(self._home)

    def said(self) -> str:
        """uv's error line and its hints, once :meth:`failure` found one."""
        lines = [ln.strip() for ln in self.stderr.splitlines()]
        return "\n".join(ln for ln in lines if ln.startswith(("error:", "hint:"))) or self.error
