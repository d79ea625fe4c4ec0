"""Hostile submissions: daemons that outlive the grading, a daemon that forges the report.

As root (CI), learner code runs as a user of its own and everything of that user is killed after
the grading, whatever it did to hide; :func:`tests.grader.conftest.grade` asserts that no process of
the grading's sandbox is left. Without root these escapes are only partly caught (the README says
so), hence the skip.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.grader.conftest import ROOT, copy_solutions, grade, graded_specs, make_broken, points

pytestmark = [pytest.mark.server,
              pytest.mark.skipif(os.geteuid() != 0, reason="confinement needs root (CI runs as root)")]

#: Run at import of service.py (so in the inspector, the build and every server worker).
DAEMONS = '''
import os as _os
import subprocess as _subprocess
import time as _time

_subprocess.Popen(["sleep", "600"], start_new_session=True, env={})  # a new session, no environment
if _os.fork() == 0:  # a double fork that leaves its process group
    _os.setsid()
    if _os.fork() == 0:
        _time.sleep(600)
    _os._exit(0)
'''

#: Started at import: finds the grader's --results folder in an ancestor's command line and keeps
#: writing a perfect score into its reports.
FORGER = '''
import json, os, sys, time

def results_folder():
    pid = os.getppid()
    while pid > 1:
        try:
            args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            return None
        if b"--results" in args:
            return args[args.index(b"--results") + 1].decode()
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return None

folder = results_folder()
deadline = time.time() + 120
while folder and time.time() < deadline:
    for name in ("summary.json", "results.json"):
        try:
            with open(os.path.join(folder, name), "w") as fh:
                json.dump({"score": 100, "max_score": 100, "checks": [], "tests": []}, fh)
        except OSError:
            pass
    time.sleep(0.1)
'''

START_FORGER = '''
import subprocess as _subprocess
import sys as _sys

_subprocess.Popen([_sys.executable, "forger.py"], start_new_session=True, env={})
'''


#: A learner's own ``bentoml`` package in the submission: ``python -m bentoml serve`` (and build) in the
#: submission's folder imports it first. It plants a ``grader`` package in the sandbox's folder, where
#: the grader's children work, whose inspector and model reader exit with code 3 (a forger would
#: write a perfect answer instead), then hands over to the real BentoML, so the service still works.
FAKE_BENTOML = '''
import importlib, os, sys
here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
planted = os.path.join(os.path.dirname(here), "grader", "children")
os.makedirs(planted, exist_ok=True)
for name in ("../__init__.py", "__init__.py", "service.py", "model.py"):
    with open(os.path.join(planted, name), "w") as fh:
        fh.write("import sys\\nsys.exit(3)\\n" if name in ("service.py", "model.py") else "")
del sys.modules["bentoml"]
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != here]
sys.modules["bentoml"] = real = importlib.import_module("bentoml")
globals().update(real.__dict__)
'''


#: Run at import of service.py: the inspector (whose output goes to a log in its own folder, which
#: is the sandbox user's) swaps its log for a link to a file only root reads, and ends, so that the
#: grader shows the log;
#: meanwhile learner code plants a link where the grader writes the composition's build config.
HARVESTER = '''
import os as _os

try:
    _os.symlink(VICTIM, _os.path.expanduser("~/compose-bentofile.yaml"))
except OSError:
    pass
_log = _os.readlink("/proc/self/fd/1")
if "/grader-child-" in _log:  # the inspector (the server logs to the grader's own folder)
    _os.unlink(_log)
    _os.symlink(SECRET, _log)
    _os._exit(1)
'''


def insert_after_future(path: Path, code: str) -> None:
    text = path.read_text()
    anchor = "from __future__ import annotations\n"
    assert anchor in text
    path.write_text(text.replace(anchor, anchor + code, 1))


def test_detached_daemons_are_all_killed(reference_home, tmp_path) -> None:
    submission = copy_solutions(tmp_path / "submission")
    insert_after_future(submission / "service.py", DAEMONS)
    graded = grade(submission, reference_home, tmp_path / "results", "--build")  # asserts no leftovers
    assert graded.summary["sandbox"]["confined"]
    assert graded.summary["score"] == points(graded_specs()), graded.explain(graded.failed)


def test_a_daemon_cannot_forge_the_report(reference_home, tmp_path) -> None:
    submission, _ = make_broken("wrong_thresholds", tmp_path / "submission")  # an honest score < 100
    (submission / "forger.py").write_text(FORGER)
    insert_after_future(submission / "service.py", START_FORGER)
    results = tmp_path / "results"
    graded = grade(submission, reference_home, results, "--build")
    time.sleep(1.0)  # a forger that survived would have rewritten the reports by now
    summary = json.loads((results / "summary.json").read_text())
    gradescope = json.loads((results / "results.json").read_text())
    honest = round(sum(c["score"] for c in summary["checks"]), 2)
    assert summary["score"] == gradescope["score"] == honest < summary["max_score"]
    assert graded.failed == {"live_status_thresholds"}
    assert f"TOTAL  {honest:g} / " in graded.stdout


def test_a_grader_package_planted_where_the_children_work_is_never_imported(reference_home, tmp_path) -> None:
    """Learner code can write the sandbox's folder, where the inspector and the model reader start: a
    ``grader`` package it plants there must not replace theirs (they would forge the model's answers)."""
    submission, _ = make_broken("wrong_thresholds", tmp_path / "submission")  # an honest score < 100
    (submission / "bentoml").mkdir()
    (submission / "bentoml" / "__init__.py").write_text(FAKE_BENTOML)
    graded = grade(submission, reference_home, tmp_path / "results", "--build")
    assert graded.checks["live_ready"]["passed"], graded.explain({"live_ready"})  # it did plant
    assert graded.failed == {"live_status_thresholds"}, graded.explain(graded.failed)


def test_learner_links_never_make_the_grader_read_or_write_roots_files(reference_home, tmp_path) -> None:
    """As root, the grader reads the submission and the sandbox's files and writes into the sandbox's
    folder: links (the submission's own, or swapped in by learner code as it runs) must not turn that
    into reading a file only root can (into the feedback) or writing over one."""
    secret, victim = tmp_path / "secret.txt", tmp_path / "victim.txt"
    secret.write_text("TOPSECRET: hunter2\n")
    secret.chmod(0o600)
    victim.write_text("precious\n")
    submission = copy_solutions(tmp_path / "submission")
    shutil.copy(ROOT / "solutions" / "composed_service.py", submission)
    (submission / "bentofile.yaml").unlink()
    (submission / "bentofile.yaml").symlink_to(secret)
    insert_after_future(submission / "service.py",
                        f"SECRET, VICTIM = {str(secret)!r}, {str(victim)!r}\n" + HARVESTER)
    results = tmp_path / "results"
    graded = grade(submission, reference_home, results, "--exercise", "service,bentofile,compose")
    reports = graded.stdout + (results / "summary.json").read_text() + (results / "results.json").read_text()
    assert "hunter2" not in reports and "TOPSECRET" not in reports
    assert victim.read_text() == "precious\n"
    assert "bentofile.yaml leads out of the submission" in graded.checks["bentofile_valid"]["output"]
    assert not graded.checks["service_imports"]["passed"]


@pytest.mark.parametrize("held_out", ["kept", "not kept yet"])
def test_learner_code_cannot_reach_the_model_reader(held_out, reference_home, tmp_path, monkeypatch,
                                                    request) -> None:
    """The model reader's predictions are what the live checks compare the service's answers with. A
    daemon left by the server's import of service.py (learner code, started first) stopped the reader,
    took its answer pipe with pidfd_getfd, which only needs the same user, and forged the predictions
    (82 -> 100; or it rewrote the reader's answer file). The reader runs as another user: the server's
    learner code may not even signal it. Usually it is the service inspector, which reads the model
    before anything of the learner's is importable in it, on its own copies of the submission and
    the store; before the held-out applicants are kept (a machine's first grading), a model reader of
    its own, as a third user (the inspector's learner code cannot reach it either)."""
    import subprocess
    import sys

    import psutil

    from grader.declare import LIVE, MODEL
    from grader.facts import run as run_module
    from grader.facts.run import Options, Run

    monkeypatch.setenv("BENTOML_HOME", str(reference_home))
    if held_out == "kept":
        request.getfixturevalue("kept_holdout")
    else:
        monkeypatch.setattr(run_module, "cached_holdout", lambda source: None)
    run = Run(Options(submission=ROOT / "solutions", needs=frozenset({MODEL, LIVE}), confine="require"))
    try:
        assert run._server is not None  # learner code runs meanwhile
        assert run._model_in_inspector == (held_out == "kept")
        reader = run._service_child if run._model_in_inspector else run._model_child
        users = [box.uid for box in run.sandboxes]
        assert len(set(users)) == len(users) == (2 if held_out == "kept" else 3), users
        assert psutil.Process(reader.process.pid).uids().real in users[1:]
        box = run.inspecting.sandbox  # the inspector's own copies, in a folder only its user can enter
        assert {run.inspecting.workdir.parent, run.inspecting.home.parent} == {box.folder}
        assert box.folder.stat().st_mode & 0o777 == 0o700 and box.folder.stat().st_uid == box.uid
        signal_it = "import os, sys; os.kill(int(sys.argv[1]), 0)"  # permission only: no signal is sent
        for learner_code in run.sandboxes[:2]:  # the server's user, and the inspector's
            if learner_code.uid == psutil.Process(reader.process.pid).uids().real:
                continue
            probe = subprocess.run([sys.executable, "-c", signal_it, str(reader.process.pid)],
                                   capture_output=True, text=True, timeout=60, user=learner_code.uid,
                                   group=learner_code.gid, extra_groups=[], cwd=learner_code.folder)
            assert "PermissionError" in probe.stderr, probe.stderr
        facts = run.model_facts  # and it reads the model as before, from a store of its own
        assert not facts.get("error") and len(facts["predictions"]) == len(run.known) + len(run.candidates)
    finally:
        server = run._server.process if run._server else None
        run.close()
    assert server is None or server.poll() is not None  # its close stopped what it started
    assert reader.process.poll() is not None


#: In a network namespace of the test's own: every port the grader would pick for a server held, then
#: a grading of solutions/ (its arguments follow the script's name).
GRADE_WITH_EVERY_PORT_HELD = r'''
import os, resource, signal, socket, subprocess, sys
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
each = min(hard, 65536) - 64
holders, ready_r, ready_w = [], *os.pipe()
for low in range(15000, 61000, each):
    pid = os.fork()
    if pid == 0:  # a holder of its slice of the ports, until killed
        resource.setrlimit(resource.RLIMIT_NOFILE, (each + 64, hard))
        held = []
        for port in range(low, min(low + each, 61000)):
            sock = socket.socket()
            try:
                sock.bind(("127.0.0.1", port))
                sock.listen(1)
                held.append(sock)
            except OSError:
                sock.close()
        os.write(ready_w, b".")
        signal.pause()
    holders.append(pid)
for _ in holders:
    os.read(ready_r, 1)
try:
    code = subprocess.run([sys.executable, "-m", "grader", *sys.argv[1:]]).returncode
finally:
    for pid in holders:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
sys.exit(code)
'''


def test_no_port_left_for_the_service_is_said_and_flagged_for_a_class_run(reference_home, tmp_path) -> None:
    """Code of a learner graded beside this one held every port (TIME_WAIT holds them with no file open):
    free_port raised, the grading ended with every check the grader's own error, a 0 stored as a verdict.
    Now the live checks say so and the summary flags it, for the class run to grade the learner again."""
    import subprocess
    import sys

    env = {**os.environ, "BENTOML_HOME": str(reference_home), "BENTOML_DO_NOT_TRACK": "true"}
    done = subprocess.run(["unshare", "--net", "--", sys.executable, "-c", GRADE_WITH_EVERY_PORT_HELD,
                           "--submission", "solutions", "--results", str(tmp_path / "results"),
                           "--import-timeout", "30", "--ready-timeout", "30"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    checks = {c["id"]: c for c in summary["checks"]}
    assert summary["port_taken"] is True, done.stdout
    assert "every port the grader tried for the service was taken" in checks["live_ready"]["output"]
    assert checks["service_file"]["passed"] and checks["model_saved"]["passed"]  # the rest is graded
