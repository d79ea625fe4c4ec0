"""The builder user (``bentokit.builder``), as the grader uses it as root with podman: its store keeps
nothing a killed build, or a removed container, left there."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bentokit import containers, dockerfile, procs
from tests.conftest import ROOT

pytestmark = [pytest.mark.container]


@contextlib.contextmanager
def as_builder(engine, rootless, steps: str, script: str) -> Iterator[Callable[..., dict]]:
    """A build context the builder user can read (a Dockerfile of the base image with ``steps`` after its
    FROM line, and ``script``); yields a function that runs the script as that user, with the context
    and its own arguments, and returns the JSON of its last line."""
    if rootless is None:
        pytest.skip("the grader builds as the builder user as root with podman only")
    rootless.share_base_images(engine)
    images = containers.image_names(rootless.engine(engine))
    base = next(n for n in images if dockerfile.BASE_IMAGE.fullmatch(n))
    context = Path(tempfile.mkdtemp(prefix="bentokit-builder-test-", dir="/tmp"))
    try:
        context.chmod(0o755)
        (context / "Dockerfile").write_text(f"FROM {base}\n{steps}")
        (context / "script.py").write_text(script)
        for name in ("Dockerfile", "script.py"):
            (context / name).chmod(0o644)
        env = {**rootless.env(), "PATH": os.environ["PATH"], "TMPDIR": "/var/tmp"}

        def run(*args: str, timeout: float) -> dict:
            done = subprocess.run([sys.executable, "-P", str(context / "script.py"), str(context), *args],
                                  capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env,
                                  user=rootless.uid, group=rootless.gid, extra_groups=[])
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout.splitlines()[-1])

        yield run
    finally:
        procs.remove_tree(context)

#: Run as the builder user, as the image child runs: a build killed at its RUN step while it holds the
#: build lock (so no other build's clean-up takes its leftovers first), then the next build's lock.
KILLED_BUILD = '''
import json, os, shutil, signal, subprocess, sys, time
from bentokit import builder, containers

engine = containers.Engine("podman", shutil.which("podman"), "")
context = sys.argv[1]

def working():
    out = subprocess.run(engine.command("ps", "--all", "--external", "--format", "{{.ID}} {{.Status}}"),
                         capture_output=True, text=True, timeout=60).stdout
    return {line.split()[0] for line in out.splitlines() if line.endswith(" Storage")}

with builder.one_build_at_a_time(engine):
    build = subprocess.Popen(engine.command("build", "-t", "localhost/bentokit-killed-build:test", context),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not working():
        time.sleep(0.5)  # a poll interval while the build reaches its RUN step
    os.killpg(build.pid, signal.SIGKILL)
    build.wait()
    left = working()
subprocess.run(engine.command("volume", "create", "bentokit-test-unused"), check=True, capture_output=True)
with builder.one_build_at_a_time(engine) as removed:
    pass
volumes = subprocess.run(engine.command("volume", "ls", "--format", "{{.Name}}"), capture_output=True,
                         text=True, timeout=60).stdout.split()
print(json.dumps({"left": sorted(left), "removed": removed, "after": sorted(working()), "volumes": volumes}))
'''


def test_a_killed_build_leaves_nothing_the_next_build_keeps(engine, rootless) -> None:
    """podman 4.3 leaves a killed build's working containers in the store (one per step begun, each
    holding a layer on disk); a grading's build is killed at its time limit or when the grading is
    interrupted. The next build, holding the build lock, removes them first."""
    with as_builder(engine, rootless, "RUN sleep 300\n", KILLED_BUILD) as run:
        seen = run(timeout=300)
    assert seen["left"], "the build never started its RUN step"
    assert set(seen["left"]) <= set(seen["removed"])
    assert not set(seen["after"]) & set(seen["left"])
    assert "bentokit-test-unused" not in seen["volumes"]  # no volume no container uses stays either


#: Run as the builder user: a build whose own step leaves a layer, its image removed as the grader removes
#: a learner's (the layers below kept as the cache); then the next build's lock, with ``argv[2]`` bytes as
#: the free space below which it removes the cache.
LEFT_LAYER = '''
import json, shutil, subprocess, sys
from bentokit import builder, containers

engine = containers.Engine("podman", shutil.which("podman"), "")
context, floor = sys.argv[1], int(sys.argv[2])

def podman(*args):
    done = subprocess.run(engine.command(*args), capture_output=True, text=True, timeout=300, check=True)
    return done.stdout

def present(image):
    return image in podman("images", "--all", "--no-trunc", "--format", "{{.ID}}")

tag = "localhost/bentokit-left-layer:test"
with builder.one_build_at_a_time(engine):
    podman("build", "-t", tag, context)
    layer = podman("image", "inspect", "--format", "{{.Parent}}", tag).strip()
    podman("rmi", "--no-prune", tag)
    kept = present(layer)
builder.MIN_FREE_FOR_CACHE = floor
with builder.one_build_at_a_time(engine):
    pass
print(json.dumps({"kept": kept, "after": present(layer)}))
'''


def test_a_layer_a_learners_build_left_goes_when_the_disk_is_short(engine, rootless) -> None:
    """A learner's setup_script took the disk with fallocate in a layer below the bento's files, which the
    grader keeps as the next build's cache when it removes the learner's image: it stayed, and every later
    grading failed for want of space (red-team round 40). With the disk short, a build begins by removing
    the cache; with room to spare, the cache stays."""
    # A layer of its own (the ballast), then one more step: the image removed, the ballast's stays.
    steps = f"RUN head -c 1048576 /dev/zero > /ballast-{secrets.token_hex(4)}\nRUN echo done > /done\n"
    with as_builder(engine, rootless, steps, LEFT_LAYER) as run:
        for floor, stays in ((0, True), (1 << 62, False)):
            seen = run(str(floor), timeout=600)
            assert seen == {"kept": True, "after": stays}, (floor, seen)
