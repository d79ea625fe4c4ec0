"""Fixtures of the container tests: the engine (or a skip that says what to install), the
reference bento built from the root bentofile, and its image (removed after the session)."""

from __future__ import annotations

import os

import pytest

from bentokit import bento, builder, containers
from tests.conftest import ROOT

TEST_IMAGE = "localhost/bentokit-credit-risk:test"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "container: builds or runs a container image (docker or podman)")


@pytest.fixture(scope="session")
def engine() -> containers.Engine:
    found = containers.detect()
    if found is None:
        pytest.skip("no container engine answers (a Docker daemon or podman); "
                    + containers.install_hint().splitlines()[-1])
    return found


@pytest.fixture(scope="session")
def rootless(engine) -> builder.Builder | None:
    """The builder user the grader builds and runs learners' images as, as root with podman (made
    ready once per session, as a grading makes it); None otherwise."""
    if os.geteuid() != 0 or engine.name != "podman":
        return None
    return builder.ensure(engine)


@pytest.fixture(scope="session")
def reference_bento(saved_model):
    return bento.build(ROOT)


@pytest.fixture(scope="session")
def reference_image(engine, reference_bento, tmp_path_factory):
    log = tmp_path_factory.mktemp("containerize") / "containerize.log"
    built = containers.build_image(str(reference_bento.tag), TEST_IMAGE, engine, log_path=log)
    yield built
    containers.remove_image(built.tag, engine, built.log_path)
