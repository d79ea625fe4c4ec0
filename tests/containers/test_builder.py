"""The builder user (``bentokit.builder``), as the grader uses it as root with podman: its store keeps
nothing a killed build, or a removed container, left there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bentokit import containers, dockerfile, procs
from tests.conftest import ROOT

pytestmark = [pytest.mark.container]

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
    if rootless is None:
        pytest.skip("the grader builds as the builder user as root with podman only")
    user = rootless
    user.share_base_images(engine)
    base = next(n for n in containers.image_names(user.engine(engine)) if dockerfile.BASE_IMAGE.fullmatch(n))
    context = Path(tempfile.mkdtemp(prefix="bentokit-killed-build-", dir="/tmp"))
    try:
        context.chmod(0o755)
        (context / "Dockerfile").write_text(f"FROM {base}\nRUN sleep 300\n")
        (context / "script.py").write_text(KILLED_BUILD)
        for name in ("Dockerfile", "script.py"):
            (context / name).chmod(0o644)
        env = {**user.env(), "PATH": os.environ["PATH"], "TMPDIR": "/var/tmp"}
        done = subprocess.run([sys.executable, "-P", str(context / "script.py"), str(context)],
                              capture_output=True, text=True, timeout=300, cwd=ROOT, env=env,
                              user=user.uid, group=user.gid, extra_groups=[])
        assert done.returncode == 0, done.stderr
        seen = json.loads(done.stdout.splitlines()[-1])
        assert seen["left"], "the build never started its RUN step"
        assert set(seen["left"]) <= set(seen["removed"])
        assert not set(seen["after"]) & set(seen["left"])
        assert "bentokit-test-unused" not in seen["volumes"]  # no volume no container uses stays either
    finally:
        procs.remove_tree(context)
