"""An incremental, resumable class run: grade whoever needs it, store each result at once, rebuild.

A learner is graded when they have no stored result, when their submission's content digest
changed, when named with ``only``, or with ``force``; every other stored result is kept. Each
result is stored (atomically) as soon as it is graded, so an interrupted run loses only the
gradings in progress, and the same command resumes. The gradebook and summary are rebuilt from
every stored result at the end of every run, interrupted or not.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bentokit import package_index, procs
from grader.cohort import gradebook, runner, similarity, store, submissions
from grader.cohort.runner import Limits, Outcome
from grader.cohort.submissions import Fetched, Submission, SubmissionError, with_stored_ids
from grader.report import one_line, printable

#: The grader's full marks without ``--container``: what a grading that could not finish is scored out of.
DEFAULT_MAX = 100.0
#: Lines of the grading log kept in the record (the whole log is in ``grader.log`` beside it).
RECORD_LOG_LINES = 60
LIMITS = Limits()


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[list[int]]:
    """Ctrl-C and SIGTERM wait until the block has ended (the class outputs are rebuilt as one set, never
    half): the list yielded holds the signals that came meanwhile. Outside the main thread, where no
    handler can be set, the block runs as it is."""
    came: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield came
        return
    kept = {sig: signal.signal(sig, lambda signum, frame: came.append(signum))
            for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield came
    finally:
        for sig, handler in kept.items():
            signal.signal(sig, handler)


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; without a zone it is UTC."""
    when = datetime.fromisoformat(text.strip())
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"] * bool(minutes)
    return " ".join(parts) or f"{int(seconds)} s"


@dataclass(frozen=True)
class LatePolicy:
    """A deadline and what lateness costs: ``penalty_per_day`` percent per started day (0: mark only)."""

    deadline: datetime | None = None
    penalty_per_day: float = 0.0

    def assess(self, submitted_at: str) -> dict[str, Any]:
        """Late facts for the gradebook: due, late, seconds late, label, penalty percent."""
        if self.deadline is None:
            return {}
        facts: dict[str, Any] = {"due": self.deadline.isoformat(), "late": False, "seconds": 0.0,
                                 "penalty_percent": 0.0}
        try:
            late_by = (parse_time(submitted_at) - self.deadline).total_seconds() if submitted_at else None
        except ValueError:  # a platform's time, or a record stored before times were checked
            late_by = None
        if late_by is None:
            return {**facts, "label": "at an unknown time (not checked against the deadline)"}
        if late_by <= 0:
            return {**facts, "label": "on time"}
        penalty = min(100.0, math.ceil(late_by / 86400) * self.penalty_per_day)
        return {**facts, "late": True, "seconds": late_by, "penalty_percent": penalty,
                "label": f"{_duration(late_by)} after the deadline"}

    def apply(self, record: dict[str, Any]) -> dict[str, Any]:
        """``record`` with its late facts and its total (the score after any penalty) under this policy."""
        facts = self.assess(record.get("submitted_at", ""))
        penalty = facts.get("penalty_percent", 0.0)
        return {**record, "late": facts, "total": round(record["score"] * (1 - penalty / 100), 2)}

    def settings(self) -> dict[str, Any]:
        return {"deadline": self.deadline.isoformat() if self.deadline else None,
                "late_penalty": self.penalty_per_day}

    def describe(self) -> str:
        if self.deadline is None:
            return "no deadline"
        cost = (f"{self.penalty_per_day:g}% per started day late" if self.penalty_per_day
                else "lateness marked only")
        return f"deadline {self.deadline.isoformat()}, {cost}"


def deadline_warning(records: Iterable[dict[str, Any]]) -> str:
    """A warning when every learner with a submission time is late (two or more of them): most likely
    a mistyped ``--deadline`` (a wrong year, say), which with a late penalty could zero the class."""
    timed = [r["late"] for r in records if r.get("submitted_at") and (r.get("late") or {}).get("due")]
    if len(timed) < 2 or not all(facts["late"] for facts in timed):
        return ""
    earliest = min(facts["seconds"] for facts in timed)
    return (f"Every one of the {len(timed)} learners with a submission time is late, the earliest by "
            f"{_duration(earliest)}: check the deadline ({timed[0]['due']}) before publishing the scores.")


def class_policy(out: Path, deadline: datetime | None, penalty: float | None,
                 say: Any = print) -> LatePolicy | None:
    """The class's late policy: what was typed, else what the class's results folder keeps.

    A re-run that leaves out ``--deadline`` or ``--late-penalty`` (to regrade one learner, say) keeps
    the class's; one that gives another (an extension) changes it for every stored learner, and says so.
    None for results stored before the class kept its policy, when none is typed: they keep theirs.
    """
    kept = store.read_settings(out)
    if not kept and deadline is None and penalty is None and store.load(out):
        say("These results were stored before the class kept its late policy: each keeps the lateness it "
            "was graded with until --deadline (and --late-penalty) are given once.")
        return None
    kept_deadline = parse_time(kept["deadline"]) if kept.get("deadline") else None
    policy = LatePolicy(deadline if deadline is not None else kept_deadline,
                        float(penalty if penalty is not None else kept.get("late_penalty", 0.0)))
    if kept and policy.settings() != kept:
        was = LatePolicy(kept_deadline, float(kept.get("late_penalty", 0.0)))
        say(f"The class's late policy changed: {policy.describe()} (was: {was.describe()}); the lateness "
            f"and total of every stored learner follow it.")
    elif kept and (deadline is None or penalty is None) and policy.deadline is not None:
        say(f"The class's late policy, kept from an earlier run: {policy.describe()}.")
    store.write_settings(out, policy.settings())
    return policy


def to_record(outcome: Outcome, sub: Submission, late: LatePolicy = LatePolicy()) -> dict[str, Any]:
    """The stored form of a learner's grading (all text already free of machine paths). The learner's
    text (an error quoting their file names, the log of their code) is kept printable: it reaches the
    instructor's terminal, a CI log and files written as UTF-8."""
    return late.apply({
        "learner": sub.learner, "id": sub.learner_id, "source": sub.source if sub.is_git else "",
        "digest": outcome.digest, "commit": outcome.commit,
        "submitted_at": outcome.submitted_at or sub.submitted_at, "graded_at": outcome.graded_at,
        "seconds": round(outcome.seconds, 2), "peak_rss_mb": round(outcome.peak_rss_mb, 1),
        "score": outcome.score, "max_score": outcome.max_score, "checks": outcome.checks,
        "error": printable(outcome.error), "notes": [printable(n) for n in outcome.notes],
        "models": outcome.models, "log": printable("\n".join(outcome.log.splitlines()[-RECORD_LOG_LINES:])),
    })


class StoreFailed(RuntimeError):
    """A learner's result could not be written into the results folder (its disk full, say)."""


@contextlib.contextmanager
def storing(out: Path, learner: str) -> Iterator[None]:
    """Turn an OSError of storing ``learner``'s result into :class:`StoreFailed`, which says what to do."""
    try:
        yield
    except OSError as err:
        raise StoreFailed(
            f"the result of {one_line(learner)} could not be stored in {out}: {err.strerror or err}"
            f"{f' ({err.filename})' if err.filename else ''}. Every result stored before it is kept: make "
            f"room there (space or files), then run the same command again to grade the rest.") from err


def save_outcome(out: Path, outcome: Outcome, sub: Submission, late: LatePolicy) -> dict[str, Any]:
    """Store one learner's result (log and service.py first, the record last); returns the record.
    Raises :class:`StoreFailed`."""
    record = to_record(outcome, sub, late)
    files: dict[str, str | bytes] = {"grader.log": outcome.log}
    if outcome.service_source is not None:
        files["service.py"] = outcome.service_source
    with storing(out, sub.learner):
        store.save(out, record, files)
    return record


@dataclass
class ClassRun:
    """What one run did."""

    graded: list[str] = field(default_factory=list)  #: learner ids graded (and stored) by this run
    kept: list[str] = field(default_factory=list)  #: learner ids whose stored result was kept
    #: learners (names) this run could not grade for reasons that say nothing of their work (not
    #: reached, the machine or the kit failed): their stored result stands, and is among ``kept``
    stood: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  #: why each graded learner was graded
    interrupted: bool = False
    seconds: float = 0.0
    paths: dict[str, Path] = field(default_factory=dict)
    warning: str = ""  #: see :func:`deadline_warning`
    #: learners (names) not graded because their id is a stored learner's of another name (see
    #: :func:`clashes_with_stored`)
    clashed: list[str] = field(default_factory=list)


def clashes_with_stored(subs: Iterable[Submission], stored: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The learners of ``subs`` whose id is that of a stored learner of another name, and that name.

    With 24 bits of a hash in an id, a learner who names their own folder found a name with a classmate's
    id in a minute, and a later run's list (late submissions) replaced the classmate's stored 100 with
    the namer's 9 (red-team round 35). Ids have 64 bits now, and stored ones of 24 stay theirs (see
    ``submissions.with_stored_ids``); should two names still share one, the stored result stands and
    the other learner is not graded."""
    return {s.learner: stored[s.learner_id]["learner"] for s in subs
            if s.learner_id in stored and stored[s.learner_id].get("learner") != s.learner}


def select(subs: list[Submission], only: Iterable[str]) -> list[Submission]:
    """The submissions named in ``only`` (by name or id); all of them when ``only`` is empty."""
    wanted = {name.strip() for name in only if name.strip()}
    if not wanted:
        return subs
    known = {s.learner for s in subs} | {s.learner_id for s in subs}
    unknown = sorted(wanted - known)
    if unknown:
        raise SubmissionError(f"--only names no learner of this class: {', '.join(unknown)}")
    return [s for s in subs if s.learner in wanted or s.learner_id in wanted]


def _fetch(sub: Submission, workroot: Path, deadline: datetime | None) -> Fetched | Outcome:
    work = workroot / sub.learner_id
    procs.remove_tree(work)
    work.mkdir(parents=True)
    return runner.fetch_or_outcome(sub, work, deadline)


def _stands(stored: dict[str, dict[str, Any]], outcome: Outcome, result: ClassRun, say: Any) -> bool:
    """Whether the learner's stored result stands in place of ``outcome``: a failure that says nothing of
    their work (``Outcome.no_verdict``) never replaces a grade, so a re-run offline zeroes no one."""
    old = stored.get(outcome.learner_id)
    if not outcome.no_verdict or old is None:
        return False
    result.kept.append(outcome.learner_id)
    result.stood.append(outcome.learner)
    when = datetime.fromisoformat(old["graded_at"]).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    say(f"  {one_line(outcome.learner)}: {one_line(outcome.error)}; their stored result, graded {when}, "
        "stands")
    return True


#: Seconds a port stays taken after a connection on it closed (TCP's TIME_WAIT, 60 s in Linux): learner
#: code that opened and closed a connection on every port, holding no file, left every port unbindable
#: that long, and the classmate whose server started meanwhile could not serve.
PORTS_QUIET = 61.0


def _grade_when_quiet(fetched: Fetched, work: Path, limits: Limits, args: list[str],
                      stop: threading.Event, since: list[float]) -> Outcome:
    """Grade ``fetched`` alone, PORTS_QUIET seconds after the last grading ended (``since[0]``, updated):
    nothing of another learner's code, processes or ports, is left by then."""
    if stop.wait(max(0.0, since[0] + PORTS_QUIET - time.monotonic())):
        return Outcome(fetched.submission.learner, fetched.submission.learner_id, error="stopped")
    try:
        return runner.grade_fetched(fetched, work, limits, args, stop)
    finally:
        since[0] = time.monotonic()


def to_grade_alone(outcomes: Iterable[Outcome]) -> set[str]:
    """The learners to grade again, one at a time, where nobody else's code runs: whose grading went
    over a limit that keeps the gradings beside it whole (``Outcome.disturbed_others``; another
    learner's code can push a server over it, by connecting to it), whose grading ran meanwhile (their
    servers and requests may have failed for its sake), whose service found its port taken, and whose
    code went over a time limit: its service not ready, not answering in time or answering it is too
    busy (HTTP 429, 503, 504), its import, model
    reading, build or load test not done in time (a classmate's code may have kept the cores or the
    server busy: a flood of requests to it cost an honest learner the whole live group, and 120 busy
    processes another learner's import and model limits), during whose grading the machine's
    out-of-memory killer ended a process (a classmate's code took the memory: an honest learner's
    server, or grader, was ended), and whose grading was stopped at its time or memory limit (a
    classmate's code sent an honest learner's server one request of 60 MB, which took it past 4 GiB:
    red-team round 36), whose image's build or container could not start a process for want of
    slots (a classmate's container held them all: round 37), and during whose grading a file system
    it writes ran short of space or files (a classmate's daemon took the whole disk: round 40)."""
    outcomes = list(outcomes)
    spans = [o.window for o in outcomes if o.disturbed_others]
    return {o.learner_id for o in outcomes
            if o.disturbed_others or o.port_taken or o.timed_out or o.out_of_memory or o.over_limit
            or o.short_of_processes or o.short_of_disk
            or any(o.window[0] < end and start < o.window[1] for start, end in spans)}


def refuse_without_index() -> None:
    """Raise RuntimeError when this machine cannot reach the package index: every learner's build would
    fail there (it locks their packages), and the class would lose the built bento's points."""
    if cause := package_index.unreachable():
        raise RuntimeError(
            f"{package_index.described(cause)}. Every learner's `bentoml build` locks their packages there: "
            f"each would fail and cost its learner the built bento's points, so no one was graded. Grade "
            f"again {package_index.WHERE_REACHABLE}.")


def refuse_short_of_disk(workroot: Path) -> None:
    """Raise RuntimeError when a file system the gradings write is short of space or files already:
    each grading would be graded twice (see :func:`to_grade_alone`) and kept as the full disk left it."""
    if short := runner.short_of_disk(runner.written_by_grading(workroot)):
        raise RuntimeError(
            f"{short}: a grading writes about 100 MB of copies, stores and bentos, and needs "
            f"{runner.MIN_FREE_BYTES >> 20} MiB and {runner.MIN_FREE_FILES} files free. Free some first: "
            f"no one was graded.")


def refuse_open_folders(subs: list[Submission]) -> None:
    """As root, raise RuntimeError when other users can reach a learner's folder (checked before a run
    fetches or stores anything, even one with no one to grade): learner code runs as
    users of its own, and one learner's code could read a classmate's service.py while it is graded
    (the class run's command line names the class folder) and hand it in as its own, past the
    similarity report."""
    if os.geteuid() != 0:  # learner code runs as the instructor: nothing is confined (see the README)
        return
    folders = [Path(s.source) for s in subs if not s.is_git and Path(s.source).is_dir()]
    if open_ := [f for f in folders if procs.open_to_others(f)]:
        parents = sorted({str(f.parent) for f in open_})
        raise RuntimeError(
            f"other users can reach {len(open_)} learner folder(s) ({open_[0]}, ...): learner code runs "
            f"as users of its own, and one learner's code could read a classmate's work while it is graded, "
            f"so no one was graded. Close the class folder to other users first: chmod 700 "
            f"{' '.join(parents)}")


def run_class(subs: list[Submission], out: Path, workroot: Path, *, jobs: int = 2, limits: Limits = LIMITS,
              grader_args: Iterable[str] = runner.GRADER_ARGS, only: Iterable[str] = (), force: bool = False,
              deadline: datetime | None = None, late_penalty: float | None = None,
              threshold: float = similarity.THRESHOLD, keep_work: bool = False, progress: Any = None,
              say: Any = print) -> ClassRun:
    """Grade the learners of ``subs`` that need it into ``out`` and rebuild the class outputs.

    ``deadline`` and ``late_penalty`` change the class's late policy (:func:`class_policy`); left
    out (None), the one ``out`` keeps applies.

    ``progress`` is a :class:`rich.progress.Progress` (or None); ``say`` prints a line as it is (learner
    text goes in it: no markup). A KeyboardInterrupt (Ctrl-C, or SIGTERM turned into one by the caller)
    stops the gradings in progress, keeps every stored result and still rebuilds the outputs
    (``ClassRun.interrupted``). A result that cannot be stored (the disk full) does the same, then
    raises :class:`StoreFailed`.
    """
    started = time.monotonic()
    result = ClassRun()
    args = list(grader_args)
    named = bool(list(only))
    stop = threading.Event()
    with store.locked(out):
        stored = store.load(out)
        subs = with_stored_ids(subs, stored)
        chosen = select(subs, only)
        refuse_open_folders(subs)  # before anything is fetched or stored
        policy = class_policy(out, deadline, late_penalty, say)
        late = policy or LatePolicy()
        clashes = clashes_with_stored(chosen, stored)
        for name, other in clashes.items():
            say(f"  {one_line(name)}: not graded: their id is that of {one_line(other)}, whose stored "
                f"result stands; rename one of them in the class list")
        result.clashed = sorted(clashes)
        chosen = [s for s in chosen if s.learner not in clashes]
        workroot.mkdir(parents=True, exist_ok=True)
        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        futures: dict[Future, Submission] = {}
        try:
            fetching = {pool.submit(_fetch, s, workroot, late.deadline): s for s in chosen}
            todo: list[Fetched] = []
            for future in as_completed(fetching):
                sub = fetching[future]
                fetched = future.result()
                if isinstance(fetched, Outcome):  # not fetched: a stored result stands, or the reason goes in
                    if _stands(stored, fetched, result, say):
                        continue
                    save_outcome(out, fetched, sub, late)
                    result.graded.append(sub.learner_id)
                    result.reasons[sub.learner_id] = "could not be fetched"
                    say(f"  {one_line(sub.learner)}: {one_line(fetched.error)}")
                    continue
                old = stored.get(sub.learner_id)
                reason = ("--force" if force else "named with --only" if named else
                          "new" if old is None else "changed" if old["digest"] != fetched.digest else "")
                if reason:
                    result.reasons[sub.learner_id] = reason
                    todo.append(fetched)
                else:
                    result.kept.append(sub.learner_id)
                    if not keep_work:
                        procs.remove_tree(workroot / sub.learner_id)
            result.kept += [s.learner_id for s in subs if s not in chosen and s.learner_id in stored]
            if todo:
                refuse_short_of_disk(workroot)
            if todo and "--build" in args:
                refuse_without_index()
            say(f"{len(todo)} to grade ({len(result.kept)} unchanged results kept), {jobs} at a time "
                f"(limits: {limits.seconds:.0f} s, {limits.memory_mb:.0f} MiB, {limits.open_files} open files"
                f" each)")
            task = progress.add_task("grading", total=len(todo)) if progress is not None else None
            batch, first_pass = todo, True
            while batch:
                outcomes: list[Outcome] = []
                if first_pass:
                    futures = {pool.submit(runner.grade_fetched, f, workroot / f.submission.learner_id,
                                           limits, args, stop): f.submission for f in batch}
                else:  # one at a time, each a minute after anyone else's code ran
                    pool.shutdown(wait=True)
                    pool = ThreadPoolExecutor(max_workers=1)
                    since = [time.monotonic()]
                    futures = {pool.submit(_grade_when_quiet, f, workroot / f.submission.learner_id, limits,
                                           args, stop, since): f.submission for f in batch}
                for future in as_completed(futures):
                    sub = futures[future]
                    try:
                        outcome = future.result()
                    except Exception as err:  # a bug here must not lose the rest of the class
                        outcome = Outcome(sub.learner, sub.learner_id, graded_at=runner.now_iso(),
                                          error=f"internal error: {err!r}", no_verdict=True)
                    if outcome.error == "stopped":
                        continue
                    outcomes.append(outcome)
                    if _stands(stored, outcome, result, say):
                        if not first_pass and sub.learner_id in stored:  # this run's first grade goes
                            with storing(out, sub.learner):
                                store.save_record(out, stored[sub.learner_id])
                        if task is not None:
                            progress.advance(task)
                        continue
                    save_outcome(out, outcome, sub, late)
                    if sub.learner_id not in result.graded:
                        result.graded.append(sub.learner_id)
                    status = (f"error: {one_line(outcome.error)}" if outcome.error
                              else f"{outcome.score:g} points")
                    say(f"  {one_line(sub.learner)}: {status} "
                        f"({outcome.seconds:.0f} s, {result.reasons[sub.learner_id]})")
                    if task is not None:
                        progress.advance(task)
                    if not keep_work:
                        procs.remove_tree(workroot / sub.learner_id)
                # With -j 1 every grading ran alone already.
                again = to_grade_alone(outcomes) if first_pass and jobs > 1 and not stop.is_set() else set()
                batch, first_pass = [], False
                if again:
                    say(f"{len(again)} to grade again, one at a time, a minute apart: a grading went over "
                        f"the open files, memory or a time limit, found its service too busy to answer or "
                        f"its port taken, or ran while the machine ran out of memory or disk (code of a "
                        f"learner graded beside it may have kept the cores, the memory or the disk, sent a "
                        f"classmate's server requests, or held the machine's ports)")
                for sub in (s for s in chosen if s.learner_id in again):
                    fetched = _fetch(sub, workroot, late.deadline)
                    if isinstance(fetched, Outcome):  # the first grade stands; the line says why not again
                        say(f"  {one_line(sub.learner)}: not graded again: {one_line(fetched.error)}")
                        continue
                    result.reasons[sub.learner_id] = "graded again, alone"
                    batch.append(fetched)
                if batch and task is not None:
                    progress.update(task, total=len(todo) + len(batch))
        except (KeyboardInterrupt, StoreFailed) as err:
            result.interrupted = isinstance(err, KeyboardInterrupt)
            failed = err if isinstance(err, StoreFailed) else None
            stop.set()
            submissions.stop_clones()
            for future in futures:
                future.cancel()
        else:
            failed = None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # the running gradings see ``stop`` and end
        result.seconds = time.monotonic() - started
        with interrupts_deferred() as came:  # a stop now waits for the outputs, a second or two
            try:
                _rebuild(out, chosen, result, policy, threshold)
            except OSError as err:
                if failed is None:
                    raise
                unbuilt = f"The class outputs were not rebuilt either: {err.strerror or err}."
                failed.args = (f"{failed}\n{unbuilt}",)
        result.interrupted = result.interrupted or bool(came)
    if failed is not None:  # the gradings stopped, the outputs rebuilt from what was stored
        raise failed
    return result


def _rebuild(out: Path, chosen: list[Submission], result: ClassRun, policy: LatePolicy | None,
             threshold: float) -> None:
    """The class outputs from every stored record (kept ones follow the class's policy too)."""
    records = store.load(out)
    for learner_id, record in records.items():
        if policy is not None and (updated := policy.apply(record)) != record:
            records[learner_id] = updated
            store.save_record(out, updated)
    run = {"graded": len(result.graded), "kept": len(records) - len(result.graded),
           "seconds": result.seconds, "interrupted": result.interrupted,
           "finished_at": runner.now_iso(), "not_yet_graded": sorted(
               s.learner for s in chosen if s.learner_id not in records)}
    result.warning = run["warning"] = deadline_warning(records.values())
    result.paths = gradebook.rebuild(out, records, run, threshold)
