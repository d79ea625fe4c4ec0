"""``bentokit.lazy_bentoml``: BentoML's command line whose supervisor loads no model library."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from bentokit import lazy_bentoml
from tests.conftest import ROOT

IMPORT_THE_SOLUTION = textwrap.dedent("""
    import sys
    from bentokit import lazy_bentoml
    lazy_bentoml.install()
    sys.path.insert(0, "solutions")
    import service
    print(sorted(name for name in ("sklearn", "scipy", "pandas") if name in sys.modules))
    service.xgb.Booster  # the first name read runs XGBoost's code, and its own imports with it
    print(sorted(name for name in ("sklearn", "scipy", "pandas") if name in sys.modules))
    try:
        import xgboost_not_installed  # noqa: F401
    except ModuleNotFoundError as err:
        print(err.name)
""")


def test_a_lazy_import_runs_the_library_only_when_a_name_is_read():
    assert {"xgboost", "sklearn"} <= lazy_bentoml.LAZY_PACKAGES
    done = subprocess.run([sys.executable, "-c", IMPORT_THE_SOLUTION], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "BENTOML_DO_NOT_TRACK": "true"})
    assert done.returncode == 0, done.stderr
    before, after, missing = done.stdout.splitlines()
    assert before == "[]"
    assert "sklearn" in after and "scipy" in after
    assert missing == "xgboost_not_installed"  # a package that is not there still fails its import


def _loads_xgboost(process: psutil.Process) -> bool:
    return any("libxgboost" in m.path for m in process.memory_maps())


@pytest.mark.server
def test_the_supervisor_leaves_xgboost_to_its_workers(reference_server):
    """``bentoml serve`` imports ``service.py`` in its supervisor only to read its configuration; the
    solution imports XGBoost at its top, which the supervisor then never loads. Its workers do."""
    supervisor = psutil.Process(reference_server.process.pid)
    children = supervisor.children(recursive=True)
    workers = [p for p in children if "_bentoml_impl.worker.service" in p.cmdline()]
    assert workers, [p.cmdline() for p in children]
    assert not _loads_xgboost(supervisor)
    assert all(_loads_xgboost(w) for w in workers)


def _files(bento_dir: Path) -> dict[str, bytes]:
    """Every file of a built bento by its path; ``bento.yaml`` without the lines naming its version."""
    found = {}
    for path in sorted(p for p in bento_dir.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == "bento.yaml":
            data = b"\n".join(line for line in data.splitlines()
                              if not line.startswith((b"version:", b"creation_time:")))
        found[str(path.relative_to(bento_dir))] = data
    return found


@pytest.mark.server
def test_a_lazy_build_makes_the_same_bento(saved_model, bentoml_home):
    """``bentoml build`` of the solution, and the same through ``bentokit.lazy_bentoml``."""
    built = {}
    for name, command in (("bentoml", [sys.executable, "-m", "bentoml"]),
                          ("lazy", lazy_bentoml.command())):
        done = subprocess.run([*command, "build", "solutions", "--output", "tag"], cwd=ROOT, text=True,
                              capture_output=True, timeout=300,
                              env={**os.environ, "BENTOML_DO_NOT_TRACK": "true"})
        assert done.returncode == 0, done.stderr
        tag = done.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
        built[name] = _files(bentoml_home / "bentos" / Path(*tag.split(":")))
    assert built["lazy"] == built["bentoml"]
