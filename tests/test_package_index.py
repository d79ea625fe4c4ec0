"""The package-index probe: it tells a machine that cannot reach the index from one that can."""

from __future__ import annotations

import tarfile

from bentokit import package_index, procs


def test_the_index_answers_here() -> None:
    # CI and a learner's machine reach the index: `bentoml build` needs it to lock packages.
    assert package_index.unreachable() == ""


def test_a_refused_proxy_is_reported_with_uvs_reason(offline, monkeypatch) -> None:
    for name, value in offline.items():
        monkeypatch.setenv(name, value)
    assert "refused" in package_index.unreachable().lower()


BACKEND = '''
import pathlib

def _ran(*args, **kwargs):
    pathlib.Path({marker!r}).write_text("the package's code ran")
    raise SystemExit(1)

get_requires_for_build_wheel = prepare_metadata_for_build_wheel = build_wheel = build_sdist = _ran
'''


def source_only_index(folder, marker) -> list[str]:
    """uv's index arguments for a folder holding ``learnerpkg`` 1.0 as source only, whose build backend
    writes ``marker`` (and fails) when it runs."""
    source = folder / "learnerpkg-1.0"
    source.mkdir(parents=True)
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n\n'
        '[project]\nname = "learnerpkg"\ndynamic = ["version", "dependencies"]\n')
    (source / "backend.py").write_text(BACKEND.format(marker=str(marker)))
    index = folder / "index"
    index.mkdir()
    with tarfile.open(index / "learnerpkg-1.0.tar.gz", "w:gz") as archive:
        archive.add(source, arcname=source.name)
    return ["--no-index", "--find-links", str(index)]


def test_the_lock_runs_no_code_of_the_packages_it_locks(tmp_path) -> None:
    """A package that only comes as source is built to learn its dependencies, which runs its build
    backend: a learner's bentofile can name such a package of an index the learner runs, and the
    grader locks as root. The lock leaves it undecided instead, and the backend never runs; done again
    as learner code, the lock builds it, and its failure is a failure."""
    marker = tmp_path / "backend-ran"
    lock = package_index.Lock(["learnerpkg==1.0"], source_only_index(tmp_path, marker))
    assert lock.failure() == ""
    assert "learnerpkg" in lock.undecided
    assert not marker.exists(), "the package's build backend ran"
    with procs.Sandbox.acquire(confine=False, check=False) as box:  # as learner code: it builds, and fails
        again = package_index.Lock(lock.requirements, lock.index_args, sandbox=box)
        assert again.failure() and "learnerpkg" in again.stderr
        assert marker.exists()


def wheel(index, name: str = "kitpkg", version: str = "1.0"):
    """A wheel of nothing, as uv reads one from a --find-links folder."""
    import zipfile

    index.mkdir(exist_ok=True)
    path = index / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: kit-tests\nRoot-Is-Purelib: true\n"
                                          "Tag: py3-none-any\n")
        archive.writestr(f"{info}/RECORD", "")
    return path


def test_a_kept_pass_stands_for_the_same_lines_for_an_hour_and_a_failure_is_never_kept(tmp_path,
                                                                                      monkeypatch) -> None:
    """A class run locks the same bentofile for every learner: a pass is kept, and only a pass."""
    import os
    import time

    monkeypatch.setenv("BENTOKIT_CACHE", str(tmp_path / "cache"))
    index = tmp_path / "index"
    found = wheel(index)
    args = ["--no-index", "--find-links", str(index)]
    first = package_index.Lock(["kitpkg==1.0"], args, keep=True)
    assert not first.kept and first.process is not None and first.failure() == "", first.stderr
    again = package_index.Lock(["kitpkg==1.0"], args, keep=True)
    assert again.kept and again.process is None and again.failure() == ""

    found.unlink()  # the index no longer has it: asked again, the lock fails
    asked = package_index.Lock(["kitpkg==1.0"], args)
    assert "kitpkg" in asked.failure()
    assert package_index.Lock(["kitpkg==1.0"], args, keep=True).kept  # within the hour, the pass stands
    assert not package_index.Lock(["kitpkg==1.1"], args, keep=True).kept  # other lines: asked
    assert not package_index.Lock(["kitpkg==1.0"], [*args, "--python-version", "3.12"], keep=True).kept

    kept = package_index._kept_pass(["kitpkg==1.0"], args)
    old = time.time() - package_index.KEPT_SECONDS - 1
    os.utime(kept, (old, old))
    stale = package_index.Lock(["kitpkg==1.0"], args, keep=True)
    assert not stale.kept and "kitpkg" in stale.failure()
    assert not package_index.Lock(["kitpkg==1.0"], args, keep=True).kept  # the failure was not kept

    wheel(index)
    kept.unlink()
    package_index.Lock(["kitpkg==1.0"], args, keep=True).failure()
    kept.chmod(0o666)  # a pass another user could have written is never trusted
    assert not package_index.Lock(["kitpkg==1.0"], args, keep=True).kept


def test_a_lock_stopped_at_its_time_limit_says_so() -> None:
    """A classmate's code that keeps the cores made the grader's own lock of an honest bentofile time
    out (red-team round 39): the grading counts it as a time limit passed, so a class run grades the
    learner again, alone. A lock that ends in time is no time limit passed."""
    slow = package_index.Lock(["pydantic"])
    assert "no answer from the package index in 0 s" in slow.failure(timeout=0.001) and slow.timed_out
    done = package_index.Lock(["pydantic"])
    assert done.failure() == "" and not done.timed_out
