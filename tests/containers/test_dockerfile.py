"""The Dockerfile check the grader runs before it builds a learner's image as root (``bentokit.dockerfile``):
what BentoML writes passes; each way a learner's string could ask the engine for more is refused."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml

from bentokit import dockerfile, private
from tests.conftest import ROOT

OPTION, CHARACTERS = "not an option BentoML writes", "control or non-ASCII characters"
#: Learner text that reaches the Dockerfile (a command with newlines, a system package), and what
#: the check says of it. The first is the build that wrote to the host's / (CVE-2024-1753).
INJECTED = {
    "a bind mount of another stage's link": (
        "FROM base-container AS hostroot\nRUN ln -s / /rootdir\nFROM base-container\n"
        "RUN --mount=type=bind,rw,source=/rootdir,from=hostroot,target=/rootdir true",
        OPTION),
    "a cache mount from another stage": (
        "RUN --mount=type=cache,from=hostroot,source=/rootdir,target=/x true", OPTION),
    "a secret (filled from root's environment)": (
        "RUN --mount=type=secret,id=GITHUB_TOKEN cat /run/secrets/GITHUB_TOKEN",
        OPTION),
    "the host's network": ("RUN --network=host true", "RUN --network=host"),
    "an insecure build": ("RUN --security=insecure true", "RUN --security=insecure"),
    "a copy from another stage": ("COPY --from=hostroot /rootdir/etc/shadow /x", "COPY --from=hostroot"),
    "a trigger for later builds": ("ONBUILD RUN true", "the instruction ONBUILD"),
    "a stage named by a variable, then built on": ("FROM python:3.11-slim AS $IMG\nFROM $IMG",
                                                   "a variable in FROM"),
    "a base image of the learner's": ("FROM someone/python:3.11-slim", "the base image someone/python"),
    "a mount after an empty continuation line": (
        "RUN \\\n\n  --mount=type=bind,source=/,target=/h true", OPTION),
    "a mount after a comment in a continuation": (
        "RUN \\\n# a comment\n --mount=type=bind,source=/,target=/h true", OPTION),
    "a control character": ("RUN echo \x0bFROM evil", CHARACTERS),
    # What got past the first version of the check (each made the build write to the host as root):
    "a second type, and the rest in a variable": (
        "ENV M=/h,from=hostroot,source=/rootdir\nRUN --mount=type=bind,type=cache,target=$M true",
        OPTION),
    "an escaped blank inside the options": (
        "RUN --mount=type=bind,type=cache,target=/h\\ ,from=hostroot,source=/rootdir true",
        OPTION),
    "a quoted blank inside the options": (
        'RUN --mount=type=cache,target="/h ,from=hostroot,source=/rootdir" true', OPTION),
    "BentoML's own cache mount, then more": (
        "RUN --mount=type=cache,sharing=locked,target=/root/.cache/\\ ,from=hostroot,source=/rootdir true",
        OPTION),
    "an option continued on the next line": (  # Docker joins with no blank: one option, then a bind mount
        "RUN --mount=type=cache,target=/root/.cache/pip\\\n,sharing=locked "
        "--mount=type=bind,rw,from=hostroot,source=/rootdir,target=/h true", OPTION),
    "a mount inside the command": ("RUN true --mount=type=bind,source=/,target=/h", "a mount in the command"),
    "a carriage return before a new line": ("ENV A=1 \\\r\nRUN --mount=type=bind,source=/,target=/h true",
                                            CHARACTERS),
    "a blank only the engine splits at": ("RUN echo\x85--network=host true", CHARACTERS),
    "a copy option after BentoML's own": ("COPY --chown=bentoml:bentoml --from=hostroot /etc/shadow /x",
                                          OPTION),
    # The fifth: BentoML's own two cache mounts, byte for byte, opening a learner's commands. Buildah's
    # cache folder of the outer one holds the inner one's: swapped for a link to /, then mounted.
    "BentoML's outer cache mount opening a command": (
        "RUN --mount=type=cache,sharing=locked,target=/root/.cache/ rm -rf /root/.cache/pip && "
        "ln -s / /root/.cache/pip", OPTION),
    "BentoML's inner cache mount opening a command": (
        "RUN --mount=type=cache,target=/root/.cache/pip ls /root/.cache/pip/root", OPTION),
    "BentoML's own install, then more": (f"{dockerfile.MOUNTED_INSTALL} && ls /root/.cache", OPTION),
    "a file fetched from a URL": ("ADD http://127.0.0.1:3000/metrics /x", "not a file of the bento"),
    # Round 7: every run of the image left its anonymous volumes in the builder's store (a lock each).
    "a volume every run leaves behind": ("VOLUME /leak /leak/v0 /leak/v1", "the instruction VOLUME"),
    "a health check": ("HEALTHCHECK CMD true", "the instruction HEALTHCHECK"),
    "a repository fetched": ("ADD git@github.com:someone/x.git /x", "not a file of the bento"),
}


@pytest.fixture(scope="module", params=["podman", "docker"])
def engine(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def written(engine, reference_bento) -> str:
    """The reference bento's Dockerfile as `bentoml containerize --backend ENGINE` writes it (docker: with
    BuildKit, its cache mount and syntax line)."""
    return private.containerfile(str(reference_bento.tag), engine)


def test_what_bentoml_writes_passes(written, engine) -> None:
    assert dockerfile.problems(written, engine) == []
    assert any(line.startswith("FROM python:3.11-slim") for line in dockerfile.instructions(written))


@pytest.mark.parametrize("what", INJECTED)
def test_what_a_learner_could_add_is_refused(what, written, engine) -> None:
    text, said = INJECTED[what]
    lines = written.split("\n")
    first_run = next(i for i, line in enumerate(lines) if line.startswith("RUN"))
    injected = "\n".join([*lines[:first_run], text, *lines[first_run:]])
    found = dockerfile.problems(injected, engine)
    assert any(said in problem for problem in found), found


def test_bentoml_s_own_cache_mount_is_built_by_docker_only(written) -> None:
    """BentoML writes its package install with a cache mount for BuildKit alone; buildah would keep that
    cache in a folder of the host's."""
    lines = written.split("\n")
    last_run = max(i for i, line in enumerate(lines) if line.startswith("RUN"))
    mounted = "\n".join([*lines[:last_run], dockerfile.MOUNTED_INSTALL, *lines[last_run:]])
    assert dockerfile.problems(mounted, "docker") == []
    assert any(OPTION in problem for problem in dockerfile.problems(mounted, "podman"))


@pytest.mark.parametrize("directive", ["# escape=`", "# syntax=someone/frontend", "#check=skip=all"])
def test_a_parser_directive_but_dockers_own_frontend_is_refused(directive, written, engine) -> None:
    assert dockerfile.problems(f"{directive}\n{written}", engine) != []
    assert dockerfile.problems(f"# syntax=docker/dockerfile:1.4\n{written}", engine) == []


def unsafe(bento_tag: str, home) -> str:
    """The image child's verdict on the bento ``bento_tag`` of the store ``home``, in a process of its
    own (it points BentoML at that store before importing it)."""
    code = ("import sys; from grader.children.image import unsafe; "
            "print(unsafe(sys.argv[1], sys.argv[2], 'podman') or 'SAFE')")
    done = subprocess.run([sys.executable, "-c", code, bento_tag, str(home)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("edit", ["untouched", "a command with a newline", "a Dockerfile template"])
def test_the_image_child_checks_the_bento_learner_code_wrote(edit, reference_bento, bentoml_home,
                                                             tmp_path) -> None:
    """bento.yaml is written by learner code (the build runs in its process): what it says reaches the
    Dockerfile, so the image child writes that file as containerize will, and checks it, first."""
    built = reference_bento
    name, version = str(built.tag).split(":")
    home = tmp_path / "home"
    shutil.copytree(built.path, home / "bentos" / name / version)
    shutil.copytree(bentoml_home / "models", home / "models")
    manifest = home / "bentos" / name / version / "bento.yaml"
    info = yaml.safe_load(manifest.read_text())
    if edit == "a command with a newline":
        info["image"]["commands"].append("true\nRUN --mount=type=bind,source=/,target=/h true")
    elif edit == "a Dockerfile template":  # an older bento.yaml's (spec 1), as learner code can write it
        info = {key: value for key, value in info.items() if key not in {"image", "spec", "envs", "args"}}
        info |= {"spec": 1, "docker": {"dockerfile_template": "env/docker/Dockerfile.template"}}
        (manifest.parent / "env" / "docker" / "Dockerfile.template").write_text("FROM python:3.11-slim\n")
    manifest.write_text(yaml.safe_dump(info))
    verdict = unsafe(str(built.tag), home)
    expected = {"untouched": "SAFE", "a command with a newline": OPTION,
                "a Dockerfile template": "a Dockerfile template of its own"}[edit]
    assert expected in verdict, verdict
