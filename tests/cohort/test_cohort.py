"""Grading a class: scores as when graded alone, the outputs, incremental re-runs and resuming."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest

from grader.cohort import classrun, gradebook, runner, scrub, submissions
from tests.cohort.conftest import KINDS, QUICK, ROOT, cohort, gradebook_rows, make_submission, records
from tests.grader.conftest import grade, graded_specs

#: The grader's default time limits, which a class run uses (the grader tests' own are tighter).
COHORT_LIMITS = ("--import-timeout", "30", "--ready-timeout", "60")
ALONE = ("solution", "wrong_thresholds", "crash_on_start", "no_service", "no_model")


@pytest.fixture(scope="session")
def single_scores(model_file, tmp_path_factory) -> dict[str, float]:
    """Each kind graded alone by ``python -m grader``, with the model imported into a fresh home."""
    def one(kind: str) -> float:
        base = tmp_path_factory.mktemp(f"single-{kind}")
        folder = make_submission(kind, base / "submission", model_file)
        home = base / "home"
        for exported in folder.glob("*.bentomodel"):
            subprocess.run([sys.executable, "-m", "bentoml", "models", "import", str(exported)],
                           env={**os.environ, "BENTOML_HOME": str(home)}, check=True, capture_output=True)
            exported.unlink()
        home.mkdir(exist_ok=True)
        return grade(folder, home, base / "results", "--build", *COHORT_LIMITS).summary["score"]

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(ALONE, pool.map(one, ALONE), strict=True))


def test_every_learner_scores_as_when_graded_alone(graded_class, single_scores):
    out, _ = graded_class
    rows = gradebook_rows(out)
    assert sorted(rows) == sorted(KINDS)
    same_as = {"renamed_copy": "solution", "repo_layout": "solution"}
    for learner, kind in KINDS.items():
        assert float(rows[learner]["total"]) == single_scores[same_as.get(kind, kind)], learner
    assert single_scores["solution"] == float(rows["ann"]["max_score"]) == 100  # full marks
    assert len(set(single_scores.values())) == len(ALONE)  # each kind loses something else


def test_learners_whose_names_share_a_slug_get_their_own_folders(graded_class):
    out, _ = graded_class
    rows = gradebook_rows(out)
    assert rows["Jo Smith"]["id"] != rows["Jo_Smith"]["id"]
    assert rows["Jo Smith"]["id"].startswith("Jo_Smith-") and rows["Jo_Smith"]["id"].startswith("Jo_Smith-")
    assert float(rows["Jo Smith"]["total"]) == 100 > float(rows["Jo_Smith"]["total"])
    for name in ("Jo Smith", "Jo_Smith"):
        feedback = (out / "learners" / rows[name]["id"] / "feedback.md").read_text()
        assert feedback.startswith(f"# Feedback for {name}\n")
    assert submissions.learner_id("Jo Smith") == rows["Jo Smith"]["id"]  # stable: from the name alone
    with pytest.raises(submissions.SubmissionError, match="more than once: ann"):
        submissions.check_unique([submissions.Submission("ann", "a"), submissions.Submission("ann", "b")])


def test_class_outputs(graded_class):
    out, done = graded_class
    assert "7/7" in done.stdout and "ETA" in done.stdout
    rows = gradebook_rows(out)
    stored = records(out)
    for learner, row in rows.items():
        folder = out / "learners" / row["id"]
        files = {p.name for p in folder.iterdir()}
        assert {"record.json", "feedback.md", "results.json", "grader.log"} <= files
        assert stored[learner]["total"] == float(row["total"])
    assert "graded the service in exercises/" in stored["fay"]["notes"]
    summary = (out / "summary.md").read_text()
    totals = sorted(float(row["total"]) for row in rows.values())
    assert f"| median | {statistics.median(totals):g} |" in summary and totals[3] == 96  # 7 learners
    table = summary.split("## Pass rate of every check")[1].split("## Similarity")[0]
    assert table.count("\n| ") == 1 + len(graded_specs())  # a header and every check of the grade
    # cy's server never started: its later live checks are "not checked", not failed.
    cy = {c["id"]: c for c in stored["cy"]["checks"]}
    assert cy["live_sample"]["output"].startswith("not checked") and not cy["live_sample"]["passed"]
    assert gradebook.check_status(cy["live_sample"]) == gradebook.NOT_CHECKED
    assert gradebook.check_status(cy["live_ready"]) == gradebook.FAILED
    statuses = [gradebook.check_status(next(c for c in r["checks"] if c["id"] == "live_sample"))
                for r in stored.values() if r["checks"]]
    sample = next(ln for ln in table.splitlines() if "sample applicant" in ln)
    assert [int(c) for c in sample.split("|")[3:6]] == [statuses.count(s) for s in (
        gradebook.PASSED, gradebook.FAILED, gradebook.NOT_CHECKED)]
    assert statuses.count(gradebook.NOT_CHECKED) >= 1
    thresholds = next(ln for ln in table.splitlines() if "status thresholds" in ln)
    assert "> 0.5 DECLINED, > 0.25 MAYBE" in thresholds.split("|")[7]
    assert (out / "score_distribution.png").stat().st_size > 5000


def test_similarity_finds_the_planted_copies(graded_class):
    out, _ = graded_class
    summary = (out / "summary.md").read_text().split("## Similarity")[1]
    identical = summary.split("**Identical service.py**")[1].split("**Near-identical")[0]
    assert "- Jo Smith, Jo_Smith" not in identical  # a wrong threshold is another program
    assert any(ln.startswith("- ") and "Jo Smith" in ln and "ann" in ln for ln in identical.splitlines())
    pairs = summary.split("**Near-identical pairs**")[1].split("**The same model tag**")[0]
    assert any("ann" in ln and "fay" in ln for ln in pairs.splitlines())  # a near-copy with a small edit
    tag = summary.split("**The same model tag**")[1].split("**The same model files**")[0]
    assert "credit_risk_model:" in tag and "eve" not in tag  # every learner shipping the one export; eve none


def test_no_machine_path_in_any_learner_output(graded_class, class_folder):
    out, _ = graded_class
    for path in (out / "learners").rglob("*"):
        if path.is_file() and path.name != "service.py":
            text = path.read_text(errors="replace")
            assert scrub.leaks(text, [class_folder, ROOT]) == [], path


def _graded_at(out: Path) -> dict[str, str]:
    return {name: r["graded_at"] for name, r in records(out).items()}


def test_regrade_one_change_another_and_resume_an_interrupted_run(graded_class, class_folder, tmp_path):
    """The acceptance of a term's work: nothing is lost, only what needs it is graded again."""
    source, out = tmp_path / "class", tmp_path / "out"
    shutil.copytree(class_folder, source)
    shutil.copytree(graded_class[0], out)
    before = records(out)
    # 1. regrade one learner: only they get a new grading; every learner stays in the gradebook
    done = cohort("grade", source, "--out", out, "-j", "2", "--only", "Jo_Smith")
    assert done.returncode == 0, done.stdout + done.stderr
    after = records(out)
    assert [n for n in KINDS if after[n]["graded_at"] != before[n]["graded_at"]] == ["Jo_Smith"]
    assert after["Jo_Smith"]["total"] == before["Jo_Smith"]["total"]
    assert sorted(gradebook_rows(out)) == sorted(KINDS)
    # 2. a learner changes their submission: a plain re-run grades them alone
    shutil.copy(ROOT / "solutions" / "service.py", source / "dee" / "service.py")
    done = cohort("grade", source, "--out", out, "-j", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 to grade (6 unchanged results kept)" in done.stdout
    again = records(out)
    assert [n for n in KINDS if again[n]["graded_at"] != after[n]["graded_at"]] == ["dee"]
    assert again["dee"]["digest"] != after["dee"]["digest"] and again["dee"]["total"] == 100
    rows = gradebook_rows(out)
    assert sorted(rows) == sorted(KINDS) and float(rows["dee"]["total"]) == 100
    assert float(rows["Jo_Smith"]["total"]) == before["Jo_Smith"]["total"]
    # 3. nothing changed: nothing is graded
    done = cohort("grade", source, "--out", out)
    assert "0 to grade (7 unchanged results kept)" in done.stdout
    assert {n: r["graded_at"] for n, r in again.items()} == _graded_at(out)


def test_an_interrupted_run_keeps_what_it_graded_and_resumes(class_folder, tmp_path):
    listing = tmp_path / "class.csv"
    listing.write_text("learner,source\n" + "".join(f"{n},{class_folder / n}\n" for n in QUICK))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "grader.cohort", "grade", str(listing), "--csv", "--out", str(out),
               "-j", "1"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 300
        while not list((out / "learners").glob("*/record.json")):
            assert proc.poll() is None and time.monotonic() < deadline, "no learner was stored"
            with contextlib.suppress(psutil.Error):
                seen |= {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
            time.sleep(0.2)  # polling a file's appearance: there is no event to wait for
        with contextlib.suppress(psutil.Error):
            seen |= {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, output
    assert "run the same command again" in output
    first = _graded_at(out)
    assert 1 <= len(first) < len(QUICK)
    assert sorted(gradebook_rows(out)) == sorted(first)  # rebuilt from what was stored
    alive = [pid for pid in seen if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert alive == []  # the grading in progress was stopped with all its processes
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(QUICK) - len(first)} to grade ({len(first)} unchanged results kept)" in done.stdout
    resumed = _graded_at(out)
    assert sorted(resumed) == sorted(QUICK) and all(resumed[n] == first[n] for n in first)
    assert sorted(gradebook_rows(out)) == sorted(QUICK)


def test_a_submission_over_its_limits_is_stopped_and_reported(class_folder, tmp_path):
    # A full grading of ann's folder can end within a short limit on a quiet machine: a service.py
    # that takes 120 s to import cannot (the grader's own import limit is 30 s).
    slow = shutil.copytree(class_folder / "ann", tmp_path / "slow-submission")
    service = slow / "service.py"
    service.write_text(service.read_text() + "\nimport time\n\ntime.sleep(120)\n")
    sub = submissions.Submission("slow", str(slow))
    outcome = runner.grade_one(sub, tmp_path, runner.Limits(seconds=5))
    assert "longer than the limit of 5 s" in outcome.error and outcome.score == 0
    left = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if Path(proc.cwd()).is_relative_to(tmp_path):
                left.append(proc.cmdline())
    assert left == []  # the grader, its children and the learner's server are all gone


def _commit(repo: Path, message: str, when: datetime) -> None:
    stamp = when.isoformat()
    env = {**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
    for command in (["add", "-A"], ["-c", "user.name=l", "-c", "user.email=l@x", "commit", "-qm", message]):
        subprocess.run(["git", *command], cwd=repo, check=True, env=env)


def test_git_sources_are_graded_at_the_last_commit_before_the_deadline(class_folder, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(class_folder / "ann", repo)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    due = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)
    _commit(repo, "on time", due - timedelta(hours=2))
    (repo / "service.py").write_text("late rewrite\n")
    _commit(repo, "late", due + timedelta(hours=3))
    listing = tmp_path / "class.csv"
    listing.write_text(f"learner,source\nann,{class_folder / 'ann'}\nben,file://{repo}\n")
    subs = submissions.from_csv(listing)
    assert [s.is_git for s in subs] == [False, True]
    fetched = submissions.fetch(subs[1], tmp_path / "at-deadline", deadline=due)
    assert "late rewrite" not in (fetched.folder / "service.py").read_text()
    assert "1 later commit(s) not graded" in fetched.notes[0]
    assert datetime.fromisoformat(fetched.submitted_at) < due
    latest = submissions.fetch(subs[1], tmp_path / "latest")
    assert (latest.folder / "service.py").read_text() == "late rewrite\n" and latest.digest != fetched.digest
    prepared = submissions.prepare(subs[1], tmp_path / "work", deadline=due)
    assert [m["tag"].split(":")[0] for m in prepared.models] == ["credit_risk_model"]
    assert not list(prepared.folder.glob("*.bentomodel"))  # models live in the home, not the context
    with pytest.raises(submissions.SubmissionError, match="learner"):
        bad = tmp_path / "bad.csv"
        bad.write_text("name,path\nx,y\n")
        submissions.from_csv(bad)


def test_a_learner_who_cannot_be_fetched_keeps_their_stored_result(class_folder, tmp_path):
    """A re-run that cannot reach a learner's repository or folder (offline, a moved disk) learns nothing
    of their work: their stored result stands, and the run says so. Only a learner with none gets the
    reason stored."""
    repo = shutil.copytree(class_folder / "dee", tmp_path / "dee-repo")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    _commit(repo, "my work", datetime.now(UTC) - timedelta(hours=1))
    folder = shutil.copytree(class_folder / "eve", tmp_path / "eve")
    listing = tmp_path / "class.csv"
    listing.write_text(f"learner,source\ndee,file://{repo}\neve,{folder}\n")
    out = tmp_path / "out"
    done = cohort("grade", listing, "--csv", "--out", out, "-j", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    before, rows = records(out), gradebook_rows(out)
    assert sorted(before) == ["dee", "eve"] and not any(r["error"] for r in before.values())
    repo.rename(tmp_path / "moved-repo")
    shutil.rmtree(folder)
    listing.write_text(listing.read_text() + f"zed,file://{tmp_path / 'no-such-repo'}\n")
    done = cohort("grade", listing, "--csv", "--out", out, "--force")
    assert done.returncode == 0, done.stdout + done.stderr
    after = records(out)
    assert {n: after[n] for n in before} == before  # not a byte of their records changed
    assert {n: gradebook_rows(out)[n]["total"] for n in rows} == {n: r["total"] for n, r in rows.items()}
    said = " ".join((done.stdout + done.stderr).split())  # rich wraps long lines
    for name in ("dee", "eve"):
        when = datetime.fromisoformat(before[name]["graded_at"]).strftime("%Y-%m-%d %H:%M UTC")
        assert f"{name}: could not prepare the submission" in said
        assert f"their stored result, graded {when}, stands" in said
    assert "their stored results stand: dee, eve." in said
    assert after["zed"]["error"].startswith("could not prepare the submission: git clone")
    assert "Traceback" not in done.stdout + done.stderr


def test_the_kits_own_error_in_a_grading_leaves_the_stored_result_standing(graded_class, class_folder,
                                                                            tmp_path, monkeypatch):
    out = shutil.copytree(graded_class[0], tmp_path / "out")
    before = records(out)

    def kit_bug(*args, **kwargs):
        raise RuntimeError("a bug of the kit")

    monkeypatch.setattr(runner, "grade_fetched", kit_bug)  # the only way to have the kit fail on purpose
    said: list[str] = []
    done = classrun.run_class(submissions.from_folder(class_folder), out, tmp_path / "work", only=["ann"],
                              force=True, say=said.append)
    assert done.stood == ["ann"] and done.graded == [] and records(out) == before
    assert [line for line in said if "internal error" in line and "stands" in line]


def test_a_result_that_cannot_be_stored_ends_the_run_with_what_to_do(graded_class, class_folder, tmp_path):
    """A results disk out of space or files fails root's writes too: the run ended with a traceback. It
    stops its gradings, keeps what was stored, rebuilds the outputs from it and says what to do."""
    out = shutil.copytree(graded_class[0], tmp_path / "out")
    before = records(out)
    blocked = out / "learners" / before["dee"]["id"] / "grader.log"
    blocked.unlink()
    blocked.mkdir()  # the log cannot be written: a real OSError of the file system, as a full disk gives
    done = cohort("grade", class_folder, "--out", out, "--only", "dee", "--force")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "error: the result of dee could not be stored in" in done.stderr
    assert "run the same command again" in done.stderr
    assert records(out) == before  # dee's stored result stands, and everyone else's
    assert sorted(gradebook_rows(out)) == sorted(KINDS)  # rebuilt from what was stored


def test_a_stop_while_the_outputs_are_rebuilt_waits_for_them(graded_class, class_folder, tmp_path,
                                                             monkeypatch):
    """Ctrl-C (or SIGTERM) as the gradebook is being written: the outputs are finished as one set, and the
    run ends as an interrupted one, without a traceback."""
    out = shutil.copytree(graded_class[0], tmp_path / "out")
    expected = gradebook_rows(out)
    for name in ("gradebook.csv", "summary.md"):
        (out / name).unlink()
    rebuild = gradebook.rebuild

    def stopped_meanwhile(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # delivered now, in the main thread: Ctrl-C
        return rebuild(*args, **kwargs)

    monkeypatch.setattr(gradebook, "rebuild", stopped_meanwhile)
    done = classrun.run_class(submissions.from_folder(class_folder), out, tmp_path / "work", say=print)
    assert done.interrupted and done.graded == []
    assert gradebook_rows(out) == expected and (out / "summary.md").is_file()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back


def test_a_second_stop_ends_the_command_with_its_message(class_folder, tmp_path, monkeypatch, capsys):
    from grader.cohort.__main__ import main

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(classrun, "run_class", stopped)
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        assert main(["grade", str(class_folder), "--out", str(tmp_path / "out")]) == 130
    finally:
        signal.signal(signal.SIGTERM, sigterm)  # the command turned SIGTERM into Ctrl-C
    assert "run the same command again" in capsys.readouterr().err


def test_who_is_graded_again_alone() -> None:
    """Over the open files limit (perhaps pushed by another's connections), beside such a grading, with
    its service's port taken, or with its service not answering in time (a classmate's code may have
    kept the cores or the server busy): graded again, one at a time. Anyone else's grade stands."""
    def outcome(name: str, start: float, end: float, **flags) -> runner.Outcome:
        return runner.Outcome(name, name, window=(start, end), **flags)

    outcomes = [outcome("hog", 10, 20, disturbed_others=True), outcome("beside", 15, 40),
                outcome("before", 0, 10), outcome("after", 20, 30), outcome("port", 50, 60, port_taken=True),
                outcome("slow", 70, 80, timed_out=True), outcome("unfetched", 0, 0),
                outcome("short of memory", 90, 100, out_of_memory=True),
                outcome("stopped at a limit", 110, 120, over_limit=True),
                outcome("no process slots", 130, 140, short_of_processes=True),
                outcome("short of disk", 150, 160, short_of_disk=True)]
    assert classrun.to_grade_alone(outcomes) == {"hog", "beside", "port", "slow", "short of memory",
                                                  "stopped at a limit", "no process slots", "short of disk"}


def test_a_class_run_refuses_to_start_when_the_package_index_cannot_be_reached(offline, tmp_path):
    """Offline, every learner's `bentoml build` would fail to lock its packages: the run says why and
    grades no one, rather than take the built bento's points from the whole class."""
    learners = tmp_path / "class"
    shutil.copytree(ROOT / "solutions", learners / "ann")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "grader.cohort", "grade", str(learners), "--out", str(out)],
                          cwd=ROOT, env={**os.environ, **offline},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cannot reach the Python package index" in done.stderr and "no one was graded" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not list(out.glob("learners/*/record.json"))


#: A name found in a minute of hashing whose id, with the 6 hex digits ids used to have, was alice's.
ALICES_OLD_ID_TWIN = "alice;[=[(~"


def old_id(name: str) -> str:
    """A learner's id as stored before ids had 16 hex digits."""
    return submissions.learner_id(name)[:6 - submissions.ID_HASH_DIGITS]  # slug-xxxxxx


def test_a_name_chosen_for_a_classmates_id_gets_an_id_of_its_own(tmp_path) -> None:
    """With 6 hex digits, a later run's list (late work) held a name with alice's id: its 9 replaced her
    stored 100, under its own name, and she left the gradebook (red-team round 35)."""
    assert old_id(ALICES_OLD_ID_TWIN) == old_id("alice")
    assert submissions.learner_id(ALICES_OLD_ID_TWIN) != submissions.learner_id("alice")
    on_time, late, out = tmp_path / "on_time", tmp_path / "late", tmp_path / "out"
    for folder in (on_time / "alice", late / ALICES_OLD_ID_TWIN):
        folder.mkdir(parents=True)
        (folder / "service.py").write_text(f"print({folder.name!r})\n")
    on_time.chmod(0o700)
    late.chmod(0o700)
    done = cohort("grade", on_time, "--out", out)
    assert done.returncode == 0, done.stdout + done.stderr
    alice = records(out)["alice"]
    done = cohort("grade", late, "--out", out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert records(out)["alice"] == alice
    assert sorted(gradebook_rows(out)) == sorted(["alice", ALICES_OLD_ID_TWIN])


def test_a_learner_stored_under_an_old_id_keeps_it(tmp_path) -> None:
    """A term's results stored before ids had 16 hex digits: each learner keeps their id, folder and row
    (matched by their exact name), and an unchanged submission is not graded again."""
    learners, out = tmp_path / "class", tmp_path / "out"
    (learners / "alice").mkdir(parents=True)
    (learners / "alice" / "service.py").write_text("print('alice')\n")
    learners.chmod(0o700)
    assert cohort("grade", learners, "--out", out).returncode == 0
    new, old = submissions.learner_id("alice"), old_id("alice")  # as an older kit stored it:
    (out / "learners" / new).rename(out / "learners" / old)
    record = json.loads((out / "learners" / old / "record.json").read_text())
    (out / "learners" / old / "record.json").write_text(json.dumps({**record, "id": old}))
    done = cohort("grade", learners, "--out", out)
    assert done.returncode == 0 and "0 to grade (1 unchanged results kept)" in done.stdout, done.stdout
    assert sorted(p.name for p in (out / "learners").iterdir()) == [old]
    done = cohort("grade", learners, "--out", out, "--force")
    assert done.returncode == 0 and sorted(p.name for p in (out / "learners").iterdir()) == [old]
    assert list(gradebook_rows(out)) == ["alice"]


def test_a_learner_whose_id_is_a_stored_classmates_is_not_graded_over_them() -> None:
    """Should two names ever share an id, the stored learner's result stands."""
    stored = {"alice-0123456789abcdef": {"learner": "alice"}}
    twin = submissions.Submission("alice!", "/nowhere", stored_id="alice-0123456789abcdef")
    honest = submissions.Submission("alice", "/nowhere", stored_id="alice-0123456789abcdef")
    assert classrun.clashes_with_stored([twin, honest], stored) == {"alice!": "alice"}
