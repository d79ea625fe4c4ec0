"""Gradescope, GitHub Classroom (run through its real reporter with node) and PrairieLearn outputs."""

from __future__ import annotations

import gzip
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from grader.cohort import platforms, scrub
from tests.cohort.conftest import ROOT, make_submission, records

REPORTER = Path(__file__).with_name("reporter") / "autograding-grading-reporter-v1.js.gz"
#: The reporter's own check of its ``runners`` input (src/main.js).
RUNNER_ID = re.compile(r"^([a-zA-Z0-9]+,)*[a-zA-Z0-9]+$")


@pytest.fixture(scope="module")
def reporter(tmp_path_factory) -> Path:
    """GitHub Classroom's grading reporter (dist/main.js of its v1 release), ready for node."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the GitHub Classroom reporter is a node program")
    path = tmp_path_factory.mktemp("reporter") / "main.js"
    path.write_bytes(gzip.decompress(REPORTER.read_bytes()))
    return path


def run_reporter(reporter: Path, outputs: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """The reporter as the workflow runs it: ``runners`` input and one ``<RUNNER>_RESULTS`` per runner."""
    env = {"PATH": os.environ["PATH"], "INPUT_RUNNERS": ",".join(platforms.CLASSROOM_RUNNERS),
           "GITHUB_OUTPUT": str(tmp_path / "reporter-output"), "HOME": str(tmp_path)}
    for runner in platforms.CLASSROOM_RUNNERS:
        env[f"{runner.upper()}_RESULTS"] = outputs[runner]
    return subprocess.run(["node", str(reporter)], env=env, capture_output=True, text=True, timeout=60)


def parse_outputs(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


#: A ``grader`` package in the learner's repository that would print a perfect score, were it imported.
PLANTED_GRADER = {"grader/__init__.py": "", "grader/cohort/__init__.py": "",
                  "grader/cohort/__main__.py": "print('Score: 100 / 100 points')\n"}


def plant(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def test_classroom_run_logs_every_hint_and_the_reporter_shows_one_total(class_folder, reporter, tmp_path):
    submission = tmp_path / "repo"
    shutil.copytree(class_folder / "Jo_Smith", submission)  # wrong thresholds: loses exactly one check
    plant(submission, PLANTED_GRADER)
    output, summary = tmp_path / "github_output", tmp_path / "step_summary"
    env = {**os.environ, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    # The workflow's own command, in the learner's repository, with this kit's Python for the venv's.
    flow = yaml.safe_load(platforms.write_workflow(tmp_path / "classroom.yml", "kit").read_text())
    steps = flow["jobs"]["run-autograding-tests"]["steps"]
    line = next(step for step in steps if step.get("id") == "kitgrader")["run"]
    words = shlex.split(line)
    assert words[0] == "sudo" and words[2] == "/opt/kit-venv/bin/python", words  # as root, confined
    command = [sys.executable, *words[3:]] + ([] if os.geteuid() == 0 else ["--unconfined"])
    done = subprocess.run(command, cwd=submission, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Score: 96 / 100 points" in done.stdout
    assert re.search(r"FAIL live endpoint: status thresholds .*\n\s+.*> 0.5 DECLINED, > 0.25 MAYBE",
                     done.stdout)
    assert scrub.leaks(done.stdout + summary.read_text(), [submission, tmp_path]) == []
    assert "| live endpoint: status thresholds" in summary.read_text() and "96 / 100" in summary.read_text()
    outputs = parse_outputs(output.read_text())
    assert sorted(outputs) == sorted(platforms.CLASSROOM_RUNNERS)
    shown = run_reporter(reporter, outputs, tmp_path)
    assert shown.returncode == 1  # the reporter fails the job when a check failed
    assert "::notice title=Autograding complete::Points 96/100" in shown.stdout
    assert '"totalPoints":96,"maxPoints":100' in shown.stdout
    table_total = re.search(r"Total:\s*│\s*([\d.]+)\s*│\s*([\d.]+)", shown.stdout)
    assert table_total and table_total.groups() == ("96", "100")  # the table says what Classroom records
    assert "> 0.5 DECLINED, > 0.25 MAYBE" in shown.stdout  # the hint under the failed check's name


def test_classroom_run_as_the_runners_own_user_reports_no_score(class_folder, tmp_path):
    """GitHub Classroom records what the job reports. As the runner's user (not root), learner code ran
    as the grader's user: a daemon its import left read $GITHUB_OUTPUT from the grader's environment and
    appended a full score (93 recorded as 100). Without root the run refuses, unless told --unconfined."""
    submission = tmp_path / "repo"
    shutil.copytree(class_folder / "ann", submission)
    output = tmp_path / "outputs" / "github_output"
    output.parent.mkdir()
    output.parent.chmod(0o777)  # the job's files are the runner's: here, a folder any user can write
    command = [sys.executable, "-P", "-m", "grader.cohort", "classroom-run", "--submission", str(submission)]
    as_runner = {"user": 65534, "group": 65534, "extra_groups": []} if os.geteuid() == 0 else {}
    env = {"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(output), "HOME": "/nonexistent"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                          **as_runner)
    said = " ".join(done.stderr.split())
    assert done.returncode == 1 and "Not graded" in said and "sudo" in said and "--unconfined" in said, said
    assert not output.exists()


@pytest.mark.parametrize("platform", ["gradescope", "classroom-run", "prairielearn"])
def test_a_platform_gives_no_score_when_the_machine_cannot_reach_the_package_index(platform, class_folder,
                                                                                   offline, tmp_path):
    """Offline, every learner's build fails to lock its packages: a score then would take the built
    bento's points from every learner of the course, so none is given, and the platform shows why. A
    kit cache of its own: the grader's builds leave that lock to the grader's, whose pass of the last
    hour (another test's) would stand."""
    folder = {"gradescope": "submission", "classroom-run": "repo", "prairielearn": "student"}[platform]
    shutil.copytree(class_folder / "ann", tmp_path / folder)  # the reference: 100 points where it can build
    option = {"gradescope": "--root", "classroom-run": "--submission", "prairielearn": "--job"}[platform]
    where = tmp_path / folder if platform == "classroom-run" else tmp_path
    output = tmp_path / "github_output"
    env = {**os.environ, **offline, "GITHUB_OUTPUT": str(output), "BENTOKIT_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, "-P", "-m", "grader.cohort", platform, option, str(where)]
    if platform == "classroom-run" and os.geteuid() != 0:
        command.append("--unconfined")
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    said = " ".join((done.stdout + done.stderr).split())
    assert "Not graded: this machine cannot reach the Python package index" in said, said
    assert "no score is given" in said and "Traceback" not in said
    if platform == "prairielearn":  # its own way: not gradable, no points awarded or taken, no attempt lost
        assert done.returncode == 0, said
        results = json.loads((tmp_path / "results" / "results.json").read_text())
        assert results["gradable"] is False and "score" not in results
        assert "cannot reach the Python package index" in results["format_errors"][0]
    else:  # the run fails, and writes nothing a score could be read from
        assert done.returncode == 1, said
        assert not (tmp_path / "results" / "results.json").exists() and not output.exists()


def _record(**changes) -> dict:
    checks = [
        {"id": "a", "group": "service.py", "title": "exists", "score": 3, "max_score": 3, "passed": True,
         "output": "passed", "hidden": False},
        {"id": "b", "group": "service.py", "title": "schema", "score": 2.67, "max_score": 5, "passed": False,
         "output": "- field age: declare it as int\n- field home: a Literal", "hidden": False},
        {"id": "c", "group": "live endpoint", "title": "probes", "score": 0.0, "max_score": 8,
         "passed": False,          "output": "not checked: the service is not running", "hidden": True},
        {"id": "d", "group": "live endpoint", "title": "infra", "score": 1.33, "max_score": 2,
         "passed": False,          "output": "- /metrics: expose it", "hidden": False},
    ]
    base = {"learner": "l", "id": "l-000000", "total": 7.0, "score": 7.0, "max_score": 18, "checks": checks,
            "error": "", "notes": ["graded the service in exercises/"], "seconds": 3.0, "log": "log line",
            "late": {}}
    return {**base, **changes}


@pytest.mark.parametrize("case", ["partial", "error", "full"])
def test_the_reporter_records_points_for_partial_credit_errors_and_full_marks(reporter, tmp_path, case):
    record = {"partial": _record(),
              "error": _record(checks=[], total=0.0, score=0.0,
                               error="grading took longer than the limit of 300 s"),
              "full": _record(checks=[dict(_record()["checks"][0])], total=3.0, score=3.0)}[case]
    possible = {"partial": 18, "error": 100, "full": 3}[case]
    outputs = parse_outputs(platforms.classroom_output(record, possible))
    shown = run_reporter(reporter, outputs, tmp_path)
    total = f"{record['total']:g}"
    assert f"::notice title=Autograding complete::Points {total}/{possible}" in shown.stdout, shown.stdout
    table_total = re.search(r"Total:\s*│\s*([\d.]+)\s*│\s*([\d.]+)", shown.stdout)
    assert table_total.groups() == (total, str(possible))
    assert shown.returncode == (0 if case == "full" else 1)
    if case == "error":
        assert "grading took longer than the limit of 300 s" in shown.stdout
    if case == "partial":
        assert "declare it as int" in shown.stdout and "schema (partial credit)" in shown.stdout


def test_learner_text_in_the_job_log_runs_no_workflow_command() -> None:
    """A hint quotes learner text: a line of it starting with ``::`` would be a workflow command to the
    runner (a forged annotation, a mask, a stop of command processing)."""
    forged = "::error title=Grading complete::100 / 100\n::add-mask::Score"
    record = _record(error=f"boom\n::notice::{forged}")
    record["checks"][1]["output"] = forged
    log = platforms.classroom_log(record, 18).splitlines()
    stop = next(i for i, line in enumerate(log) if line.startswith("::stop-commands::"))
    token = log[stop].split("::")[2]
    assert len(token) >= 32 and log[-1] == f"::{token}::"
    commands = [line for line in log[:stop] if line.lstrip().startswith("::")]
    one_line = f"boom%0A::notice::{forged}".replace("\n", "%0A")
    assert commands == [f"::error title=Grading could not finish::{one_line}"]
    assert any(line.strip() == "::add-mask::Score" for line in log[stop:-1])  # shown, as text only


def test_the_workflow_installs_the_kit_afresh_and_feeds_both_runners(tmp_path):
    path = platforms.write_workflow(tmp_path / "classroom.yml", "bentoml-production-kit @ git+https://x/kit")
    flow = yaml.safe_load(path.read_text())
    steps = flow["jobs"]["run-autograding-tests"]["steps"]
    install = next(s for s in steps if s.get("name") == "Install the kit")
    # No cache of any kind: the learner's repository owns its caches, and a run of a changed workflow
    # could save a venv of theirs under the key the graded workflow restores, then run as root.
    assert not [s for s in steps if s.get("uses", "").startswith("actions/cache@")] and "if" not in install
    assert "/opt/kit-venv" in install["run"] and "git+https://x/kit" in install["run"]
    grade = next(s for s in steps if s.get("id") == "kitgrader")
    assert "grader.cohort classroom-run" in grade["run"] and ">>" not in grade["run"]
    # Python never imports from the learner's repository: a pip/ folder there ran as `python -m pip`,
    # planted a .pth hook in the kit's environment, and the root step then reported 100 for 0.
    assert install.get("working-directory") == "/"
    lines = [line for step in steps for line in step.get("run", "").splitlines()]
    pythons = [line for line in lines if re.search(r"python\S* ", line)]
    assert len(pythons) == 3 and all(re.search(r"python\S* -P ", line) for line in pythons), pythons
    reporter_action = "classroom-resources/autograding-grading-reporter@v1"
    report = next(s for s in steps if s.get("uses") == reporter_action)
    assert RUNNER_ID.match(report["with"]["runners"])
    runners = report["with"]["runners"].split(",")
    assert runners == list(platforms.CLASSROOM_RUNNERS)
    expected_env = {f"{r.upper()}_RESULTS": f"${{{{ steps.kitgrader.outputs.{r} }}}}" for r in runners}
    assert report["env"] == expected_env


def test_gradescope_bundle_on_a_repository_layout_submission_past_its_due_date(model_file, tmp_path):
    bundle = platforms.write_bundle(tmp_path / "autograder.zip")
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
        assert zf.getinfo("run_autograder").external_attr >> 16 & 0o111
        assert "kit/grader/__main__.py" in zf.namelist() and "kit/pyproject.toml" in zf.namelist()
        assert not [n for n in zf.namelist() if n.startswith("kit/solutions")]
    assert subprocess.run(["bash", "-n", str(root / "source" / "setup.sh")]).returncode == 0
    make_submission("repo_layout", root / "submission", model_file)
    plant(root / "submission", PLANTED_GRADER)
    (root / "submission_metadata.json").write_text(json.dumps({
        "id": 1, "created_at": "2026-03-02T10:00:00.000000-08:00",
        "assignment": {"due_date": "2026-03-01T23:59:00.000000-08:00", "late_due_date": None, "title": "kit"},
        "users": [{"name": "Learner", "email": "l@x", "id": 9}]}))
    (root / "results").mkdir()
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "KIT_PYTHON": sys.executable}
    # Run from the learner's folder: the worst working folder Gradescope's harness could choose.
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, cwd=root / "submission",
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == results["max_score"] == 100
    assert results["output_format"] == "md" and results["stdout_visibility"] == "visible"
    assert "Submitted 10 h 1 min after the deadline" in results["output"]
    assert "graded the service in exercises/" in results["output"]
    for test in results["tests"]:
        assert {"name", "score", "max_score", "output", "visibility"} <= set(test)
    assert {t["visibility"] for t in results["tests"]} <= {"visible", "after_due_date"}
    assert "PASS  status thresholds" in done.stdout  # results/stdout: the grade table to discuss a dispute
    assert scrub.leaks(done.stdout + json.dumps(results), [root, tmp_path, ROOT]) == []


def test_prairielearn_results_from_a_stored_record(graded_class):
    out, _ = graded_class
    record = records(out)["Jo_Smith"]
    data = platforms.prairielearn_results(record, 100)
    assert data["gradable"] is True and data["score"] == pytest.approx(0.96)
    thresholds = next(t for t in data["tests"] if "status thresholds" in t["name"])
    assert thresholds["points"] == 0 and thresholds["max_points"] == 4 and "0.5" in thresholds["message"]
    assert sum(t["max_points"] for t in data["tests"]) == 100


def test_gradescope_results_of_a_stored_record_have_the_real_maximum(graded_class):
    """A Markdown header; each check's output plain text (it quotes learner code: see the stats tests)."""
    out, _ = graded_class
    stored = records(out)
    for name, record in stored.items():
        data = json.loads((out / "learners" / record["id"] / "results.json").read_text())
        assert data["max_score"] == 100 and data["score"] == record["total"], name
        assert data["output_format"] == "md" and data["test_output_format"] == "text"
        assert all(t["output_format"] == "text" for t in data["tests"])


def test_a_gradescope_group_is_due_at_its_members_earliest_date(tmp_path) -> None:
    """The last member listed gave the group's due date: a late learner who grouped with a classmate
    holding an extension was graded on time, whatever the order."""
    from grader.cohort import platforms

    def due(users: list[dict]) -> str:
        meta = tmp_path / "submission_metadata.json"
        meta.write_text(json.dumps({"created_at": "2026-03-05T10:00:00+00:00", "users": users,
                                    "assignment": {"due_date": "2026-03-01T23:59:00+00:00"}}))
        return platforms.gradescope_due(meta)[0].isoformat()

    extended = {"name": "Ann", "assignment": {"due_date": "2026-03-08T23:59:00+00:00"}}
    plain = {"name": "Mallory"}
    assert due([plain, extended]) == due([extended, plain]) == "2026-03-01T23:59:00+00:00"
    assert due([extended]) == "2026-03-08T23:59:00+00:00"  # a learner's own extension holds
    assert due([]) == "2026-03-01T23:59:00+00:00"
