"""Child process: build the learner's bento image (``bentoml containerize`` via bentokit.containers).

Run as ``python -m grader.children.image IN OUT``; IN holds ``{"bento", "image", "engine": [name, binary,
version], "home", "timeout", "log", "rootless"}``. In a child, the build (and the engine's build process
under it) lives in the grader's killable process group: an interrupted grading stops the build too. The
Dockerfile is checked first (:mod:`bentokit.dockerfile`): a bento that asks for more than BentoML's own
templates write is not built. As root with podman, this child runs as the builder user
(:mod:`bentokit.builder`), rootless, one build at a time.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

from bentokit import builder, containers, dockerfile, private
from grader.children import write_output


def main(in_path: str, out_path: str) -> None:
    job = json.loads(Path(in_path).read_text())
    engine = containers.Engine(*job["engine"])
    # The file checked is the file built: BentoML asks DOCKER_BUILDKIT, as it writes it, whether to mount
    # the engine's cache (buildah keeps it on the host, so never for podman).
    os.environ["DOCKER_BUILDKIT"] = "1" if engine.name == "docker" else "0"
    if refused := unsafe(job["bento"], job["home"], engine.name):
        write_output(out_path, {"error": refused, "refused": True})
        return
    try:
        with builder.one_build_at_a_time(engine) if job.get("rootless") else contextlib.nullcontext():
            built = containers.build_image(job["bento"], job["image"], engine, timeout=job["timeout"],
                                           log_path=job["log"], env={"BENTOML_HOME": job["home"]})
    except (containers.ContainerError, builder.BuilderError) as err:
        write_output(out_path, {"error": str(err)})
        return
    try:
        size = built.size()
    except containers.ContainerError:
        size = 0
    write_output(out_path, {"seconds": built.seconds, "size": size})


def unsafe(bento_tag: str, home: str, backend: str) -> str:
    """Why the grader will not build this bento's image ('' when it will): its Dockerfile, as
    ``bentoml containerize`` writes it from the grader's copy of the bento, checked first."""
    os.environ["BENTOML_HOME"] = home  # BentoML reads it once, at its import
    try:
        found = dockerfile.problems(private.containerfile(bento_tag, backend), backend)
    except Exception as err:  # a bento.yaml learner code wrote, that BentoML cannot read
        found = [f"{type(err).__name__}: {err}"]
    if not found:
        return ""
    return ("the grader builds no image from this bento: its Dockerfile would hold "
            + "; ".join(found) + ". Keep the image to what BentoML writes: Python packages, system "
            "packages, a setup script, and Image(...).run() commands of one line each, none opening with an "
            "option.")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
