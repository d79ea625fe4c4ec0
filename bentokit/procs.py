"""The kit's processes, in one place: start them, find them, measure them, kill them, confine them.

- :func:`spawn` starts a command in a session of its own (its own process group), stdin closed, with
  a ``SPAWN_MARKER`` of its own in its environment, and registers it, so that
  :func:`kill_registered` (also run at interpreter exit) kills whatever is left.
- :func:`snapshot` lists a tree: the root, its descendants, every member of the process groups and
  sessions they are in (BentoML's supervisor, circus, starts each worker in a session of its own; a
  daemon that forks twice without ``setsid`` stays in its session), and whatever carries a spawned
  root's marker (an orphaned worker). :func:`kill_tree` SIGTERMs that, then freezes (SIGSTOP) and
  SIGKILLs whatever is left, snapshotting again until nothing new appears.
- :func:`find` lists processes by a marker in their environment or by user id; :func:`kill_user`
  kills every process of a user id; :func:`tree_rss_mb` measures a tree's memory.
- :class:`Sandbox` is the identity learner code runs under (:meth:`Sandbox.acquire`, then
  ``spawn(..., sandbox=box)`` or ``box.run(...)``, then ``box.cleanup()`` / ``box.release()``).

What each mode guarantees:

- **Confined** (running as root: Gradescope, GitHub Actions, CI, a class server): learner code runs
  as ``bentokit-learner-N`` (a system user created on demand, one per concurrent grading, no login
  shell, no password, root's groups dropped) in a private folder (mode 700) that is its HOME and
  TMPDIR. It cannot write into the kit, the grader's results or anything root owns, cannot signal or
  trace the grader, and cannot read other sandboxes' folders. Clean-up kills every process of that
  user (``kill(-1)`` as the user, then by uid until none is left), so clearing the environment,
  double-forking or ``setsid`` does not escape; what it left in /tmp, /var/tmp and /dev/shm goes too.
- **Not confined** (an ordinary user: a learner on a laptop; said once on stderr): learner code runs as
  the caller, with the same allow-listed environment and private folder. Clean-up kills the spawned
  trees (groups, sessions, spawn markers) and every process carrying the sandbox's marker; a process
  that clears its environment *and* leaves its session escapes, and nothing stops learner code from
  writing where the caller can.
- Both: the environment is an allow-list (``ENV_ALLOWED`` + HOME/TMPDIR/USER + what the caller
  adds): no instructor paths, tokens or CSV locations. Neither mode limits network, CPU or memory
  (the cohort runner measures memory with :func:`tree_rss_mb`), nor hides world-readable files.

Written by hand around psutil: psutil lists and signals processes, but no library kills a tree
whose members leave it, nor runs commands as a throw-away user with its leftovers killed.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import logging
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)

#: The environment variable that carries a sandbox's (or any run's) marker (see :func:`find`).
MARKER = "BENTOKIT_RUN"
#: The environment variable :func:`spawn` sets to a value of each process's own, so that
#: :func:`kill_tree` finds its descendants even after they left the tree (orphaned workers).
SPAWN_MARKER = "BENTOKIT_SPAWN"
#: Sandbox users are named ``USER_PREFIX + slot``.
USER_PREFIX = "bentokit-learner-"
#: Where the slot locks live (root-owned, not world-writable, emptied at boot).
LOCK_DIR = Path("/run/bentokit")
#: How many sandboxes may be held at once on one machine.
MAX_SLOTS = 32
#: The most processes (threads included) a confined sandbox's user may have at once (RLIMIT_NPROC, set
#: with util-linux's prlimit when it is installed): learner code forking without end would otherwise
#: take every PID of the machine (32768 by default), and fail a classmate's grading beside it. A
#: server with its workers' threads uses about 200.
MAX_PROCESSES = 4096
#: The most files and sockets one process of a confined sandbox may open (RLIMIT_NOFILE, soft and hard,
#: set with :data:`MAX_PROCESSES`): root's hard limit, inherited, let learner code hold 20 000 listening
#: ports in sockets it sent over a Unix socket and never received (no process's descriptor then, so no
#: count of open files saw them). The kernel caps such sockets in flight at the sender's limit.
MAX_OPEN_FILES = 1024
#: The caller's variables a sandbox passes on (when set); everything else is left out.
ENV_ALLOWED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ",
               # What `bentoml build` needs to reach the package index behind a proxy that intercepts
               # HTTPS (a campus, a company, this machine): the CA bundle and the proxy to use.
               "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT",
               "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
#: Where a sandbox user can leave files outside its folder; cleaned by :meth:`Sandbox.cleanup`.
SHARED_TMP = (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), Path("/run/lock"))
#: Where confined sandboxes' rooms are made (:meth:`Sandbox.in_room`): root's, in folders no one else
#: can write to. Tools look for their configuration in every folder above their working one (uv:
#: ``uv.toml``, ``pyproject.toml``): with rooms in /tmp, a ``/tmp/uv.toml`` of a classmate's code, or of
#: any local user, gave every build an index of theirs, whose package ran code that sent the
#: classmate's files away (red-team round 35).
ROOMS = Path("/var/lib/bentokit/rooms")
#: In a room several gradings' sandboxes share the user of (:meth:`Sandbox.in_shared_room`): the lock
#: file its grader holds while it uses the room.
HELD = ".held"

Root = int | psutil.Process | subprocess.Popen

_lock = threading.Lock()
_registered: list[subprocess.Popen] = []
_spawn_markers: weakref.WeakKeyDictionary[subprocess.Popen, str] = weakref.WeakKeyDictionary()
_sandboxes: list[Sandbox] = []
#: The order in which processes were spawned and sandboxes acquired (see :func:`mark`).
_serials: weakref.WeakKeyDictionary[subprocess.Popen | Sandbox, int] = weakref.WeakKeyDictionary()
_next_serial = 0


def _number(item: subprocess.Popen | Sandbox) -> None:
    """Give ``item`` the next serial number (under ``_lock``)."""
    global _next_serial
    _serials[item] = _next_serial
    _next_serial += 1


def mark() -> int:
    """A mark for :func:`kill_registered`: what is spawned or acquired from now on is at or after it."""
    with _lock:
        return _next_serial


_noted_unconfined = False


def allowed_environ(also: tuple[str, ...] = ()) -> dict[str, str]:
    """The variables of this process that learner code may see: ``ENV_ALLOWED`` and ``also``, those
    that are set (PATH at least: the default search path when unset)."""
    env = {name: os.environ[name] for name in (*ENV_ALLOWED, *also) if name in os.environ}
    env.setdefault("PATH", os.defpath)
    return env


class ProcsError(RuntimeError):
    """Processes that could not be killed."""


class SandboxError(RuntimeError):
    """A sandbox could not be set up; the message says what to change."""


def kit_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the kit runs its own tools in: the caller's, with usage tracking off."""
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true", "PYTHONUNBUFFERED": "1"}
    env.update(extra or {})
    return env


# --- starting -------------------------------------------------------------------------------------


def spawn(command: Sequence[str | os.PathLike], *, cwd: str | os.PathLike,
          env: Mapping[str, str] | None = None, stdout: Any = subprocess.DEVNULL,
          stderr: Any = subprocess.STDOUT, sandbox: Sandbox | None = None, **popen: Any) -> subprocess.Popen:
    """Start ``command`` in a new session, stdin closed, registered for :func:`kill_registered`.

    Without a sandbox the environment is :func:`kit_env` (the caller's) plus ``env``; with one it is
    ``sandbox.env(env)`` (an allow-list) and the command runs as the sandbox's user. Either way
    ``SPAWN_MARKER`` is set to a value of this process's own (:func:`spawn_marker`). A confined
    sandbox's user may have :data:`MAX_PROCESSES` at most, each with :data:`MAX_OPEN_FILES` open files.
    ``popen`` goes to :class:`subprocess.Popen` (``text=True``, say).
    """
    command = [os.fspath(c) for c in command]
    if sandbox is None:
        full_env, ids = kit_env(env), {}
    else:
        full_env, ids = sandbox.env(env or {}), sandbox.popen_ids()
        if sandbox.confined and (prlimit := shutil.which("prlimit")):  # it execs the command: same process
            command = [prlimit, f"--nproc={MAX_PROCESSES}", f"--nofile={MAX_OPEN_FILES}", "--", *command]
    marker = full_env[SPAWN_MARKER] = secrets.token_hex(12)
    process = subprocess.Popen(command, cwd=os.fspath(cwd), env=full_env,
                               stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                               start_new_session=True, **ids, **popen)
    with _lock:
        _registered.append(process)
        _spawn_markers[process] = marker
        _number(process)
        if sandbox is not None:
            sandbox._spawned.append(process)
    return process


def spawn_marker(process: subprocess.Popen) -> str | None:
    """The value of ``SPAWN_MARKER`` in the environment of a process :func:`spawn` started."""
    return _spawn_markers.get(process)


def kill_registered(since: int = 0) -> list[str]:
    """Kill every registered tree still around and release every sandbox held (idempotent); with
    ``since`` (a :func:`mark`), only those spawned or acquired from that mark on."""
    left: list[str] = []

    def latest(items: list) -> Any:
        mine = [item for item in items if _serials.get(item, 0) >= since]
        return mine[-1] if mine else None

    while True:
        with _lock:
            process = latest(_registered)
            if process is None:
                break
            _registered.remove(process)
        with contextlib.suppress(ProcsError):
            left += kill_tree(process, grace=1.0)
    while True:
        with _lock:
            sandbox = latest(_sandboxes)
            if sandbox is None:
                break
        try:
            left += sandbox.release()
        except (ProcsError, OSError) as err:
            log.warning("could not clean up %r: %s", sandbox, err)
    return left


atexit.register(kill_registered)


# --- finding --------------------------------------------------------------------------------------


def _pid(root: Root) -> int:
    return root if isinstance(root, int) else root.pid


def _running(proc: psutil.Process) -> bool:
    """Running, as opposed to ended or a zombie waiting for its (re-)parent."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


#: Where the kernel shows each process (a test points it at a folder of its own).
PROC = Path("/proc")


def being_killed(pid: int) -> bool:
    """Whether ``pid`` has a SIGKILL waiting to land, or has ended and waits to be reaped.

    SIGKILL ends a process only once the kernel schedules it again: on a loaded machine a process
    killed a moment ago can still look alive. Read by hand from ``/proc/PID/status`` (its pending
    signal masks), which psutil does not expose; False when the process is gone or unreadable.
    """
    try:
        status = (PROC / str(pid) / "status").read_text()
    except OSError:
        return False
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if fields.get("State", "").split()[:1] in (["Z"], ["X"]):
        return True
    kill_bit = 1 << (signal.SIGKILL - 1)
    return any(int(fields.get(mask, "0").strip() or "0", 16) & kill_bit for mask in ("ShdPnd", "SigPnd"))


def running(processes: Iterable[psutil.Process], grace: float = 0.0) -> list[psutil.Process]:
    """Those of ``processes`` still running after up to ``grace`` s (zombies and reused pids do not count)."""
    processes = list(processes)
    deadline = time.monotonic() + grace
    while True:
        left = [p for p in processes if _running(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.02)  # poll: psutil.wait_procs counts a zombie of another parent as running


def _protected() -> tuple[set[int], set[int]]:
    """This process and its ancestors, and the group and session it is in: never part of a tree."""
    me = psutil.Process()
    pids = {me.pid, *(p.pid for p in me.parents())}
    return pids, {os.getpgid(0), os.getsid(0)}


class _Scan:
    """A tree that only grows: each :meth:`scan` adds what appeared since (see :func:`snapshot`)."""

    def __init__(self, roots: Iterable[Root]) -> None:
        self.own_pids, self.own_ids = _protected()
        self.found: dict[int, psutil.Process] = {}
        self.ids: set[int] = set()  # process groups and sessions that belong to the tree
        self.markers: set[str] = set()  # SPAWN_MARKER values of the roots spawn() started
        for root in roots:
            if isinstance(root, subprocess.Popen) and (marker := spawn_marker(root)):
                self.markers.add(marker)
            pid = _pid(root)
            if pid not in self.own_ids:
                self.ids.add(pid)  # a leader's group and session outlive it
            if isinstance(root, subprocess.Popen) and root.returncode is not None:
                continue  # reaped: its pid may be another process's by now
            proc = root if isinstance(root, psutil.Process) else None
            with contextlib.suppress(psutil.Error):
                self._add(proc or psutil.Process(pid))

    def _add(self, proc: psutil.Process) -> bool:
        if proc.pid in self.own_pids or proc.pid in self.found:
            return False
        self.found[proc.pid] = proc
        return True

    def attrs(self, deep: bool = True) -> list[str]:
        """What :meth:`scan` reads of every process."""
        return ["ppid", "environ"] if deep and self.markers else ["ppid"]

    def scan(self, deep: bool = True, rows: Iterable[tuple[psutil.Process, dict[str, Any]]] | None = None,
             ) -> list[psutil.Process]:
        """Add descendants and group/session members until nothing new is found; the live ones.

        ``deep`` also adds the processes carrying a root's ``SPAWN_MARKER`` (costs reading every
        process's environment). One pass over the process table (``rows``: one already read, with
        :meth:`attrs` among its attributes), then closed in memory.
        """
        table: dict[int, tuple[psutil.Process, int, int, int]] = {}  # pid: (process, ppid, pgid, sid)
        attrs = self.attrs(deep)
        for proc, info in processes(attrs) if rows is None else rows:
            if proc.pid in self.own_pids:
                continue
            with contextlib.suppress(OSError):
                table[proc.pid] = (proc, info["ppid"], os.getpgid(proc.pid), os.getsid(proc.pid))
            if "environ" in attrs and (info["environ"] or {}).get(SPAWN_MARKER) in self.markers:
                self._add(proc)
        grew = True
        while grew:
            grew = False
            for pid, (proc, _, pgid, sid) in table.items():
                if self.found.get(pid) == proc:
                    self.ids |= {pgid, sid} - self.own_ids
            for pid, (proc, ppid, pgid, sid) in table.items():
                if pid in self.found:
                    continue
                parent = table.get(ppid)
                if pgid in self.ids or sid in self.ids or (parent and self.found.get(ppid) == parent[0]):
                    grew |= self._add(proc)
        return [p for p in self.found.values() if _running(p)]


def processes(attrs: list[str]) -> Iterator[tuple[psutil.Process, dict[str, Any]]]:
    """Every process, with ``attrs`` read (None where access is denied); one that ends meanwhile is left
    out. Not ``process_iter(attrs)``'s ``proc.info``: psutil caches its Process objects for every
    thread, and another thread's ``process_iter`` with other attrs replaced the dict before it was read
    (a KeyError that ended two gradings of a class run as the grader's own error)."""
    for proc in psutil.process_iter():
        try:
            yield proc, proc.as_dict(attrs=attrs, ad_value=None)
        except psutil.NoSuchProcess:
            continue


#: What a :class:`ProcessTable` reads of every process: all that :func:`tree_usage` asks.
TABLE_ATTRS = ["ppid", "environ", "uids", "status"]


class ProcessTable:
    """One reading of the process table, shared by threads that poll at once: read again when it is
    older than ``max_age`` seconds. A class run polls each running grading four times a second, and a
    reading costs some 10 ms of CPU for 100 processes (each one's /proc files): one reading per poll
    for all its gradings instead of one each."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._lock = threading.Lock()
        self._rows: list[tuple[psutil.Process, dict[str, Any]]] = []
        self._read_at = -float("inf")

    def rows(self) -> list[tuple[psutil.Process, dict[str, Any]]]:
        """Every process with :data:`TABLE_ATTRS` read, at most ``max_age`` seconds ago."""
        with self._lock:
            if time.monotonic() - self._read_at >= self.max_age:
                self._rows = list(processes(TABLE_ATTRS))
                self._read_at = time.monotonic()
            return self._rows


def snapshot(roots: Iterable[Root]) -> list[psutil.Process]:
    """Every running process of the trees of ``roots``: the roots, their descendants, the members of
    the process groups and sessions any of them is in (never the caller's own group or session),
    and for a root :func:`spawn` started, every process carrying its ``SPAWN_MARKER``.

    A root that has ended still counts for its group and session (its pid is their id).
    """
    return _Scan(roots).scan()


def find(marker: str | None = None, uid: int | None = None, *, var: str = MARKER) -> list[psutil.Process]:
    """Running processes (not this one) whose environment has ``var=marker`` and/or whose user is ``uid``."""
    if marker is None and uid is None:
        raise ValueError("find() needs a marker or a uid")
    me = os.getpid()
    found = []
    for proc, info in processes(["uids", "status"]):
        if proc.pid == me or info["status"] in (None, psutil.STATUS_ZOMBIE):
            continue
        try:
            if uid is not None and uid not in tuple(info["uids"] or ()):
                continue
            if marker is not None and proc.environ().get(var) != marker:
                continue
        except psutil.Error:  # ended, or another user's environment (unprivileged)
            continue
        found.append(proc)
    return found


def describe(proc: psutil.Process) -> str:
    """``pid name: command line`` (short), or just the pid of a process that has ended."""
    try:
        cmdline = " ".join(proc.cmdline())
        return f"{proc.pid} {proc.name()}: {cmdline[:120]}"
    except psutil.Error:
        return str(proc.pid)


@dataclass
class Usage:
    """What a tree of processes holds at one moment (see :func:`tree_usage`)."""

    rss_mb: float
    #: File descriptors: files, pipes and sockets (each listening socket holds one of the machine's ports).
    open_files: int
    #: Its users filled the in-memory file systems every user writes past what one reading looks at
    #: (:func:`shared_memory`'s ``flooded``): the reading is cut short, so their files there are not all
    #: counted, and every grading's reading beside them is slowed.
    shared_flood: bool = False


def tree_usage(root: Root, uids: Iterable[int] = (), table: ProcessTable | None = None) -> Usage:
    """Memory and open files of the whole tree of ``root`` (see :func:`snapshot`): its processes'
    resident memory, in MiB, and their file descriptors. With ``uids`` (confined sandboxes' users),
    every process of those users counts too (a daemon that left the tree), and so does the memory they
    hold outside any process's resident set: files in memory they keep open (``memfd_create``,
    /dev/shm), their System V shared memory, and their files in /dev/shm (:func:`shared_memory`).
    With ``table``, its reading of the process table (a process started since is seen at the next)."""
    uids = list(uids)
    # One pass over the process table for the tree and the users (a pass each took 5-6 ms of CPU for
    # 80 processes, and a class run looks 8 times a second: a tenth of its CPU went to looking).
    scan = _Scan([root])
    rows = table.rows() if table is not None else list(processes([*scan.attrs(), "uids", "status"]))
    found = {proc.pid: proc for proc in scan.scan(rows=rows)}
    me = os.getpid()
    for proc, info in rows:
        if (proc.pid != me and info["status"] not in (None, psutil.STATUS_ZOMBIE)
                and set(info["uids"] or ()) & set(uids)):
            found[proc.pid] = proc
    total = files = 0
    for proc in found.values():
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
        with contextlib.suppress(psutil.Error):
            files += proc.num_fds()
    shared = shared_memory(uids, [p.pid for p in found.values()]) if uids else None
    if shared is not None:
        total += shared.bytes
    return Usage(total / 2**20, files, bool(shared and shared.flooded))


def tree_rss_mb(root: Root, uids: Iterable[int] = ()) -> float:
    """Memory of the whole tree of ``root``, in MiB (see :func:`tree_usage`)."""
    return tree_usage(root, uids).rss_mb


#: Where System V IPC objects are listed: their kind for ``ipcrm``, and the columns of id and uid.
_SYSV = {"shm": ("-m", 1, 7), "sem": ("-s", 1, 4), "msg": ("-q", 1, 7)}


def _sysv_objects(uid: int, kind: str) -> list[list[str]]:
    """The rows of /proc/sysvipc/KIND whose owner is ``uid``."""
    try:
        rows = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
    except OSError:
        return []
    owner = _SYSV[kind][2]
    split = [row.split() for row in rows]
    return [row for row in split if len(row) > owner and row[owner] == str(uid)]


def _shared_tmpfs() -> list[str]:
    """The in-memory file systems every user can write to (/dev/shm; /tmp where it is a tmpfs)."""
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 2 and fields[2] == "tmpfs":
                target = fields[1].replace("\\040", " ")
                with contextlib.suppress(OSError):
                    if os.stat(target).st_mode & stat.S_IWOTH and target not in found:
                        found.append(target)
    return found


#: The most entries (files and folders) one reading of the in-memory file systems every user can write
#: looks at. 100 000 world-writable folders of one learner in /dev/shm made each reading take 1.8 s, and a
#: class run reads for every grading at every poll: the time and memory limits of the gradings beside it
#: came seconds late (red-team round 39). A service keeps a handful there; 10 000 take about 0.2 s.
SHARED_ENTRIES_READ = 10_000


@dataclass
class SharedMemory:
    """What users hold in the in-memory file systems every user can write (see :func:`shared_memory`)."""

    bytes: int
    #: The reading stopped at :data:`SHARED_ENTRIES_READ` entries, and the users asked about own more of
    #: those it read than any other user: theirs is the flood, and their files past it went uncounted.
    flooded: bool = False


def _shared_files(uids: set[int], tops: Iterable[str], limit: int) -> tuple[list[os.stat_result], bool]:
    """The regular files of ``uids`` under ``tops``, at any depth, links never followed; and whether the
    reading stopped at ``limit`` entries with ``uids`` owning the most of them. Only folders one of
    ``uids`` could have put a file in are entered: theirs, and those every user can write."""
    found: list[os.stat_result] = []
    owners: dict[int, int] = {}
    seen = 0
    for top in tops:
        folders = [top]
        while folders:
            with contextlib.suppress(OSError), os.scandir(folders.pop()) as entries:
                for entry in entries:
                    if seen >= limit:
                        most = max(owners, key=owners.__getitem__, default=None)
                        return found, most in uids
                    seen += 1
                    with contextlib.suppress(OSError):
                        st = entry.stat(follow_symlinks=False)
                        owners[st.st_uid] = owners.get(st.st_uid, 0) + 1
                        if stat.S_ISREG(st.st_mode) and st.st_uid in uids:
                            found.append(st)
                        elif stat.S_ISDIR(st.st_mode) and (st.st_uid in uids or st.st_mode & stat.S_IWOTH):
                            folders.append(entry.path)
    return found, False


def shared_memory(uids: Iterable[int], pids: Iterable[int] = ()) -> SharedMemory:
    """Memory users ``uids`` hold that no resident set shows: files in memory open in the processes
    ``pids`` (memfd, tmpfs; each file once), their System V shared memory segments (resident pages), and
    their files anywhere in the in-memory file systems every user can write (/dev/shm, at any depth:
    1000 files of 1 MiB in a folder there, never open together, went uncounted). One reading of those
    file systems for all ``uids``, of at most :data:`SHARED_ENTRIES_READ` entries.

    Written here: psutil reports processes' memory, not memory held in files or IPC objects.
    """
    uids = set(uids)
    seen: set[tuple[int, int]] = set()
    total = 0

    def count(st: os.stat_result) -> None:
        nonlocal total
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512

    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith(("/memfd:", "/dev/shm/")):
                        count(os.stat(f"/proc/{pid}/fd/{fd}"))
    files, flooded = _shared_files(uids, _shared_tmpfs(), SHARED_ENTRIES_READ)
    for st in files:
        count(st)
    for uid in uids:
        for row in _sysv_objects(uid, "shm"):
            with contextlib.suppress(IndexError, ValueError):
                total += int(row[14])  # rss
    return SharedMemory(total, flooded)


def oom_kills() -> int | None:
    """How many processes the kernel's out-of-memory killer has ended since boot, on the whole machine
    (``oom_kill`` of /proc/vmstat, Linux 4.13+); None where it is not told."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/vmstat").read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
    return None


def remove_user_ipc(uid: int) -> list[str]:
    """Remove the System V shared memory segments, semaphores and message queues of user ``uid``: they
    outlive every process (``kernel.shm_rmid_forced`` is 0 by default), so a grading's learner code
    could leave memory taken for good. Their descriptions."""
    removed = []
    for kind, (flag, id_column, _owner) in _SYSV.items():
        for row in _sysv_objects(uid, kind):
            done = subprocess.run(["ipcrm", flag, row[id_column]], stdin=subprocess.DEVNULL,
                                  capture_output=True, check=False, timeout=30)
            if done.returncode == 0:
                removed.append(f"System V {kind} {row[id_column]}")
    return removed


# --- killing --------------------------------------------------------------------------------------


def _signal(procs: Iterable[psutil.Process], sig: int) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error):  # ended, or not ours to signal
            proc.send_signal(sig)  # psutil checks the pid was not reused


def kill_tree(root: Root | Iterable[Root], grace: float = 3.0) -> list[str]:
    """Stop the tree(s) of ``root``: SIGTERM, up to ``grace`` s to end, then SIGKILL what is left.

    Every pass snapshots again (a supervisor may start a worker meanwhile; the tree's groups and
    sessions are remembered after their leaders end; a root :func:`spawn` started also brings the
    processes that carry its ``SPAWN_MARKER``, orphans included). Before the SIGKILL every process is frozen
    with SIGSTOP until a snapshot finds nothing new, so nothing can fork away. Returns only once
    all have ended (a ``Popen`` root is reaped); the descriptions of the processes it signalled.
    """
    roots = [root] if isinstance(root, int | psutil.Process | subprocess.Popen) else list(root)
    scan = _Scan(roots)
    alive = scan.scan()
    told = {p.pid: describe(p) for p in alive}
    _signal(alive, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)  # a poll interval while they shut down
        alive = scan.scan(deep=False)
        fresh = [p for p in alive if p.pid not in told]
        told.update({p.pid: describe(p) for p in fresh})
        _signal(fresh, signal.SIGTERM)
    frozen: set[int] = set()
    for _ in range(100):  # bounded: each pass freezes every process it finds
        alive = scan.scan()
        fresh = [p for p in alive if p.pid not in frozen]
        if not fresh:
            break
        told.update({p.pid: describe(p) for p in fresh if p.pid not in told})
        _signal(fresh, signal.SIGSTOP)
        frozen |= {p.pid for p in fresh}
    _signal(alive, signal.SIGKILL)
    for proc in roots:
        if isinstance(proc, subprocess.Popen):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(grace, 5.0))
            with _lock, contextlib.suppress(ValueError):
                _registered.remove(proc)
    left = running(scan.found.values(), grace=max(grace, 5.0))
    if left:
        _signal(left, signal.SIGCONT)  # not ours to kill after all: do not leave them frozen
        raise ProcsError(f"processes still running after SIGKILL: {', '.join(map(describe, left))}")
    return list(told.values())


def _kill_all_as(uid: int) -> None:
    """``kill(-1, SIGKILL)`` as ``uid``: the kernel signals every process of the user in one go, so a
    fork bomb cannot outrun it. Needs root; run by the ``kill`` program (procps or util-linux), or by
    this interpreter when there is none; a no-op when neither can be run as ``uid``."""
    try:
        gid = pwd.getpwuid(uid).pw_gid
    except KeyError:
        gid = uid
    program = shutil.which("kill", path="/usr/bin:/bin")
    command = [program, "-s", "KILL", "--", "-1"] if program else \
        [sys.executable, "-I", "-S", "-c", "import os; os.kill(-1, 9)"]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(command, user=uid, group=gid, extra_groups=[], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/", env={}, timeout=10)


def kill_user(uid: int, timeout: float = 10.0) -> list[str]:
    """SIGKILL every process of user ``uid`` (real, effective or saved), again until none is left.

    Returns the descriptions of what it killed; raises :class:`ProcsError` after ``timeout`` s.
    Refuses root and the caller's own user.
    """
    if uid == 0 or uid == os.getuid() or uid == os.geteuid():
        raise ValueError(f"kill_user({uid}) would kill the caller's own processes")
    killed: dict[int, str] = {}
    deadline = time.monotonic() + timeout
    while True:
        procs = find(uid=uid)
        if not procs:
            return list(killed.values())
        if time.monotonic() > deadline:
            raise ProcsError(f"processes of uid {uid} still running after {timeout:.0f} s: "
                             + ", ".join(map(describe, procs)))
        for proc in procs:
            killed.setdefault(proc.pid, describe(proc))
        if os.geteuid() == 0:
            _kill_all_as(uid)
        _signal(procs, signal.SIGKILL)  # also those the interpreter could not reach
        running(procs, grace=1.0)


# --- sandbox --------------------------------------------------------------------------------------


def open_to_others(path: Path) -> bool:
    """Whether a user who is neither ``path``'s owner nor in its group can reach it (mode bits only):
    a sandbox user then can, and learner code could read what it holds."""
    return _unreachable(path, -1, -1) is None


def _unreachable(path: Path, uid: int, gid: int) -> Path | None:
    """The first folder on the way to ``path`` that ``uid`` cannot enter (mode bits only; no ACLs)."""
    for part in [*reversed(path.parents), path]:
        try:
            st = part.stat()
        except OSError:
            return part
        if not stat.S_ISDIR(st.st_mode):
            continue
        bit = stat.S_IXUSR if st.st_uid == uid else stat.S_IXGRP if st.st_gid == gid else stat.S_IXOTH
        if not st.st_mode & bit:
            return part
    return None


def _open_up(folder: str) -> None:
    """Give a folder mode 700 through a descriptor opened without following a link (a link, a file or
    nothing at that name is left as it is): a name swapped for a link to another folder between the
    failed removal and this call changes nothing outside."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


def _retry(func: Any, name: str, _exc: Any) -> None:
    """rmtree's second try at what it failed to remove: for an unprivileged remover, in a folder the
    learner made read-only (unconfined mode), opened up first.

    Never as root. rmtree itself works through descriptors and follows no link, but this retry goes
    by path: learner code still running (a daemon outside the grading's tree) could make a removal
    fail on purpose, then swap a folder on that path for a link, and root would unlink, or open up to
    mode 700, a file or folder of its choosing (reproduced: /tmp made 700, which failed the next
    grading). Root needs no retry: it removes from read-only folders anyway.
    """
    if os.geteuid() == 0:
        return
    with contextlib.suppress(OSError):
        for folder in (os.path.dirname(name), name):
            _open_up(folder)
        func(name)


def remove_tree(path: str | os.PathLike) -> None:
    """Remove a file or folder that learner code could have written: whatever modes it left on it and
    however deep it nests, never following a link; what cannot be removed is left (never raises).

    Python 3.11's ``shutil.rmtree`` recurses once per level and raised RecursionError on a folder 1000
    levels deep that a learner's code had made, which ``ignore_errors`` does not catch: it ended every
    later grading of a class. Deeper than that, coreutils' ``rm -rf`` (which walks without recursing
    and follows no link) removes it.
    """
    path = Path(path)
    if not path.is_dir() or path.is_symlink():
        with contextlib.suppress(OSError):
            path.unlink()
        return
    try:
        shutil.rmtree(path, onerror=_retry)  # onexc from Python 3.12
    except RecursionError:
        quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL,
                 "timeout": 600, "check": False}
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            if os.geteuid() != 0:  # root removes from read-only folders anyway
                subprocess.run(["chmod", "-R", "u+rwx", "--", str(path)], **quiet)
            subprocess.run(["rm", "-rf", "--", str(path)], **quiet)


def ensure_user(name: str, home: str = "/nonexistent", comment: str = "BentoML kit learner code",
                what: str = "learner code") -> pwd.struct_passwd:
    """The system user ``name``, created (no login shell, no password, ``home`` not made) if it does not
    exist; a :class:`SandboxError` saying what to install or why not. Root only."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    useradd = shutil.which("useradd") or shutil.which("useradd", path="/usr/sbin:/sbin")
    if not useradd:
        raise SandboxError(f"Running {what} as a user of its own needs `useradd` (Debian/Ubuntu package "
                           "`passwd`, RHEL `shadow-utils`): install it, or run the grader as a non-root "
                           "user (confinement is then off).")
    shell = next((s for s in ("/usr/sbin/nologin", "/sbin/nologin") if os.path.exists(s)), "/bin/false")
    with open(lock_dir() / "useradd.lock", "w") as lock:  # concurrent useradds fight over /etc/passwd
        fcntl.flock(lock, fcntl.LOCK_EX)
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
        done = subprocess.run([useradd, "--system", "--user-group", "--no-create-home",
                               "--home-dir", home, "--shell", shell, "--comment", comment, name],
                              capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise SandboxError(f"Could not create the user {name} for {what}: {done.stderr.strip()}")
    return pwd.getpwnam(name)


def _try_slot(locks: Path, slot: int) -> int | None:
    """The slot's lock file, locked (a descriptor to close to free it), or None if someone holds it."""
    fd = os.open(locks / f"learner-{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # freed by the kernel if the holder dies
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return None
        raise
    return fd


def idle_sandbox_users() -> Iterator[pwd.struct_passwd]:
    """Each sandbox user no grading holds now, its slot locked until the next one is asked for (so no
    grading takes it meanwhile). Root only."""
    for user in pwd.getpwall():
        slot = user.pw_name.removeprefix(USER_PREFIX)
        if user.pw_name == slot or not slot.isdigit():
            continue
        fd = _try_slot(lock_dir(), int(slot))
        if fd is None:
            continue
        try:
            yield user
        finally:
            os.close(fd)


def reap_idle_sandboxes() -> list[str]:
    """Kill the processes of every sandbox user no one holds now (a grader killed before its
    clean-up leaves them; the next holder of the slot would kill them too); what was left. Root only."""
    if os.geteuid() != 0:
        return []
    left: list[str] = []
    for user in idle_sandbox_users():
        left += kill_user(user.pw_uid) + _clean_shared_tmp(user.pw_uid)
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            left += remove_user_ipc(user.pw_uid)
    return left


def lock_dir() -> Path:
    """:data:`LOCK_DIR`, made if missing and checked: root's, not writable by others."""
    return _roots_folder(LOCK_DIR, 0o755)


def open_to_others_above(path: Path, owners: Collection[int] = (0,), sticky_above: bool = False
                         ) -> Path | None:
    """The first of ``path`` and the folders above it (those that exist, from ``/`` down) that is not a
    folder of one of ``owners`` that no one else can write to; None when there is none. With
    ``sticky_above``, a sticky folder above ``path`` (as /tmp) passes: others cannot move what is not
    theirs in it."""
    for folder in [*reversed(path.parents), path]:
        try:
            st = os.lstat(folder)
        except FileNotFoundError:
            continue
        sticky = sticky_above and folder != path and st.st_mode & stat.S_ISVTX
        others_write = st.st_mode & 0o022 and not sticky
        if not stat.S_ISDIR(st.st_mode) or st.st_uid not in owners or others_write:
            return folder
    return None


def rooms_dir() -> Path:
    """:data:`ROOMS`, made if missing and checked: root's, and neither it nor a folder above it writable
    by others (sandbox users pass through it to their rooms, and list nothing)."""
    if (above := open_to_others_above(ROOMS.parent)) is not None:
        raise SandboxError(f"{above} must be a folder owned by root that others cannot write to: "
                           f"sandboxes are made under {ROOMS}.")
    return _roots_folder(ROOMS, 0o711)


def private_tmp() -> Path:
    """A folder of this user's own for the kit's own work, away from /tmp (``~/.cache/bentokit/tmp``,
    mode 700): a tool started there reads no configuration another user put in a folder above it (see
    :data:`ROOMS`)."""
    folder = Path.home() / ".cache" / "bentokit" / "tmp"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder


def _roots_folder(path: Path, mode: int) -> Path:
    try:
        path.mkdir(mode=mode, parents=True, exist_ok=True)
    except OSError as err:
        raise SandboxError(f"{path} could not be made ({err.strerror}): confined gradings need it.") from err
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
        raise SandboxError(f"{path} must be a folder owned by root that others cannot write to.")
    return path


def read_tail(path: str | os.PathLike, limit: int = 1 << 20, owner: int | None = None) -> bytes:
    """At most the last ``limit`` bytes of the regular file ``path`` (a FIFO is refused at once, not
    waited on); with ``owner``, only a file that user owns (:meth:`Sandbox.read_bytes`). Raises OSError."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", os.fspath(path))
        if owner is not None and st.st_uid != owner:
            raise PermissionError(errno.EACCES, f"not a file of user {owner}", os.fspath(path))
        if st.st_size > limit:
            os.lseek(fd, st.st_size - limit, os.SEEK_SET)
        chunks, left = [], limit
        while left and (chunk := os.read(fd, min(left, 1 << 16))):
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class Sandbox:
    """The identity learner code runs under; get one with :meth:`acquire` (also a context manager).

    Attributes: ``confined`` (a user of its own, as root), ``user``/``uid``/``gid``, ``folder`` (its
    private HOME and TMPDIR, mode 700), ``room`` (see below), ``marker`` (the value of ``MARKER`` in
    its environment), ``slot`` (N of ``bentokit-learner-N``, None when not confined), ``note`` (why
    confinement is off).

    When confined, ``folder`` is ``room/home``, and the room is root's (mode 711): the sandbox's user
    can pass through it but can neither rename nor add anything there. The grader makes its folders
    for learner code there (a helper's log and answer, a locust run's statistics): made in ``folder``,
    which learner code owns, learner code already running could rename such a folder and put a link
    in its place before the grader opened a file in it, and have root create that file anywhere.
    Unconfined, the room is ``folder`` itself (nothing there is more privileged than learner code).
    """

    _checked: set[tuple[int, str]] = set()

    def __init__(self, *, folder: Path, uid: int, gid: int, user: str, confined: bool,
                 slot: int | None = None, lock_fd: int | None = None, note: str = "",
                 room: Path | None = None) -> None:
        self.folder, self.uid, self.gid, self.user = folder, uid, gid, user
        self.room = room or folder
        self.confined, self.slot, self.note = confined, slot, note
        self.marker = secrets.token_hex(16)
        self._lock_fd = lock_fd
        self.keep_env: tuple[str, ...] = ()
        self._spawned: list[subprocess.Popen] = []
        self._released = False

    def __repr__(self) -> str:
        mode = "confined" if self.confined else "not confined"
        return f"Sandbox({self.user}, uid {self.uid}, {mode}, {self.folder})"

    @classmethod
    def acquire(cls, workroot: str | os.PathLike | None = None, *, confine: bool | None = None,
                check: bool = True, keep_env: Iterable[str] = ()) -> Sandbox:
        """A sandbox with a fresh private folder under ``workroot`` (default: the temp folder).

        ``confine``: None = when running as root; False = never (the unprivileged behaviour, even
        as root); True = required (a :class:`SandboxError` when not root). ``check``: verify once per
        process that the user can run the kit (:meth:`check`). ``keep_env``: names of the caller's
        variables its environment keeps too (a parent run's marker, say).
        """
        global _noted_unconfined
        root = os.geteuid() == 0
        confine = root if confine is None else confine
        if confine and not root:
            raise SandboxError("Confining learner code needs root (it runs it as a user of its own).")
        if not confine:
            folder = Path(tempfile.mkdtemp(prefix="bentokit-sandbox-", dir=workroot))
            me = pwd.getpwuid(os.getuid())
            why = "turned off" if root else "not running as root"
            note = (f"Confinement is off ({why}): learner code runs as "
                    f"{me.pw_name}, with an allow-listed environment; its processes are cleaned up by "
                    "run marker and process tree.")
            if not _noted_unconfined:
                _noted_unconfined = True
                log.warning(note)
            sandbox = cls(folder=folder, uid=me.pw_uid, gid=me.pw_gid, user=me.pw_name, confined=False,
                          note=note)
        else:
            sandbox = cls._acquire_confined(workroot)
        sandbox.keep_env = tuple(keep_env)
        with _lock:
            _sandboxes.append(sandbox)
            _number(sandbox)
        try:
            if check and sandbox.confined:
                sandbox.check()
        except BaseException:
            sandbox.release()
            raise
        return sandbox

    @classmethod
    def _acquire_confined(cls, workroot: str | os.PathLike | None) -> Sandbox:
        locks = lock_dir()
        for slot in range(MAX_SLOTS):
            fd = _try_slot(locks, slot)
            if fd is not None:
                break
        else:
            raise SandboxError(f"All {MAX_SLOTS} sandbox users are busy (more gradings at once than that).")
        try:
            user = ensure_user(f"{USER_PREFIX}{slot}")
            kill_user(user.pw_uid)  # left by a holder of this slot that was killed before its clean-up
            _clean_shared_tmp(user.pw_uid)
            return cls.in_room(user.pw_name, user.pw_uid, user.pw_gid, workroot, slot=slot, lock_fd=fd)
        except BaseException:
            os.close(fd)
            raise

    @classmethod
    def in_room(cls, user: str, uid: int, gid: int, workroot: str | os.PathLike | None = None,
                **kwargs: Any) -> Sandbox:
        """A confined sandbox of the existing ``user`` in a new room (root's, mode 711) holding its
        folder (the user's, mode 700). Root only. ``kwargs`` go to the constructor."""
        # Default ROOMS, not the caller's TMPDIR: root's may be a folder the sandbox user cannot enter.
        room = Path(tempfile.mkdtemp(prefix=f"{user}-", dir=workroot or rooms_dir()))
        room.chmod(0o711)
        folder = room / "home"
        folder.mkdir(mode=0o700)
        os.chown(folder, uid, gid)
        return cls(folder=folder, uid=uid, gid=gid, user=user, confined=True, room=room, **kwargs)

    @classmethod
    def in_shared_room(cls, user: str, uid: int, gid: int,
                       workroot: str | os.PathLike | None = None) -> Sandbox:
        """:meth:`in_room` for a user several gradings share at once (the image builder), whose rooms its
        slot's clean-up cannot tell apart: the room holds a lock its caller keeps until
        :meth:`leave_room`. Rooms of ``user`` whose lock no one holds (their grader was killed) go first."""
        where = Path(workroot or rooms_dir())
        _remove_abandoned_rooms(where, f"{user}-")
        box = cls.in_room(user, uid, gid, workroot)
        try:
            # Locked before it has its name: another grading's clean-up never finds it unheld.
            making = box.room / f"{HELD}.new"
            fd = os.open(making, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(making, box.room / HELD)
        except BaseException:
            remove_tree(box.room)
            raise
        box._lock_fd = fd
        return box

    def leave_room(self) -> None:
        """Remove the room and let go of its lock (a slot's, or a shared room's: :meth:`in_shared_room`),
        leaving the user's processes alone (:meth:`release` kills them first; in a shared room, another
        grading's may be running). Idempotent."""
        remove_tree(self.room)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def env(self, extra: Mapping[str, str] = {}) -> dict[str, str]:  # noqa: B006 (never mutated)
        """The allow-listed environment for learner code: ``ENV_ALLOWED`` variables that are set, HOME
        and TMPDIR = the sandbox's folder, its user, usage tracking off, the marker, then ``extra``."""
        env = allowed_environ(self.keep_env)
        # UV_NO_CONFIG: `bentoml build` locks with uv, which reads a uv.toml or pyproject.toml in any
        # folder above its working one, and /etc/uv: the index is the bentofile's (see ROOMS).
        env.update({"HOME": str(self.folder), "TMPDIR": str(self.folder), "USER": self.user,
                    "LOGNAME": self.user, "BENTOML_DO_NOT_TRACK": "true", "PYTHONUNBUFFERED": "1",
                    "UV_NO_CONFIG": "1", MARKER: self.marker})
        env.update(extra)
        return env

    def popen_ids(self) -> dict[str, Any]:
        """``Popen`` arguments that run a command as the sandbox's user (none when not confined)."""
        if not self.confined:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def give(self, *paths: str | os.PathLike) -> None:
        """Hand files and folders (recursively) to the sandbox's user; a no-op when not confined.

        Walked by file descriptor and never following a symbolic link (a learner's link to /etc, or
        one swapped in meanwhile, stays harmless); a file with other hard links is left alone (it
        may be one of the system's).
        """
        if not self.confined:
            return

        def chown(name: str, dir_fd: int | None = None) -> None:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode) or st.st_nlink == 1:
                os.chown(name, self.uid, self.gid, dir_fd=dir_fd, follow_symlinks=False)

        for path in map(os.fspath, paths):
            chown(path)
            if os.path.isdir(path) and not os.path.islink(path):
                for _, dirs, files, fd in os.fwalk(path):  # follow_symlinks=False by default
                    for name in dirs + files:
                        chown(name, dir_fd=fd)

    def read_bytes(self, path: str | os.PathLike, limit: int = 1 << 20) -> bytes:
        """A file learner code could have written (the sandbox's folder, its store), read as its user
        could: when confined, only a regular file that user owns (learner code can swap any file there
        for a link to one of root's, which this process, as root, would otherwise read into the
        report). See :func:`read_tail`. Raises OSError."""
        return read_tail(path, limit, owner=self.uid if self.confined else None)

    def read_text(self, path: str | os.PathLike, limit: int = 1 << 20) -> str:
        """:meth:`read_bytes`, decoded as UTF-8 (undecodable bytes replaced)."""
        return self.read_bytes(path, limit).decode(errors="replace")

    def run(self, command: Sequence[str | os.PathLike], *, cwd: str | os.PathLike | None = None,
            env: Mapping[str, str] | None = None, timeout: float = 120.0) -> subprocess.CompletedProcess:
        """Run ``command`` to its end in the sandbox (output captured as text); its tree is killed after."""
        process = spawn(command, cwd=cwd or self.folder, env=env, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True, sandbox=self)
        try:
            out, err = process.communicate(timeout=timeout)
        finally:
            kill_tree(process, grace=0.5)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def check(self, python: str = sys.executable) -> None:
        """Verify (once per process, user and interpreter) that the sandbox's user can run ``python``
        and import ``bentokit``, ``grader`` and ``bentoml``; a :class:`SandboxError` saying what to change."""
        key = (self.uid, python)
        if key in Sandbox._checked:
            return
        try:
            done = self.run([python, "-c", "import bentokit, grader, bentoml"], timeout=120)
        except (OSError, subprocess.SubprocessError) as err:
            done = subprocess.CompletedProcess([], -1, "", str(err))
        if done.returncode != 0:
            import bentokit

            kit = Path(bentokit.__file__).resolve().parent.parent
            paths = [Path(python), Path(python).resolve(), Path(sys.prefix), kit, self.room, self.folder]
            blocked = next((b for b in (_unreachable(p, self.uid, self.gid) for p in paths) if b), None)
            why = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
            if blocked is not None:
                st = blocked.stat()
                owner = pwd.getpwuid(st.st_uid).pw_name
                fix = (f"{blocked} (mode {stat.filemode(st.st_mode)}, owner {owner}) cannot be entered by "
                       f"other users. Put the kit and its Python environment where every user can read "
                       f"them (e.g. /opt or /srv, not under /root), or run "
                       f"`chmod o+rx {blocked}` (and the same for any folder above it that needs it).")
            else:
                fix = ("Make the kit's folder and its Python environment readable by other users "
                       f"(`chmod -R o+rX {kit}`).")
            raise SandboxError(f"The sandbox user {self.user} cannot run the kit ({why[0]}). {fix}")
        Sandbox._checked.add(key)

    def cleanup(self) -> list[str]:
        """Kill every process of the sandbox and empty its folder; what was left behind (processes,
        and files it left in the shared temp folders when confined)."""
        with _lock:
            spawned, self._spawned = self._spawned, []
        if self.confined:
            left = kill_user(self.uid)
            for process in spawned:  # all ended: reap them and forget them
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=5)
                with _lock, contextlib.suppress(ValueError):
                    _registered.remove(process)
            left += _clean_shared_tmp(self.uid, keep=self.room)
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                left += remove_user_ipc(self.uid)
        else:
            left = kill_tree([*spawned, *find(self.marker)], grace=0)
            for _ in range(20):  # a daemon started while the first pass ran
                found = find(self.marker)
                if not found:
                    break
                left += kill_tree(found, grace=0)
        if self.folder.is_dir():
            for entry in self.folder.iterdir():
                remove_tree(entry)
        return left

    def release(self) -> list[str]:
        """:meth:`cleanup`, remove the folder and free the slot (idempotent); what was left behind."""
        if self._released:
            return []
        try:
            return self.cleanup()
        finally:
            self._released = True
            self.leave_room()
            with _lock, contextlib.suppress(ValueError):
                _sandboxes.remove(self)


def _clean_shared_tmp(uid: int, keep: Path | None = None) -> list[str]:
    """Remove what ``uid`` left in the shared temp folders (at their top, and in the folders of root's
    there that anyone may write to, such as /tmp/.X11-unix: a file left there reached whoever held the
    same user next), and the rooms of its sandboxes a killed grader left (but ``keep``); their
    descriptions."""
    removed = []
    room_prefix = f"{pwd.getpwuid(uid).pw_name}-"
    for folder in (*SHARED_TMP, ROOMS):
        for entry in _shared_entries(folder):
            with contextlib.suppress(OSError):
                if ((entry.stat(follow_symlinks=False).st_uid == uid or _room_of(entry, uid, room_prefix))
                        and Path(entry.path) != keep):
                    remove_tree(entry.path)
                    removed.append(f"file {entry.path}")
    return removed


def _shared_entries(folder: str | Path, depth: int = 3) -> Iterator[os.DirEntry]:
    """The entries of ``folder`` and, to ``depth`` levels, of the folders in it that root owns and anyone
    may write to. Only root's: no user can swap one for a link to elsewhere (they sit in sticky or
    root's folders), so a path read here still names the same file when it is removed."""
    with contextlib.suppress(OSError):
        for entry in list(os.scandir(folder)):
            yield entry
            with contextlib.suppress(OSError):
                st = entry.stat(follow_symlinks=False)
                if depth > 1 and stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and st.st_mode & stat.S_IWOTH:
                    yield from _shared_entries(entry.path, depth - 1)


def _remove_abandoned_rooms(where: Path, prefix: str) -> None:
    """Remove the shared rooms (:meth:`Sandbox.in_shared_room`) in ``where`` whose names start with
    ``prefix`` and whose lock no one holds: the kernel let go of it when their grader died."""
    for entry in _shared_entries(where, depth=1):
        if not entry.name.startswith(prefix):
            continue
        try:
            fd = os.open(os.path.join(entry.path, HELD), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:  # not a shared room, or one still being made
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: in use
            os.close(fd)
            continue
        try:
            if os.fstat(fd).st_uid == 0 and entry.stat(follow_symlinks=False).st_uid == 0:
                remove_tree(entry.path)
        finally:
            os.close(fd)


def _room_of(entry: os.DirEntry, uid: int, prefix: str) -> bool:
    """Whether ``entry`` is the room of a sandbox of ``uid`` (see :class:`Sandbox`): a folder of root's
    named ``prefix`` (the user's name and a dash) and more, holding the user's ``home``."""
    if not entry.name.startswith(prefix):
        return False
    st = entry.stat(follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0:
        return False
    home = os.stat(os.path.join(entry.path, "home"), follow_symlinks=False)
    return stat.S_ISDIR(home.st_mode) and home.st_uid == uid
