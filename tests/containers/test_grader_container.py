"""``python -m grader --container``: the learner's image built, run and graded, and always removed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from bentokit import builder, containers, procs
from grader.checks.container import BUILD_HINT
from grader.facts.container import IMAGE_REPOSITORY
from tests.grader.conftest import (
    MARKER,
    ROOT,
    Graded,
    case_home,
    copy_solutions,
    grade,
    graded_specs,
    leftovers,
    make_broken,
    points,
)

pytestmark = [pytest.mark.container, pytest.mark.server]
GROUP = "container image"


def grader_leftovers(engines: list[containers.Engine]) -> tuple[list[str], list[str]]:
    """Containers and images of the grader's repository that still exist (root's, and the builder's)."""
    def lines(*args: str) -> list[str]:
        found = []
        for each in engines:
            out = subprocess.run(each.command(*args), capture_output=True, text=True, timeout=60).stdout
            found += [line for line in out.splitlines() if IMAGE_REPOSITORY in line]
        return found
    return (lines("ps", "-a", "--format", "{{.Names}} {{.Image}}"),
            lines("images", "--format", "{{.Repository}}:{{.Tag}}"))


@pytest.fixture
def left_behind(engine, rootless):
    """What this test's gradings left of the grader's repository: the engine's storage is shared by
    the whole machine, so what was there before the test (another run's) is not this test's."""
    engines = [engine, rootless.engine(engine)] if rootless else [engine]
    before = grader_leftovers(engines)

    def new() -> tuple[list[str], list[str]]:
        now = grader_leftovers(engines)
        return tuple([line for line in now[i] if line not in before[i]] for i in range(2))
    return new


def live_results(graded: Graded) -> dict[str, tuple[bool, float]]:
    return {i: (c["passed"], c["score"]) for i, c in graded.checks.items() if c["group"] == "live endpoint"}


def test_solutions_in_their_container_get_full_marks(engine, reference_home, solutions_graded, tmp_path,
                                                    left_behind) -> None:
    served = solutions_graded
    assert GROUP not in served.summary["groups"] and len(served.summary["checks"]) == len(graded_specs())
    contained = grade(ROOT / "solutions", reference_home, tmp_path / "container", "--container")
    group = contained.summary["groups"][GROUP]
    with_container = graded_specs(container=True)
    assert group["score"] == group["max_score"] == points(with_container, GROUP), \
        contained.explain(contained.failed)
    assert contained.summary["score"] == contained.summary["max_score"] == points(with_container)
    assert live_results(contained) == live_results(served)
    # The live checks ran against the container, not a `bentoml serve` beside it.
    output = contained.checks["container_image"]["output"]
    assert engine.name in output and contained.checks["live_ready"]["output"].split(" after")[0] in output
    assert left_behind() == ([], [])


def test_a_service_computing_its_model_by_other_means_fails_in_its_container_too(
        engine, reference_home, tmp_path, left_behind) -> None:
    """The image is built with the grader's moved copy of the model, as `bentoml serve` serves it: the
    formula service of the broken case formula_model (100/100 with --container before) fails the answers."""
    submission, case = make_broken("formula_model", tmp_path / "submission")
    bentofile = submission / "bentofile.yaml"  # the image needs the formula too
    listed = '  - "service.py"\n'
    assert listed in bentofile.read_text()
    bentofile.write_text(bentofile.read_text().replace(listed, listed + '  - "rule.py"\n'))
    home = case_home(case, submission, tmp_path / "home", reference_home)
    graded = grade(submission, home, tmp_path / "results", "--container", "--group", f"live endpoint,{GROUP}")
    image = graded.checks["container_image"]["output"]  # built and ready: only the answer is wrong
    assert image.startswith("- answers the sample applicant like your model") and "\n- " not in image, image
    fails = {**case["fails"], "container_image": "is what it gives as saved"}
    assert graded.failed == set(fails), graded.explain(graded.failed)
    for check_id, hint in fails.items():
        assert hint in graded.checks[check_id]["output"], graded.explain({check_id})
    assert "with its margin scaled by" in graded.checks["live_sample"]["output"]
    assert left_behind() == ([], [])


def test_as_root_podman_builds_and_runs_the_image_as_a_user_of_its_own(engine, rootless, reference_home,
                                                                       tmp_path, left_behind) -> None:
    """Root's podman never builds learner code: a command that got past the Dockerfile check (or a
    buildah bug of tomorrow) would act as root on the host. The image is built and run by the builder
    user, rootless: it is in that user's store, not root's, and its root is that user on the host."""
    if rootless is None:
        pytest.skip("the grader builds rootless as root with podman only")
    builds = rootless.engine(engine)
    # The builder's room of a grading killed mid-build (its bento and models, copied for the image):
    # this grading's build removes it, as no grader holds its lock any more.
    abandoned = subprocess.run(
        [sys.executable, "-c", "import os\nfrom bentokit import procs\n"
         f"box = procs.Sandbox.in_shared_room({rootless.name!r}, {rootless.uid}, {rootless.gid})\n"
         "(box.folder / 'containerize-home').mkdir()\nprint(box.room)\nos._exit(0)\n"],
        capture_output=True, text=True, timeout=60, check=True, cwd=ROOT).stdout.strip()
    assert Path(abandoned, "home", "containerize-home").is_dir()
    graded = grade(ROOT / "solutions", reference_home, tmp_path / "results", "--container", "--keep-image")
    assert not Path(abandoned).exists()
    check = graded.checks["container_image"]
    assert check["passed"] and f"rootless as the user {builder.NAME}" in check["output"], check["output"]
    built = [name for name in containers.image_names(builds) if name.startswith(IMAGE_REPOSITORY)]
    try:
        assert built and not [n for n in containers.image_names(engine) if n.startswith(IMAGE_REPOSITORY)]
        uid_map = builds.command("run", "--rm", "--entrypoint", "cat", built[0], "/proc/self/uid_map")
        done = subprocess.run(uid_map, capture_output=True, text=True, timeout=120)
        inside, host, _ = done.stdout.split("\n")[0].split()
        assert (inside, host) == ("0", str(rootless.uid)), done
    finally:
        for name in built:
            containers.remove_image(name, builds)
    assert left_behind() == ([], [])


def test_an_image_that_crashes_on_start_fails_with_its_hint(engine, reference_home, tmp_path,
                                                          left_behind) -> None:
    submission, _ = make_broken("crash_on_start", tmp_path / "submission")
    graded = grade(submission, reference_home, tmp_path / "results", "--container", "--ready-timeout", "90")
    check = graded.checks["container_image"]
    assert not check["passed"] and 0 < check["score"] < check["max_score"]  # the image itself builds
    assert "container runs and becomes ready" in check["output"]
    assert "startup failed" in check["output"] and "bentoml.xgboost.load_model" in check["output"]
    assert "live_ready" in graded.failed
    assert graded.seconds < 240, "a crash must be detected, not waited out"
    assert graded.summary["timed_out"] is False  # the learner's own: not graded again in a class run
    assert graded.summary["short_of_processes"] is False
    assert left_behind() == ([], [])


def test_a_container_that_cannot_start_a_process_is_graded_again_alone_in_a_class_run(
        engine, reference_home, tmp_path, left_behind) -> None:
    """Every learner's container runs as the same user of the builder's namespace and shares its
    process limit: a classmate's container that held every slot made an honest learner's container
    fail (red-team round 37). A process that cannot start for want of slots sets the summary's
    ``short_of_processes`` (a class run grades that learner again, alone) and the check says why. Here
    the service itself, in its container only, lowers its limit and forks: a real EAGAIN."""
    submission = copy_solutions(tmp_path / "submission")
    service = submission / "service.py"
    service.write_text(service.read_text() + (
        "\nimport os as _os\nimport resource as _resource\n\n"
        "if _os.environ.get('BENTOML_CONTAINERIZED'):  # in the image only: a fork with no slot left\n"
        "    _resource.setrlimit(_resource.RLIMIT_NPROC, (1, 1))\n"
        "    _os.fork()\n"))
    graded = grade(submission, reference_home, tmp_path / "results", "--container", "--ready-timeout", "90",
                   "--group", GROUP)
    output = graded.checks["container_image"]["output"]
    assert "Resource temporarily unavailable" in output and "no process slots left" in output, output
    assert graded.summary["short_of_processes"] is True
    assert graded.summary["timed_out"] is False
    assert left_behind() == ([], [])


def test_a_container_not_ready_in_time_is_graded_again_alone_in_a_class_run(engine, reference_home, tmp_path,
                                                                           left_behind) -> None:
    """As for a served service: a container not ready within its time limit sets the summary's
    ``timed_out``, so a class run grades that learner again, alone (a classmate's code may have kept the
    cores busy); a container that exits (the crash above) is the learner's own."""
    submission = copy_solutions(tmp_path / "submission")
    service = submission / "service.py"
    old = "    def _probabilities("
    assert old in service.read_text()
    service.write_text(service.read_text().replace(
        old, "    def __is_ready__(self) -> bool:\n        return False  # never ready\n\n" + old, 1))
    graded = grade(submission, reference_home, tmp_path / "results", "--container", "--ready-timeout", "15",
                   "--group", GROUP)
    output = graded.checks["container_image"]["output"]
    assert "was not ready after 15 s" in output, output
    assert graded.summary["timed_out"] is True
    assert left_behind() == ([], [])


def test_without_an_engine_the_check_says_what_to_install(reference_home, tmp_path, monkeypatch) -> None:
    # No docker or podman on this PATH: the live checks fall back to `bentoml serve`.
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    graded = grade(ROOT / "solutions", reference_home, tmp_path / "results", "--container")
    check = graded.checks["container_image"]
    assert not check["passed"] and check["score"] == 0
    assert "No container engine answers" in check["output"] and "install" in check["output"].lower()
    live = points(graded_specs(), "live endpoint")
    assert graded.summary["groups"]["live endpoint"]["score"] == live, graded.explain(graded.failed)


def test_an_interrupted_grading_leaves_nothing(engine, reference_home, tmp_path, left_behind) -> None:
    """SIGTERM (a platform's time limit) while the container serves the live checks.

    Not tested while the image builds, though the grader kills the build then: podman 4.3 leaves the
    build's working containers in its storage (``podman ps -a --external``) when a build is killed.
    """
    marker = uuid.uuid4().hex
    env = {**os.environ, "BENTOML_HOME": str(reference_home), MARKER: marker}
    # The solutions with a second more per classify: the live checks last long enough to be seen
    # between two polls of the engine (the solutions' own took a few seconds, and a poll under load
    # once missed them whole).
    slow = copy_solutions(tmp_path / "slow")
    docstring = '''        """Classify one credit application."""\n'''
    source = (slow / "service.py").read_text()
    assert docstring in source
    (slow / "service.py").write_text(source.replace(docstring, docstring + "        time.sleep(1)\n")
                                     .replace("import bentoml\n", "import time\n\nimport bentoml\n", 1))
    grader = procs.spawn([sys.executable, "-m", "grader", "--submission", str(slow), "--container",
                          "--results", str(tmp_path / "results")], cwd=ROOT, env=env)

    def reached() -> bool:
        return bool(left_behind()[0])

    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not reached():
            time.sleep(0.5)  # a poll interval while the grader gets there
        assert reached(), "the grader never started the container"
        grader.send_signal(signal.SIGTERM)
        grader.wait(timeout=90)
    finally:
        if grader.poll() is None:
            procs.kill_tree(grader, grace=0)
    assert leftovers(marker) == []
    assert left_behind() == ([], [])


#: Run at import of service.py. On the grading machine (as learner code) it starts a daemon that
#: links a file of root's into every bento the build makes in the sandbox's store; in the container
#: it shows that file, if it is there, as its start-up error (which the report quotes).
LINK_PLANTER = '''
import os as _os
import subprocess as _subprocess
import sys as _sys

_leak = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "leak.txt")
if _os.path.exists(_leak):
    raise RuntimeError("leaked: " + open(_leak).read())
if _os.environ.get("BENTOML_HOME") and not _os.environ.get("PLANTING"):
    _os.environ["PLANTING"] = "1"
    _subprocess.Popen([_sys.executable, "-c", PLANT], start_new_session=True)
'''

PLANT = '''
import glob, os, time
end = time.time() + 240
while time.time() < end:
    for src in glob.glob(os.path.join(os.environ["BENTOML_HOME"], "bentos", "*", "*", "src")):
        try:
            os.symlink(SECRET, os.path.join(src, "leak.txt"))
        except OSError:
            pass
    time.sleep(0.05)
'''


def test_a_link_learner_code_plants_in_the_bento_never_brings_roots_file_into_the_image(
        engine, reference_home, tmp_path, left_behind) -> None:
    """`bentoml containerize` runs as the grader's user (root) and follows links into its build context."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET: hunter2\n")
    secret.chmod(0o600)
    submission = copy_solutions(tmp_path / "submission")
    service = submission / "service.py"
    plant = PLANT.replace("SECRET", repr(str(secret)))
    service.write_text(service.read_text().replace(
        "from __future__ import annotations\n",
        f"from __future__ import annotations\nPLANT = {plant!r}\n{LINK_PLANTER}", 1))
    graded = grade(submission, reference_home, tmp_path / "results", "--container")
    assert "hunter2" not in graded.stdout + json.dumps(graded.summary)
    group = graded.summary["groups"][GROUP]
    assert group["score"] == group["max_score"], graded.explain(graded.failed)
    assert left_behind() == ([], [])


@pytest.mark.parametrize("attack", ["a stage and a bind mount", "BentoML's own cache mount"])
def test_an_image_command_that_writes_dockerfile_instructions_is_not_built(attack, engine, reference_home,
                                                                           tmp_path, left_behind) -> None:
    """BentoML writes an image command into the Dockerfile as it is: with newlines, a learner's
    ``Image(...).run()`` added a stage holding a link to / and a ``RUN --mount=type=bind`` of that link,
    which Debian 12's buildah resolved on the host (CVE-2024-1753): the build, as root, wrote to the
    host's / and scored full marks. With no newline, a command opening with BentoML's own cache mounts
    did the same through buildah's cache folder on the host. The grader checks the Dockerfile first and
    builds nothing."""
    canary = tmp_path / "written-by-the-build"
    payload = {"a stage and a bind mount": (
        "true\nFROM base-container AS hostroot\nRUN ln -s / /rootdir\nFROM base-container\n"
        f"RUN --mount=type=bind,rw,source=/rootdir,from=hostroot,target=/rootdir touch /rootdir{canary}"),
               "BentoML's own cache mount": (
        "--mount=type=cache,sharing=locked,target=/root/.cache/ ls -la /root/.cache")}[attack]
    submission = copy_solutions(tmp_path / "submission")
    (submission / "bentofile.yaml").unlink()  # the runtime from the image SDK, as notebook 4 shows it
    source = (submission / "service.py").read_text()
    declared = '@bentoml.service(resources={"cpu": "1"}'
    assert declared in source
    image = (f'IMAGE = bentoml.images.Image(python_version="3.11").python_packages(\n'
             f'    "xgboost", "scikit-learn", "pydantic").run({payload!r})\n\n\n')
    (submission / "service.py").write_text(source.replace(declared, image + declared.replace(
        "(", "(image=IMAGE, ", 1), 1))
    graded = grade(submission, reference_home, tmp_path / "results", "--container")
    check = graded.checks["container_image"]
    assert not check["passed"] and "builds no image from this bento" in check["output"], check["output"]
    assert "not an option BentoML writes" in check["output"]
    assert BUILD_HINT not in check["output"]  # the refusal says what to keep to; nothing else
    assert not canary.exists()
    assert left_behind() == ([], [])


def test_a_failed_build_names_its_log_where_the_learner_finds_it(engine, reference_home, tmp_path,
                                                                 left_behind) -> None:
    """A step of the learner's image that fails: the hint is the build's, and the log the error names is
    in the results folder (the grading's own folder is gone by the time anyone reads the error)."""
    submission = copy_solutions(tmp_path / "submission")
    (submission / "bentofile.yaml").unlink()
    source = (submission / "service.py").read_text()
    declared = '@bentoml.service(resources={"cpu": "1"}'
    assert declared in source
    image = ('IMAGE = bentoml.images.Image(python_version="3.11").python_packages(\n'
             '    "xgboost", "scikit-learn", "pydantic").run("echo the step that fails && exit 3")\n\n\n')
    (submission / "service.py").write_text(source.replace(declared, image + declared.replace(
        "(", "(image=IMAGE, ", 1), 1))
    results = tmp_path / "results"
    graded = grade(submission, reference_home, results, "--container")
    output = graded.checks["container_image"]["output"]
    assert not graded.checks["container_image"]["passed"] and BUILD_HINT in output, output
    log = results.resolve() / "containerize.log"
    assert f"Log: {log}" in output and "the step that fails" in log.read_text(), output
    assert left_behind() == ([], [])
