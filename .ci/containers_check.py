"""CI check of the kit's images (run by .ci/containers.sh, which installs the engine first).

1. the reference bento's image: built cold, at most 1 GB, non-root, run on a loopback port, answers
   /classify exactly as ``bentoml serve`` of the same bento does (sample and golden applicants,
   and the batch), 400 for every invalid body, then removed; a second (cached) build, timed;
2. the instructor demo image: built, started with its compose file, JupyterLab answers with the
   notebooks open, the service beside it answers; all stopped and removed.
The figures are printed and written to ``reports/containers-ci.json``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests

from bentokit import bento, containers, contract, data, server, training

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "localhost/bentokit-credit-risk:ci"
DEMO_IMAGE = "localhost/bentokit-demo:latest"  # the name containers/demo/compose.yaml uses
MAX_IMAGE_BYTES = 1_000_000_000
figures: dict[str, object] = {}


def step(what: str) -> float:
    print(f"==> {what}", flush=True)
    return time.monotonic()


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"containers CI: FAILED: {message}")


def post(url: str, path: str, body: object) -> requests.Response:
    return requests.post(url + path, json=body, timeout=30)


def image_id(engine: containers.Engine, image: str) -> str:
    result = subprocess.run(engine.command("image", "inspect", "--format", "{{.Id}}", image),
                            capture_output=True, text=True, timeout=60)
    return result.stdout.strip() if result.returncode == 0 else ""


def reference_image(engine: containers.Engine) -> None:
    t = step("training the course model and building the reference bento")
    model = training.save(training.train(data.load()), owner="kit-ci", stage="ci")
    tag = str(bento.build(ROOT).tag)
    print(f"    model {model.tag}, bento {tag} ({time.monotonic() - t:.1f} s)")

    # On a fresh machine the first build is cold anyway; KIT_CI_COLD=1 forces it (--no-cache).
    cold = os.environ.get("KIT_CI_COLD", "0") == "1"
    step(f"building its image with {engine.name} ({'--no-cache' if cold else 'cold on a fresh machine'})")
    previous = image_id(engine, IMAGE)
    built = containers.build_image(tag, IMAGE, engine, extra_args=("--opt", "no-cache") if cold else (),
                                   log_path=ROOT / "reports" / "containerize.log")
    if previous and previous != image_id(engine, IMAGE):  # the last run's image, now untagged
        subprocess.run(engine.command("rmi", previous), capture_output=True, timeout=120)
    size, user = built.size(), containers.image_user(IMAGE, engine)
    print(f"    {IMAGE}: {size / 1e9:.2f} GB, user {user!r}, built in {built.seconds:.1f} s")
    figures.update(bento_image_bytes=size, bento_image_user=user,
                   first_build_seconds=round(built.seconds, 1), first_build_no_cache=cold)
    check(size <= MAX_IMAGE_BYTES, f"the image is {size / 1e9:.2f} GB, more than 1.0 GB")
    check(user not in ("", "root", "0"), "the image runs as root")

    step("running it on a loopback port beside `bentoml serve` of the same bento")
    applicants = list(contract.GOLDEN_APPLICANTS.values())
    with server.serving(tag, ROOT, timeout=120) as served:
        expected = [post(served.url, contract.CLASSIFY_PATH, contract.wrap(a)).json() for a in applicants]
        batch_body = contract.wrap_batch(applicants)
        expected_batch = post(served.url, contract.CLASSIFY_BATCH_PATH, batch_body).json()
    container = containers.run(IMAGE, engine)  # no volume: the model must be inside the image
    try:
        ready = container.wait_ready(120)
        figures["container_start_to_ready_seconds"] = round(ready, 2)
        print(f"    {container.name} ready at {container.url} in {ready:.1f} s")
        answers = [post(container.url, contract.CLASSIFY_PATH, contract.wrap(a)) for a in applicants]
        check(all(r.status_code == 200 for r in answers), "a golden applicant was not answered with 200")
        check([r.json() for r in answers] == expected, "/classify answers differ from `bentoml serve`'s")
        batch = post(container.url, contract.CLASSIFY_BATCH_PATH, batch_body)
        check(batch.json() == expected_batch, "/classify_batch answers differ from `bentoml serve`'s")
        for name, body in contract.invalid_bodies().items():
            status = post(container.url, contract.CLASSIFY_PATH, body).status_code
            check(status == 400, f"invalid body {name!r} got HTTP {status}, not 400")
        uid = subprocess.run(engine.command("exec", container.name, "id", "-u"), capture_output=True,
                             text=True, timeout=30).stdout.strip()
        check(uid not in ("", "0"), f"the service runs as uid {uid!r}")
        print(f"    {len(applicants)} applicants and the batch as `bentoml serve`; "
              f"{len(contract.invalid_bodies())} invalid bodies -> 400; uid {uid}")
    finally:
        container.stop()
    check(not container.state(), f"{container.name} is still there after stop()")

    step("building the image again (cached)")
    again = containers.build_image(tag, IMAGE, engine, log_path=ROOT / "reports" / "containerize-cached.log")
    figures["cached_build_seconds"] = round(again.seconds, 1)
    print(f"    cached build in {again.seconds:.1f} s")
    check(again.seconds < 60, f"the cached build took {again.seconds:.0f} s")


def compose_command(engine: containers.Engine) -> list[str]:
    if engine.name == "docker":
        return ["docker", "compose"]
    binary = shutil.which("podman-compose")
    check(binary is not None, "podman-compose is not installed (apt-get install podman-compose)")
    return [binary]


def demo_image(engine: containers.Engine) -> None:
    step(f"building the instructor demo image with {engine.name}")
    log = ROOT / "reports" / "demo-build.log"
    t = time.monotonic()
    with open(log, "wb") as out:
        code = subprocess.run(engine.command("build", "-f", "containers/demo/Containerfile", "-t",
                                             DEMO_IMAGE, "."), cwd=ROOT, stdout=out,
                              stderr=subprocess.STDOUT, timeout=1800).returncode
    seconds = time.monotonic() - t
    check(code == 0, f"the demo image build failed; see {log}:\n{log.read_text()[-3000:]}")
    size = containers.image_size(DEMO_IMAGE, engine)
    figures.update(demo_image_bytes=size, demo_build_seconds=round(seconds, 1))
    print(f"    {DEMO_IMAGE}: {size / 1e9:.2f} GB, built in {seconds:.1f} s")

    step("starting it with containers/demo/compose.yaml (JupyterLab + the service)")
    lab_port, service_port, token = server.free_port(), server.free_port(), secrets.token_hex(8)
    env = {**os.environ, "LAB_PORT": str(lab_port), "SERVICE_PORT": str(service_port),
           "JUPYTER_TOKEN": token}
    compose = [*compose_command(engine), "-p", "bentokit-demo-ci", "-f", "containers/demo/compose.yaml"]

    def logs() -> str:
        result = subprocess.run([*compose, "logs"], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=60)
        return "\n".join((result.stdout + result.stderr).splitlines()[-40:])

    t = time.monotonic()
    up = subprocess.run([*compose, "up", "-d"], cwd=ROOT, env=env, capture_output=True, text=True,
                        timeout=600)
    try:
        check(up.returncode == 0, f"compose up failed:\n{up.stdout[-2000:]}\n{up.stderr[-2000:]}")
        lab, service = f"http://{server.HOST}:{lab_port}", f"http://{server.HOST}:{service_port}"
        service_ready = server.wait_url_ready(service, 180, log_tail=logs, started=t, what="the demo service")
        lab_ready = server.wait_url_ready(lab, 180, log_tail=logs, started=t, what="JupyterLab",
                                          path=f"/api/status?token={token}")
        figures.update(demo_service_ready_seconds=round(service_ready, 1),
                       demo_lab_ready_seconds=round(lab_ready, 1))
        check(requests.get(f"{lab}/api/status", timeout=10).status_code == 403,
              "JupyterLab answers without its token")
        workspace = requests.get(f"{lab}/lab/api/workspaces/default?token={token}", timeout=10).json()
        notebooks = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "notebooks").glob("*.ipynb"))
        opened = workspace["data"]["layout-restorer:data"]["main"]["dock"]["widgets"]
        check(opened == [f"notebook:{n}" for n in notebooks], f"open notebooks {opened} != {notebooks}")
        answer = post(service, contract.CLASSIFY_PATH, contract.wrap(contract.SAMPLE_APPLICANT))
        check(answer.status_code == 200 and answer.json()["status"] in contract.STATUSES,
              f"the demo service answered {answer.status_code} {answer.text[:200]}")
        bad = post(service, contract.CLASSIFY_PATH, contract.invalid_bodies()["unknown_category"])
        check(bad.status_code == 400, f"the demo service answered {bad.status_code} to an invalid body")
        print(f"    JupyterLab ready in {lab_ready:.1f} s with {len(notebooks)} notebooks open; "
              f"service ready in {service_ready:.1f} s and answers {answer.json()['status']}")
    finally:
        subprocess.run([*compose, "down"], cwd=ROOT, env=env, capture_output=True, timeout=300)
    left = subprocess.run(engine.command("ps", "-a", "--filter", "name=bentokit-demo-ci", "-q"),
                          capture_output=True, text=True, timeout=30).stdout.split()
    check(not left, f"demo containers left after compose down: {left}")


def main() -> int:
    engine = containers.require_engine()
    print(f"==> container engine: {engine.describe()}")
    figures["engine"] = f"{engine.name} {engine.version}"
    (ROOT / "reports").mkdir(exist_ok=True)
    try:
        reference_image(engine)
        if os.environ.get("KIT_CI_DEMO", "1") != "0":
            demo_image(engine)
    except (containers.ContainerError, server.ServerError) as error:
        print(f"containers CI: FAILED: {error}", file=sys.stderr)
        return 1
    finally:
        (ROOT / "reports" / "containers-ci.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
