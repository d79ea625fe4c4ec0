"""Grade one submission in isolation, or many in parallel, with time and memory limits.

Each learner is graded by ``python -m grader`` in a child process with a BentoML home of its own;
no learner code runs in this process. :func:`run_grader` is the one place that spawns and stops
that child (the confinement seam); everything else here prepares its input and reads its output.
Written by hand: no library runs graders under per-tree memory limits with this clean-up.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bentokit import procs
from grader.cohort import scrub
from grader.cohort.submissions import Fetched, Submission, SubmissionError, Unreachable, fetch, import_models
from grader.plugin import SANDBOX_FILE

#: Lines of the grading log kept in a failed grading's feedback.
LOG_TAIL = 25


@dataclass(frozen=True)
class Limits:
    """Per-submission limits: wall time of the whole grading, and memory and open files of its process
    tree (with every process of its learner code's user, when confined)."""

    seconds: float = 300.0
    memory_mb: float = 4096.0
    #: File descriptors at once. In a grading of the course's service its sandbox users' processes hold
    #: about 65 (sampled every 50 ms), the grader's own a few dozen more; learner code that
    #: listened on every port of the machine (64 500 sockets) failed the classmates graded beside it:
    #: their servers could not bind, and nothing could connect anywhere.
    open_files: int = 1000


@dataclass
class Outcome:
    """A learner's grade, or why there is none; every text in it is free of machine paths."""

    learner: str
    learner_id: str = ""
    score: float = 0.0
    max_score: float = 0.0
    checks: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    error: str = ""
    notes: list[str] = field(default_factory=list)
    log: str = ""
    digest: str = ""
    commit: str = ""
    submitted_at: str = ""
    models: list[dict[str, str]] = field(default_factory=list)
    service_source: str | None = None
    graded_at: str = ""
    #: The failure says nothing of the work (it could not be reached, the machine or the kit failed): a
    #: stored result of the learner stands instead (see ``classrun.run_class``). Never stored.
    no_verdict: bool = False
    #: The grading went over a limit that keeps the gradings beside it whole (open files: the machine's
    #: ports; entries in /dev/shm: the time the run's readings take): it and those that ran meanwhile are
    #: graded again, alone (``classrun.run_class``). Never stored. (Connections from another learner's
    #: code count against the server that accepts them.)
    disturbed_others: bool = False
    #: Its service's port was taken (another learner's code graded meanwhile may hold it): it is graded
    #: again, alone. Never stored.
    port_taken: bool = False
    #: Its service was not ready in time, or a request got no answer in time or a busy one (HTTP 429, 503,
    #: 504; another learner's code may have kept the cores or the server busy): the same.
    timed_out: bool = False
    #: A process of its image's build or container could not start for want of process slots (every
    #: learner's container counts against the builder user's: a classmate's may have held them): the same.
    short_of_processes: bool = False
    #: The machine's out-of-memory killer ended a process while it ran (learner code beside it may have
    #: taken the memory, in a way no limit saw): the same.
    out_of_memory: bool = False
    #: A file system it writes (its work folder, the sandboxes' rooms, /tmp, /var/tmp) ran short of free
    #: space or files while it ran (learner code beside it may have taken them, in a way no limit saw):
    #: the same.
    short_of_disk: bool = False
    #: It was stopped at its time or memory limit (learner code beside it may have sent its server a
    #: request that took gigabytes, or kept the cores): the same.
    over_limit: bool = False
    #: When the grader ran (``time.monotonic()``), to tell which gradings ran beside which.
    window: tuple[float, float] = (0.0, 0.0)


@dataclass
class Run:
    """What :func:`run_grader` reports: how the grader process ended."""

    returncode: int | None
    error: str = ""
    peak_rss_mb: float = 0.0
    seconds: float = 0.0
    #: It went over the open files or /dev/shm entries limit (see ``Outcome.disturbed_others``).
    disturbed_others: bool = False
    #: The machine's out-of-memory killer ended a process meanwhile (see ``Outcome.out_of_memory``).
    out_of_memory: bool = False
    #: It was stopped at its time or memory limit (see ``Outcome.over_limit``).
    over_limit: bool = False
    #: A file system it writes ran short meanwhile (see ``Outcome.short_of_disk``): what it found.
    short_of_disk: str = ""


#: Seconds between two looks at a grading's time, memory and open files: a burst of sockets that takes
#: the machine's ports is seen within it (binding thousands of sockets takes longer).
POLL = 0.25
#: The process table the polls of the gradings running at once share (one reading per POLL for all).
TABLE = procs.ProcessTable(max_age=POLL)
#: Seconds a stopped grading gets to clean up after itself (its server, its sandbox) before SIGKILL.
GRACE = 10.0
#: The free space and files below which a file system a grading writes counts as full for its sake. A
#: classmate's daemon took all of the disk with ``fallocate`` in under a second (no memory, CPU, files or
#: processes: no limit saw it), and an honest learner's import and build failed for want of space, 100 ->
#: 82 (red-team round 40). A grading of the course's service writes some 100 MB.
MIN_FREE_BYTES = 512 << 20
MIN_FREE_FILES = 20_000


#: Of ``procs.SHARED_TMP``, the folders in memory: the memory limit counts what is written there.
IN_MEMORY = (Path("/dev/shm"), Path("/run/lock"))


def written_by_grading(workdir: str | os.PathLike) -> list[Path]:
    """The file systems a grading in ``workdir`` writes on: its work folder, the sandboxes' rooms,
    /tmp and /var/tmp. Not /dev/shm or /run/lock: they are memory, which the memory limit counts."""
    return [Path(workdir), procs.ROOMS, *(p for p in procs.SHARED_TMP if p not in IN_MEMORY)]


def short_of_disk(paths: Iterable[str | os.PathLike]) -> str:
    """What is short on the file systems of ``paths`` (each once): free space or files (inodes) below
    MIN_FREE_BYTES or MIN_FREE_FILES for users other than root; "" when nothing is."""
    seen = set()
    for path in paths:
        with contextlib.suppress(OSError):
            if (device := os.stat(path).st_dev) in seen:
                continue
            seen.add(device)
            st = os.statvfs(path)
            if st.f_bavail * st.f_frsize < MIN_FREE_BYTES:
                return f"{st.f_bavail * st.f_frsize >> 20} MiB free on the file system of {path}"
            if st.f_files and st.f_favail < MIN_FREE_FILES:
                return f"{st.f_favail} files free on the file system of {path}"
    return ""


def _recorded_sandbox(command: list[str]) -> dict[str, Any]:
    """Who learner code runs as in the grading ``command``, once the grader has recorded it in its
    results' ``sandbox.json`` (``{}`` before that, or when it cannot be read)."""
    with contextlib.suppress(ValueError, IndexError, OSError):
        found = json.loads((Path(command[command.index("--results") + 1]) / SANDBOX_FILE).read_text())
        return found if isinstance(found, dict) else {}
    return {}


def _confined_uids(command: list[str]) -> list[int] | None:
    """The users of their own that learner code runs as in the grading ``command`` now: the learner's
    sandbox's, then the others' (the service inspector's, the lock check's while it runs); None: not
    recorded yet, or not confined."""
    sandbox = _recorded_sandbox(command)
    with contextlib.suppress(KeyError, TypeError, ValueError):
        if sandbox.get("confined") is not True:
            return None
        return [int(sandbox["uid"]), *(int(other["uid"]) for other in sandbox.get("others") or [])]
    return None


def _markers(command: list[str]) -> list[str]:
    """The run markers of the grading ``command``'s sandboxes, as recorded."""
    sandbox = _recorded_sandbox(command)
    with contextlib.suppress(TypeError, AttributeError):
        found = [sandbox.get("marker"), *(other.get("marker") for other in sandbox.get("others") or [])]
        return [str(marker) for marker in found if marker]
    return []


def _clean_after(command: list[str]) -> None:
    """Kill whatever the grading's learner code left, as the grader recorded it in ``sandbox.json``.

    The grader kills its sandbox itself when it ends; this covers a grading that was killed first
    (a time or memory limit): the processes carrying its sandbox's marker, and every process of
    each sandbox user no grading holds (its user among them: a grading that took that user since
    holds its slot, and killed what was left when it took it).
    """
    for marker in _markers(command):
        with contextlib.suppress(procs.ProcsError):
            procs.kill_tree(procs.find(marker), grace=0)
    with contextlib.suppress(procs.ProcsError, OSError):
        procs.reap_idle_sandboxes()  # under each user's slot lock, never a user in use


def run_grader(command: list[str], *, cwd: Path, env: dict[str, str], log_path: Path, limits: Limits,
               stop: threading.Event | None = None, spent: float = 0.0) -> Run:
    """Run the grader ``command`` and stop every process it made.

    The grader is the kit's own code: it runs the learner's code in a sandbox of its own (as a user
    of its own when root, with an allow-listed environment), so it gets the instructor's
    environment plus ``env``. Returns when it exits, when its wall time passes ``limits.seconds`` or
    its process tree's memory ``limits.memory_mb`` (``Run.error`` says which, in a sentence for the
    learner), or as soon as ``stop`` is set (``Run.error`` = "stopped"): it then gets ``GRACE``
    seconds to stop its server and sandbox (SIGTERM) before everything of it is killed. On return no
    process of the run is alive. The grader writes its reports into the ``--results`` folder named
    in ``command``, which learner code cannot write when confined; the caller reads them afterwards.
    ``spent``: seconds of the time limit the submission used before (its models' imports).
    """
    started = time.monotonic() - spent
    run = Run(returncode=None)
    kills = procs.oom_kills()
    written = written_by_grading(cwd)
    with open(log_path, "wb") as log:
        process = procs.spawn(command, cwd=cwd, env=env, stdout=log)
    try:
        while process.poll() is None:
            # Read at every poll: a user of its own comes and goes (the lock check's).
            learner_uids = _confined_uids(command)
            usage = procs.tree_usage(process, learner_uids or (), table=TABLE)
            run.peak_rss_mb = max(run.peak_rss_mb, usage.rss_mb)
            run.short_of_disk = run.short_of_disk or short_of_disk(written)
            if stop is not None and stop.is_set():
                run.error = "stopped"
                break
            if time.monotonic() - started > limits.seconds:
                run.error = f"grading took longer than the limit of {limits.seconds:.0f} s"
                run.over_limit = True
                break
            if run.peak_rss_mb > limits.memory_mb:
                run.error = (f"the submission used {run.peak_rss_mb:.0f} MiB, over the limit of "
                             f"{limits.memory_mb:.0f} MiB")
                run.over_limit = True
                break
            if usage.open_files > limits.open_files:
                run.error = (f"the submission's processes held {usage.open_files} open files and sockets at "
                             f"once, over the limit of {limits.open_files} (a service needs a few dozen)")
                run.disturbed_others = True
                break
            if usage.shared_flood:
                run.error = (f"the submission's processes kept more than {procs.SHARED_ENTRIES_READ} files "
                             f"and folders in /dev/shm (a service keeps a handful): reading them slowed "
                             f"the limits of every grading beside it")
                run.disturbed_others = True
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=POLL)
    finally:
        if process.poll() is None:  # let it stop its server and sandbox, then kill what is left
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=GRACE)
        with contextlib.suppress(procs.ProcsError):
            procs.kill_tree(process, grace=1.0)
        _clean_after(command)
    # Machine-wide: a grading beside it may have taken the memory (red-team round 35: a classmate's
    # memfd, which no limit counted, had the killer end an honest learner's server and grader).
    run.out_of_memory = kills is not None and (procs.oom_kills() or 0) > kills
    run.returncode = process.returncode
    run.seconds = time.monotonic() - started
    return run


#: Learners ship no bento, so a class run always has the grader build one.
GRADER_ARGS = ("--build",)


def now_iso() -> str:
    """The current UTC time, ISO 8601 with microseconds (a record's ``graded_at``)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def grade_fetched(fetched: Fetched, work: Path, limits: Limits = Limits(),
                  grader_args: Iterable[str] = GRADER_ARGS, stop: threading.Event | None = None,
                  timeout: float = 120) -> Outcome:
    """Import the models of an already fetched submission and grade it; never raises for a bad one."""
    sub = fetched.submission
    outcome = Outcome(sub.learner, sub.learner_id, digest=fetched.digest, commit=fetched.commit,
                      submitted_at=fetched.submitted_at, service_source=fetched.service_source,
                      notes=list(fetched.notes), graded_at=now_iso())
    cleaner = scrub.Scrubber.for_grading(work, fetched.folder)
    started = time.monotonic()
    try:
        home = work / "home"
        home.mkdir(exist_ok=True)
        models, notes = import_models(fetched, home, timeout)
    except (SubmissionError, OSError, subprocess.SubprocessError, RecursionError) as err:  # a learner's tree
        outcome.error = cleaner(f"could not prepare the submission: {err}")
        return outcome
    except Exception as err:  # anything else their tree raises stays their finding (see unexpected())
        outcome.error, outcome.log = unexpected(err, cleaner)
        return outcome
    outcome.models = models
    outcome.notes += [cleaner(n) for n in notes]
    results = Path(tempfile.mkdtemp(prefix="results-", dir=work))
    # The grader keeps the instructor's environment (its data for the model's AUC); learner code
    # never sees it: the grader gives it an allow-listed one.
    env = {"BENTOML_HOME": str(home), "TMPDIR": str(work)}
    # -P: no folder of the run's before the kit's own packages on the grader's path.
    command = [sys.executable, "-P", "-m", "grader", "--submission", str(fetched.folder),
               "--results", str(results), *grader_args]
    log_path = work / "grader.log"
    # The imports ran as the instructor, before the grading: their time counts in the learner's limit.
    began = time.monotonic()
    run = run_grader(command, cwd=work, env=env, log_path=log_path, limits=limits, stop=stop,
                     spent=time.monotonic() - started)
    outcome.window = (began, time.monotonic())
    outcome.disturbed_others = run.disturbed_others
    outcome.out_of_memory = run.out_of_memory
    outcome.short_of_disk = bool(run.short_of_disk)
    outcome.over_limit = run.over_limit
    outcome.peak_rss_mb = run.peak_rss_mb
    outcome.seconds = time.monotonic() - started
    outcome.log = cleaner(log_path.read_text(errors="replace"))
    outcome.error = run.error
    if not outcome.error:
        try:
            summary = json.loads((results / "summary.json").read_text())
        except (OSError, ValueError):
            outcome.error = f"the grader wrote no summary (exit code {run.returncode})"
        else:
            if problem := summary.get("machine_problem"):  # a step failed for the machine's sake
                outcome.error, outcome.no_verdict = f"not graded: {cleaner(problem)}", True
                outcome.digest = ""  # stored (when nothing else is), it is graded again on the next run
            else:
                outcome.port_taken = summary.get("port_taken") is True
                outcome.timed_out = summary.get("timed_out") is True
                outcome.short_of_processes = summary.get("short_of_processes") is True
                outcome.score, outcome.max_score = summary["score"], summary["max_score"]
                outcome.checks = [{**c, "output": cleaner(c["output"])} for c in summary["checks"]]
    return outcome


def grade_one(sub: Submission, workroot: Path, limits: Limits = Limits(),
              grader_args: Iterable[str] = GRADER_ARGS, stop: threading.Event | None = None,
              deadline: datetime | None = None) -> Outcome:
    """Fetch ``sub`` under ``workroot`` and grade it in a child; a bad submission never raises."""
    work = Path(tempfile.mkdtemp(prefix="learner-", dir=workroot))
    fetched = fetch_or_outcome(sub, work, deadline)
    if isinstance(fetched, Outcome):
        return fetched
    return grade_fetched(fetched, work, limits, grader_args, stop)


def fetch_or_outcome(sub: Submission, work: Path, deadline: datetime | None = None) -> Fetched | Outcome:
    """``sub`` fetched into ``work/submission``, or the outcome saying why it could not be (a bad
    submission, an unreachable or slow repository: never an exception)."""
    cleaner = scrub.Scrubber.for_grading(work, work / "submission")
    try:
        return fetch(sub, work / "submission", deadline=deadline)
    except (SubmissionError, OSError, subprocess.SubprocessError, RecursionError) as err:  # a learner's tree
        # Not reaching the work says nothing of it; a file of the work that cannot be copied (a mode the
        # learner set, say), or no commit before the deadline, is a finding about it.
        return Outcome(sub.learner, sub.learner_id, graded_at=now_iso(),
                       error=cleaner(f"could not prepare the submission: {err}"),
                       no_verdict=isinstance(err, Unreachable))
    except Exception as err:  # see unexpected()
        error, log = unexpected(err, cleaner)
        return Outcome(sub.learner, sub.learner_id, graded_at=now_iso(), error=error, log=log)


def unexpected(err: Exception, cleaner: Any) -> tuple[str, str]:
    """The error and log of a submission whose preparation raised what no check foresaw: a file name
    that is no UTF-8 once ended the whole class run (and every re-run), no classmate graded. One
    submission never stops the run: its record says what happened, the traceback is in its log."""
    return (cleaner(f"could not prepare the submission: {type(err).__name__}: {err}"),
            cleaner(traceback.format_exc()))


def cleanup(workroot: Path) -> None:
    """Remove the per-learner work folders (copies, stores, logs)."""
    procs.remove_tree(workroot)  # sandboxes' folders a killed grading left: any depth
