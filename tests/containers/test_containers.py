"""The reference bento's image, built and run with the engine found (skipped without one)."""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest
import requests

from bentokit import containers, contract
from tests.containers.conftest import TEST_IMAGE

pytestmark = pytest.mark.container


def post(url: str, path: str, body: object) -> requests.Response:
    return requests.post(url + path, json=body, timeout=30)


def test_without_an_engine_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker, no podman on this PATH
    assert containers.detect() is None
    with pytest.raises(containers.ContainerError) as error:
        containers.require_engine()
    message = str(error.value)
    assert "No container engine answers" in message
    assert "podman" in message and "Docker" in message


def test_an_unknown_engine_name_is_refused(monkeypatch):
    monkeypatch.setenv(containers.ENGINE_ENV, "lxc")
    with pytest.raises(containers.ContainerError, match="unknown container engine 'lxc'"):
        containers.detect()


def test_the_engine_found_is_named(engine):
    assert engine.name in containers.ENGINES
    assert engine.version and engine.name in engine.describe()


def test_reference_image_is_lean_and_not_root(reference_image, engine):
    assert reference_image.size() <= 1_000_000_000, f"{reference_image.size() / 1e9:.2f} GB"
    assert containers.image_user(reference_image.tag, engine) not in ("", "root", "0")


def test_container_answers_like_bentoml_serve(reference_image, reference_server, engine):
    applicants = list(contract.GOLDEN_APPLICANTS.values())
    # No volume is mounted: the model the container answers with is the one inside the image.
    with containers.running(reference_image.tag, engine=engine) as container:
        for applicant in applicants:
            got = post(container.url, contract.CLASSIFY_PATH, contract.wrap(applicant))
            want = post(reference_server.url, contract.CLASSIFY_PATH, contract.wrap(applicant))
            assert got.status_code == 200
            assert got.json() == want.json()
        batch = contract.wrap_batch(applicants)
        assert (post(container.url, contract.CLASSIFY_BATCH_PATH, batch).json()
                == post(reference_server.url, contract.CLASSIFY_BATCH_PATH, batch).json())
        for name, body in contract.invalid_bodies().items():
            assert post(container.url, contract.CLASSIFY_PATH, body).status_code == 400, name
    assert not container.state(), "the container is still there"


def test_the_engine_picks_the_port_as_it_binds_it(reference_image, engine, monkeypatch):
    """No command line names the container's port (every local user reads them: code of a learner graded
    beside could bind a port named there before the engine does), and no pick precedes the bind."""
    commands: list[list[str]] = []
    run = subprocess.run

    def recorded(command, *args, **kwargs):
        commands.append([str(word) for word in command])
        return run(command, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", recorded)
    with containers.running(reference_image.tag, engine=engine) as container:
        assert requests.get(container.url + "/readyz", timeout=10).status_code == 200
    assert any("-p" in command for command in commands)
    assert not [command for command in commands if str(container.port) in " ".join(command)], commands


def test_a_container_goes_with_the_volumes_its_image_asked_for(reference_image, engine, tmp_path):
    """An image's ``VOLUME`` makes anonymous volumes at every run; removed without them, they stayed in
    the store (disk, and one of podman's locks each: enough, and no container of anyone's starts)."""
    def volumes() -> set[str]:
        out = subprocess.run(engine.command("volume", "ls", "--quiet"), capture_output=True, text=True,
                             timeout=60).stdout
        return set(out.split())

    (tmp_path / "Dockerfile").write_text(f"FROM {reference_image.tag}\nVOLUME /leak /leak/v0\n")
    tag = f"localhost/bentokit-volumes:{uuid.uuid4().hex[:8]}"
    subprocess.run(engine.command("build", "-q", "-t", tag, str(tmp_path)), check=True, capture_output=True,
                   timeout=300)
    before = volumes()
    try:
        container = containers.run(tag, engine)
        made = volumes() - before
        container.stop()
        assert made, "the image's volumes were not made: nothing tested"
        assert not volumes() & made
    finally:
        containers.remove_image(tag, engine)


def test_container_is_removed_when_the_block_fails(reference_image, engine):
    with pytest.raises(RuntimeError), containers.running(reference_image.tag, engine=engine) as container:
        raise RuntimeError("a failing check")
    assert not container.state()


def test_a_crashing_container_fails_fast_with_its_log(reference_image, engine):
    container = containers.run(reference_image.tag, engine, env={"PORT": "not-a-port"})
    started = time.monotonic()
    try:
        with pytest.raises(containers.ContainerError, match="exited with code") as error:
            container.wait_ready(timeout=120)
        assert time.monotonic() - started < 60
        assert "not-a-port" in str(error.value)  # the container's own last lines
    finally:
        container.stop()
    assert not container.state()


def test_a_missing_image_is_reported_and_leaves_nothing(engine):
    with pytest.raises(containers.ContainerError, match="could not start") as error:
        containers.run("localhost/bentokit-no-such-image:none", engine, name="bentokit-test-missing")
    assert "bentokit-no-such-image" in str(error.value)
    check = containers.RunningContainer("bentokit-test-missing", "", engine, "http://127.0.0.1:1")
    assert not check.state()


def test_grader_entry_point_serves_a_bento_and_stops_it(reference_bento, reference_image, engine):
    with containers.serve_in_container(str(reference_bento.tag), engine, image_tag=TEST_IMAGE) as live:
        answer = post(live.url, contract.CLASSIFY_PATH, contract.wrap(contract.SAMPLE_APPLICANT))
        assert answer.status_code == 200 and answer.json()["status"] in contract.STATUSES
        assert live.ready_seconds > 0
        assert live.image.own_log and live.image.log_path.exists()  # a temporary file: no log_dir given
    assert not live.container.state()
    assert not live.image.log_path.exists()  # gone with the container, not left in the temp folder


def test_grader_entry_point_reports_a_broken_submission(engine, tmp_path):
    (tmp_path / "service.py").write_text("import bentoml\n")
    (tmp_path / "bentofile.yaml").write_text('service: "service:CreditRiskClassifier"\n')
    with pytest.raises(containers.ContainerError, match="bentoml build") as error:
        containers.serve_in_container(tmp_path, engine)
    assert "CreditRiskClassifier" in str(error.value)  # the build's own error, from its log


def test_removing_an_image_keeps_the_shared_layers_and_drops_the_bentos_own(reference_image, engine,
                                                                             tmp_path):
    """The grader removes each learner's image: the next learner's build reuses the layers the steps
    before the bento's copy made, and the layers made from the bento on (no build can reuse them) go
    too, or every grading would leave images behind that slow every later build and listing."""
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(engine.command(*args), capture_output=True, text=True, timeout=120)

    def parent(image: str) -> str:
        return run("image", "inspect", "--format", "{{.Parent}}", image).stdout.strip()

    if engine.name != "podman":
        pytest.skip("Docker's BuildKit keeps its build cache outside the image store")
    tag = f"localhost/bentokit-cache-test:{uuid.uuid4().hex[:10]}"
    # As BentoML's Dockerfile: shared steps, the copy of the bento (here, of this folder), its own steps.
    recipe = (f"FROM {reference_image.tag}\nLABEL shared={tag}\nCOPY --chown=bentoml:bentoml . ./\n"
              f"LABEL own={tag}\nLABEL last={tag}\n")
    (tmp_path / "Containerfile").write_text(recipe)
    built = run("build", "--layers", "-t", tag, str(tmp_path))
    assert built.returncode == 0, built.stderr[-600:]
    log = tmp_path / "containerize.log"
    # A line a learner's RUN step printed before the real copy (claiming the copy came first) is not
    # believed: the last copy step in the log is the real one.
    log.write_text("STEP 1/9: COPY . ./\n" + built.stdout + built.stderr)
    own = [parent(tag)]
    own.append(parent(own[0]))  # the layer of `LABEL own`, then the copy's
    shared = parent(own[1])
    assert all(own) and shared and run("image", "exists", shared).returncode == 0
    containers.remove_image(tag, engine, log)
    assert run("image", "exists", tag).returncode != 0, "the image is still there"
    for layer in own:
        assert run("image", "exists", layer).returncode != 0, "a layer of the bento's own is left behind"
    assert run("image", "exists", shared).returncode == 0, "the shared layer went too: no build cache"
    # Without its build's log, nothing under the image is removed (the cache is never guessed at).
    again = run("build", "--layers", "-t", tag, str(tmp_path))
    assert again.returncode == 0, again.stderr[-600:]
    kept = parent(tag)
    containers.remove_image(tag, engine)
    assert run("image", "exists", tag).returncode != 0 and run("image", "exists", kept).returncode == 0
    for layer in (kept, parent(kept), shared):
        run("rmi", "--no-prune", layer)


def test_the_image_benchmark_splits_a_start_into_phases_and_the_size_into_layers(reference_image, engine):
    from benchmarks import image

    name = f"bentokit-test-{uuid.uuid4().hex[:8]}"
    start = image.measure_start(reference_image.tag, engine, name=name)
    ends = [start[phase] for phase in ("engine", *image.PHASES, "ready_s")]  # every phase was found
    assert ends == sorted(ends) and ends[0] > 0, start
    assert not containers.RunningContainer(name, "", engine, "http://127.0.0.1:1").state()  # removed
    layers = image.layers(reference_image.tag, engine)
    assert sum(layer["bytes"] for layer in layers) == pytest.approx(reference_image.size(), rel=0.05)
    assert "Python packages" in {layer["step"] for layer in layers}
