"""locustfile.py: a bounded headless locust run against the live service succeeds.

Runs ``locust --headless`` (the ecosystem's own runner, in a child process group with a time
limit) for a few seconds with a few users, and reads its CSV statistics.
"""

from __future__ import annotations

import contextlib
import csv
import io
import subprocess
import sys
import tempfile
from pathlib import Path

from bentokit import contract, procs
from grader.children import Child, kill_group
from grader.declare import LIVE, Checks
from grader.facts.run import Run

graded = Checks(group="locustfile.py", exercise="loadtest", needs=(LIVE,), graded=False)

USERS = 4
RUN_SECONDS = 4
LIMIT = RUN_SECONDS + 30.0


def rows(run: Run, path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file locust (learner code) wrote, read as the learner could."""
    try:
        text = run.sandbox.read_text(path)
    except OSError:  # missing, or swapped for a link to a file that is not the learner's
        return []
    return list(csv.DictReader(io.StringIO(text, newline="")))


@graded(points=4)
def locust_run(run: Run, check) -> None:
    """a bounded locust run of locustfile.py posts to /classify without failures"""
    if not (run.submission / "locustfile.py").is_file():
        check.fail(f"locustfile.py not found in {run.submission}: "
                   f"restore it with `./kit learn reset loadtest`.")
    if not run.live.url:
        check.fail("not checked: the service is not running (finish the service exercise first).")
    tmp = tempfile.mkdtemp(prefix="grader-locust-", dir=run.sandbox.room)
    try:
        prefix = Path(tmp) / "locust"
        # The log is opened before the folder is the learner's: learner code could otherwise swap it
        # for a link first. Locust (the learner's code) writes its statistics there.
        with open(Path(tmp) / "log.txt", "xb") as log:
            run.sandbox.give(tmp)
            process = procs.spawn([sys.executable, "-m", "locust", "-f", "locustfile.py", "--headless",
                                   "--host", run.live.url, "--users", str(USERS), "--spawn-rate", str(USERS),
                                   "--run-time", f"{RUN_SECONDS}s", "--stop-timeout", "2", "--only-summary",
                                   "--csv", str(prefix), "--exit-code-on-error", "0"],
                                  cwd=run.workdir, stdout=log, **run.learner())
            with contextlib.suppress(subprocess.TimeoutExpired):  # the group is killed below either way
                process.wait(timeout=LIMIT)
            timed_out = process.poll() is None
            if timed_out:
                Child.count_over_time()
            kill_group(process)
        log_tail = "(its log could not be read)"
        with contextlib.suppress(OSError):  # a log swapped for a link is not shown
            log_tail = "\n".join(run.sandbox.read_text(Path(tmp) / "log.txt").splitlines()[-12:])
        stats = rows(run, Path(f"{prefix}_stats.csv"))
        exceptions = rows(run, Path(f"{prefix}_exceptions.csv"))
        failures = rows(run, Path(f"{prefix}_failures.csv"))
    finally:
        procs.remove_tree(tmp)  # what learner code wrote there, however deep
    if timed_out or not stats:
        why = "its time limit passed" if timed_out else f"exit code {process.returncode}"
        check.fail(f"locust did not run to its end ({why}):\n{log_tail}")
    classify = [r for r in stats if r.get("Name") == contract.CLASSIFY_PATH]
    count = int(classify[0]["Request Count"]) if classify else 0
    raised = exceptions[0].get("Message", "")[:200] if exceptions else ""
    if count == 0:
        check.fail(f"no request reached {contract.CLASSIFY_PATH} in {RUN_SECONDS} s"
                   + (f" (the task raised {raised})" if raised else "")
                   + '. A @task method posts with self.client.post("/classify", json={"credit_application": '
                     'APPLICANT}) (notebook 07_performance.ipynb, "A bounded locust run").')
    failed = sum(int(r.get("Failure Count") or 0) for r in stats if r.get("Name") != "Aggregated")
    check.part("no failed requests", failed == 0,
               f"{failed} request(s) failed ({failures[0].get('Error', '')[:200] if failures else ''}): "
               f"send the applicant wrapped under \"credit_application\".")
    check.part("no task exceptions", not exceptions, f"a task raised: {raised}")
    check.note(f"{count} requests to {contract.CLASSIFY_PATH} in {RUN_SECONDS} s with {USERS} users")
