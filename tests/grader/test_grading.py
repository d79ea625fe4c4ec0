"""The grader both ways: full marks for the reference, the right failures for broken submissions."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from bentokit import lazy_bentoml, server
from grader.declare import groups
from tests.grader.conftest import (
    BROKEN,
    INSPECTOR,
    MODEL_READER,
    ROOT,
    case_home,
    copy_solutions,
    grade,
    graded_specs,
    make_broken,
    points,
)

pytestmark = pytest.mark.server
CASES = sorted(p.name for p in BROKEN.iterdir() if (p / "case.yaml").is_file())


def test_solutions_get_full_marks(solutions_graded) -> None:
    summary = solutions_graded.summary
    specs = graded_specs()
    assert summary["score"] == summary["max_score"] == points(specs), \
        solutions_graded.explain(solutions_graded.failed)
    assert [c["id"] for c in summary["checks"]] == [s.id for s in specs]
    assert list(summary["groups"]) == groups(specs)
    assert solutions_graded.returncode == 0
    assert summary["timed_out"] is False  # graded once in a class run (see the case import_infinite_loop)


def test_reports_are_standard(solutions_graded) -> None:
    results = solutions_graded.results
    total = points(graded_specs())
    assert results["score"] == total and results["max_score"] == total
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "output", "visibility"}
    hidden = [t for t in results["tests"] if t["visibility"] != "visible"]
    assert [t["name"] for t in hidden] == [f"{s.group}: {s.title}" for s in graded_specs() if s.hidden]
    junit = (solutions_graded.results_dir / "junit.xml").read_text()
    assert junit.count("<testcase") == len(graded_specs()) and 'failures="0"' in junit
    table = solutions_graded.stdout
    assert f"TOTAL  {total:g} / {total:g}" in table and "hidden" in table.lower()
    # The learner sees the grade, not pytest's own output (that goes to the log).
    assert "passed" not in table.splitlines()[-1] and "warnings" not in table
    log = (solutions_graded.results_dir / "grader.log").read_text()
    # pytest's own output is clean too: no warning about the grader's plugin (or anything else).
    assert "warnings summary" not in log, log
    assert solutions_graded.summary["machine_problem"] == "" and "no verdict" not in table  # a verdict


def test_regrading_gives_the_same_score(solutions_graded, reference_home, tmp_path) -> None:
    again = grade(ROOT / "solutions", reference_home, tmp_path, "--build")
    assert again.summary["score"] == solutions_graded.summary["score"]
    scores = [c["score"] for c in solutions_graded.summary["checks"]]
    assert [c["score"] for c in again.summary["checks"]] == scores


def test_a_grading_starts_only_the_helpers_its_checks_need(solutions_graded, reference_home,
                                                           tmp_path) -> None:
    helpers = solutions_graded.summary["helpers"]
    # The grader locks the reference's packages itself (asking what the build would): the build does not.
    assert {"server", INSPECTOR, "bento build (its packages' lock: the grader's)"} <= set(helpers), helpers
    assert [h for h in helpers if h.startswith("model reader")], helpers  # in the inspector once cached
    solutions = ROOT / "solutions"
    train = grade(solutions, reference_home, tmp_path / "train", "--exercise", "train", "--build")
    assert set(train.summary["helpers"]) - {"held-out split"} == {MODEL_READER}, train.summary["helpers"]
    static = grade(solutions, reference_home, tmp_path / "static", "--group", "service.py", "--build")
    assert static.summary["helpers"] == [INSPECTOR], static.summary["helpers"]
    assert static.summary["score"] == static.summary["max_score"] == points(graded_specs(), "service.py")


def test_shipped_exercises_grade_low(reference_home, tmp_path) -> None:
    graded = grade(ROOT / "exercises", reference_home, tmp_path)
    assert graded.summary["score"] < 50, graded.stdout
    assert len(graded.summary["checks"]) == len(graded_specs())
    assert not any("could not finish" in c["output"] for c in graded.summary["checks"])
    assert graded.checks["live_ready"]["output"].count("TODO(4)") >= 1  # the crash's own message


def test_a_bento_built_from_other_code_earns_nothing(reference_home, tmp_path) -> None:
    """Day one: the store holds the reference's bento (as after a demo); the untouched exercises'
    service.py was never built, so the built bento group earns no point."""
    home = tmp_path / "home"
    shutil.copytree(reference_home / "models", home / "models")
    subprocess.run([sys.executable, "-m", "bentoml", "build", str(ROOT / "solutions")],
                   cwd=ROOT / "solutions", check=True,
                   env={**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"},
                   capture_output=True, timeout=300)
    graded = grade(ROOT / "exercises", home, tmp_path / "results")
    assert graded.summary["groups"]["built bento"]["score"] == 0, graded.explain({"bento_built"})
    assert "built from this service.py" in graded.checks["bento_built"]["output"]
    for check_id in ("bento_packs_model", "bento_apis"):
        assert graded.checks[check_id]["output"].startswith("not checked"), graded.explain({check_id})


def test_a_service_py_over_a_mebibyte_is_its_own_bento(reference_home, tmp_path) -> None:
    """The packed copy was read up to 1 MiB only: a longer service.py, packed unchanged, was "not built
    from this service.py", and the built bento group lost every point."""
    submission = copy_solutions(tmp_path / "submission")
    service = submission / "service.py"
    service.write_text(service.read_text() + "# a learner's long notes\n" * 50_000)
    assert service.stat().st_size > 1 << 20
    graded = grade(submission, reference_home, tmp_path / "results", "--build", "--group", "built bento")
    assert graded.summary["score"] == graded.summary["max_score"] == points(graded_specs(), "built bento"), \
        graded.explain(graded.failed)


def test_a_service_package_beside_service_py_is_left_out_of_what_runs(reference_home, tmp_path) -> None:
    """``import service`` loads a package ``service/`` before service.py: a classmate's code there was
    imported, served and built while the grader read, compared and stored a decoy service.py (red-team
    round 43). The copies leave the package out: the service.py graded is the one that runs."""
    submission = copy_solutions(tmp_path / "submission")
    service = submission / "service.py"
    (submission / "service").mkdir()
    (submission / "service" / "__init__.py").write_text(service.read_text())  # it passes every check
    service.write_text(service.read_text().replace("    if probability > 0.5:", "    if probability > 0.6:"))
    graded = grade(submission, reference_home, tmp_path / "results", "--group", "live endpoint")
    assert graded.failed == {"live_status_thresholds"}, graded.explain(graded.failed)
    assert "Left out of the copy that is imported, served and built: service (" in graded.stdout


@pytest.mark.parametrize("name", CASES)
def test_broken_submission(name: str, reference_home, tmp_path) -> None:
    submission, case = make_broken(name, tmp_path / "submission")
    home = case_home(case, submission, tmp_path / "home", reference_home)
    graded = grade(submission, home, tmp_path / "results", "--build", *case.get("args", []))
    expected = case["fails"]
    unexpected = graded.failed ^ set(expected)
    assert not unexpected, f"{name}: {case['what']}\n{graded.explain(unexpected)}"
    for check_id, hint in expected.items():
        output = graded.checks[check_id]["output"]
        assert hint in output, f"{name}/{check_id}: hint should name {hint!r}, got:\n{output}"
        assert "could not finish" not in output
    if case.get("timed_out"):  # a class run grades the learner again, alone (a classmate may be to blame)
        assert graded.summary["timed_out"] is True, graded.summary


#: service.py answering with the XGBClassifier's predict_proba (up to its best iteration) instead of the
#: Booster's predict (every tree), as the reference does.
PREDICT_PROBA = [
    ("        self.dv = self.model_ref.custom_objects[\"dictVectorizer\"]\n",
     "        self.dv = self.model_ref.custom_objects[\"dictVectorizer\"]\n        self.model = model\n"),
    ("        matrix = xgb.DMatrix(features, feature_names=self.booster.feature_names)\n"
     "        return [float(p) for p in np.asarray(self.booster.predict(matrix)).reshape(-1)]\n",
     "        return [float(p) for p in self.model.predict_proba(features)[:, 1]]\n"),
]


@pytest.mark.parametrize("way", ["booster_predict", "predict_proba"])
def test_an_early_stopped_classifier_gets_the_live_marks_answered_either_way(way, tmp_path) -> None:
    """Both answers are the model's: the grader held every service to Booster.predict's (every tree), and
    an honest service using predict_proba lost the answer checks (red-team round 28: 23.6 / 37)."""
    home = tmp_path / "home"
    subprocess.run([sys.executable, str(Path(__file__).parent / "honest" / "early_stopped.py")], check=True,
                   env={**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}, timeout=300)
    submission = copy_solutions(tmp_path / "submission")
    service = submission / "service.py"
    for old, new in PREDICT_PROBA if way == "predict_proba" else []:
        assert old in service.read_text(), old
        service.write_text(service.read_text().replace(old, new))
    graded = grade(submission, home, tmp_path / "results", "--group", "live endpoint")
    assert graded.summary["score"] == points(graded_specs(), "live endpoint"), graded.explain(graded.failed)


def test_an_unreachable_package_index_is_named_as_the_machines_problem(reference_home, offline,
                                                                       tmp_path) -> None:
    """Offline, `bentoml build` cannot lock any bentofile's packages: the hint names the machine's
    network, not the bentofile's names and pins (the reference's, which build where the index answers).
    The grader's builds leave that lock to the grader's own, which a pass of the last hour would
    decide: a kit cache of its own."""
    graded = grade(ROOT / "solutions", reference_home, tmp_path / "results", "--build", "--exercise",
                   "bentofile", env={**offline, "BENTOKIT_CACHE": str(tmp_path / "cache")})
    output = graded.checks["bento_built"]["output"]
    assert "Failed to lock PyPI packages" in output
    assert "cannot reach the Python package index" in output and "names and pins" not in output, output
    assert graded.checks["bentofile_packages"]["passed"]
    # ... and the whole score is marked as no verdict on the work, for the platforms (test_platforms)
    assert graded.summary["machine_problem"].startswith("this machine cannot reach the Python package index")
    assert "This score is no verdict on the work: this machine cannot reach" in graded.stdout


def test_empty_submission_fails_clearly(reference_home, tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    graded = grade(empty, reference_home, tmp_path / "results", "--build")
    groups = graded.summary["groups"]
    for group in ("service.py", "bentofile.yaml", "built bento", "live endpoint"):
        assert groups[group]["score"] == 0
    outputs = [c["output"] for c in graded.summary["checks"]]
    assert not any("could not finish" in o for o in outputs)
    assert "service.py not found" in graded.checks["service_file"]["output"]
    assert "bentofile.yaml not found" in graded.checks["bentofile_valid"]["output"]


def test_missing_store_fails_the_model_checks(tmp_path) -> None:
    graded = grade(ROOT / "solutions", tmp_path / "empty-home", tmp_path / "results")
    assert "no model named credit_risk_model" in graded.checks["model_saved"]["output"]
    assert graded.summary["groups"]["model store"]["score"] == 0
    assert not graded.checks["live_ready"]["passed"]


def test_url_option_grades_a_running_service(reference_server, reference_home, tmp_path) -> None:
    graded = grade(ROOT / "solutions", reference_home, tmp_path / "results", "--url", reference_server.url)
    live = [c for c in graded.summary["checks"] if c["group"] == "live endpoint"]
    assert all(c["passed"] for c in live), graded.stdout


def test_url_option_with_nothing_listening(reference_home, tmp_path) -> None:
    from bentokit.server import free_port

    url = f"http://127.0.0.1:{free_port()}"
    graded = grade(ROOT / "solutions", reference_home, tmp_path / "results", "--url", url,
                   "--ready-timeout", "3")
    assert "Is the service (or container) running" in graded.checks["live_ready"]["output"]


def test_pytest_grade_from_the_repo_root(reference_home, tmp_path) -> None:
    """`pytest --grade` works too, through the plugin's entry point (here only the service.py group)."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "--grade", "--group", "service.py", "--submission",
                           "solutions", "--results", str(tmp_path), "-q", "-p", "no:cacheprovider"],
                          cwd=ROOT, env={**os.environ, "BENTOML_HOME": str(reference_home)},
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    total = points(graded_specs(), "service.py")
    assert f"service.py  ({total:g} / {total:g})" in proc.stdout
    assert Path(tmp_path / "results.json").is_file()


def test_interrupted_grading_leaves_no_processes(reference_home, tmp_path) -> None:
    """SIGTERM to the grader while the learner's server runs: the server's groups go with it."""
    import json
    import signal
    import time
    import uuid

    from tests.grader.conftest import MARKER, leftovers

    marker = uuid.uuid4().hex
    env = {**os.environ, "BENTOML_HOME": str(reference_home), MARKER: marker}
    grader = subprocess.Popen([sys.executable, "-m", "grader", "--submission", "solutions",
                               "--results", str(tmp_path)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sandbox_file = tmp_path / "sandbox.json"  # who the learner's code runs as, written at the start

    def serving() -> bool:
        sandbox = json.loads(sandbox_file.read_text()) if sandbox_file.is_file() else None
        return any(f"{lazy_bentoml.MODULE} serve" in p for p in leftovers(marker, sandbox))

    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not serving():
            time.sleep(0.2)  # a poll interval while the grader starts the server
        assert serving(), "the grader never started a server"
        grader.send_signal(signal.SIGTERM)
        grader.wait(timeout=60)
    finally:
        if grader.poll() is None:
            grader.kill()
    assert leftovers(marker, json.loads(sandbox_file.read_text())) == []


#: Saves a model whose DictVectorizer is replaced by a pickle that would end the process reading it.
EXITING_MODEL = '''
import os
import bentoml
import numpy as np
import xgboost as xgb


class EndsTheReader:
    def __reduce__(self):
        return (os._exit, (3,))


booster = xgb.train({}, xgb.DMatrix(np.random.rand(20, 3), label=np.arange(20) % 2), num_boost_round=1)
bentoml.xgboost.save_model("credit_risk_model", booster, custom_objects={"dictVectorizer": EndsTheReader()})
'''


def exiting_model_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    script = tmp_path / "save.py"
    script.write_text(EXITING_MODEL)
    subprocess.run([sys.executable, str(script)], check=True, capture_output=True,
                   env={**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"})
    return home


def test_a_pickle_that_would_end_its_reader_is_refused(tmp_path, kept_holdout) -> None:
    """A pickle naming a function (os._exit here) is not run, so the model checks fail with why and the
    inspector (which unconfined reads the model first) goes on to import service.py."""
    graded = grade(ROOT / "solutions", exiting_model_home(tmp_path), tmp_path / "results", "--checks",
                   "service_imports,model_custom_object")
    assert graded.checks["service_imports"]["passed"], graded.explain({"service_imports"})
    output = graded.checks["model_custom_object"]["output"]
    assert not graded.checks["model_custom_object"]["passed"] and "_exit, which is code" in output, output
    assert graded.summary["helpers"].count(INSPECTOR) == 1, graded.summary["helpers"]


def test_a_reader_ended_from_outside_still_leaves_service_py_inspected(tmp_path, kept_holdout) -> None:
    """The process reading the model (the inspector, which reads it first: one process, fewer imports)
    ends before it answers (killed here as the kernel's OOM killer would): the model checks fail, and
    service.py is still inspected, by a new inspector."""
    results = tmp_path / "results"
    reads_the_model = "grader.children.service"
    with ThreadPoolExecutor(1) as pool:
        grading = pool.submit(grade, ROOT / "solutions", exiting_model_home(tmp_path), results, "--checks",
                              "service_imports,model_custom_object")
        deadline = time.monotonic() + 60
        while (reader := first_child(results, reads_the_model)) is None:
            assert time.monotonic() < deadline and not grading.done(), f"no {reads_the_model} started"
            time.sleep(0.01)  # a poll interval: the reader needs far longer to read the model
        reader.kill()
        graded = grading.result()
    assert graded.checks["service_imports"]["passed"], graded.explain({"service_imports"})
    assert not graded.checks["model_custom_object"]["passed"]
    assert "reading the model store failed" in graded.checks["model_custom_object"]["output"]
    assert graded.summary["helpers"].count(INSPECTOR) == 2, graded.summary["helpers"]


def grading_children(results: Path) -> list[psutil.Process]:
    """Every process the grading writing into ``results`` has started so far."""
    for proc in psutil.process_iter(["cmdline"]):
        if str(results) in (proc.info["cmdline"] or []):
            with contextlib.suppress(psutil.Error):
                return proc.children(recursive=True)
    return []


def first_child(results: Path, module: str = "grader.children.service") -> psutil.Process | None:
    """The helper running ``module`` (the service inspector) of the grading writing into ``results``,
    once it has started."""
    for child in grading_children(results):
        with contextlib.suppress(psutil.Error):
            if module in child.cmdline():
                return child
    return None


def test_a_port_taken_before_the_server_binds_it_costs_the_learner_nothing(reference_home, tmp_path) -> None:
    """In a class run another learner's code may bind a grading's port before its server does (the port
    is not on the server's command line, but a program can still pick the same one): the grader starts
    the server again on another port, and the live checks count."""
    results = tmp_path / "results"
    taken: list[socket.socket] = []
    seen: list[list[str]] = []

    def take_the_port() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not taken:
            for child in grading_children(results):
                with contextlib.suppress(psutil.Error):
                    if port := child.environ().get("BENTOML_PORT"):
                        seen.append(child.cmdline())  # what every user can read of it
                        sock = socket.socket()
                        sock.bind((server.HOST, int(port)))
                        sock.listen(1)
                        taken.append(sock)
                        return
            time.sleep(0.01)  # a poll interval: the server's supervisor imports service.py before it binds

    with ThreadPoolExecutor(1) as pool:
        squatter = pool.submit(take_the_port)
        graded = grade(ROOT / "solutions", reference_home, results, "--checks", "live_ready,live_sample")
        squatter.result()
    try:
        assert taken, "the server's port was never seen"
        assert not any("--port" in cmdline or port in cmdline for cmdline in seen
                       for port in [str(taken[0].getsockname()[1])]), seen
        assert graded.checks["live_ready"]["passed"], graded.explain({"live_ready"})
        assert graded.checks["live_sample"]["passed"], graded.explain({"live_sample"})
        assert graded.summary["helpers"].count("server") == 2, graded.summary["helpers"]
    finally:
        for sock in taken:
            sock.close()
