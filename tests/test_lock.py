"""The locked environment agrees with pyproject.toml: uv.lock, its hashed pip export, environment.yml.

CI also runs `uv lock --check` (which re-resolves); this test needs no network: it reads the files.
"""

from __future__ import annotations

import re
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())
EXPORT = (ROOT / "requirements.lock.txt").read_text()


def declared() -> dict[str, tuple[Requirement, str | None]]:
    """pyproject's requirements by canonical name, with the extra that asks for each (None: the base)."""
    found = {canonicalize_name(Requirement(r).name): (Requirement(r), None) for r in PROJECT["dependencies"]}
    for extra, reqs in PROJECT["optional-dependencies"].items():
        found |= {canonicalize_name(Requirement(r).name): (Requirement(r), extra) for r in reqs}
    return found


def locked_versions() -> dict[str, set[str]]:
    """Versions by package: a universal lock may hold two versions of one package, for different markers."""
    found: dict[str, set[str]] = {}
    for package in LOCK["package"]:
        found.setdefault(canonicalize_name(package["name"]), set()).add(package.get("version", ""))
    return found


def root_package() -> dict:
    return next(p for p in LOCK["package"] if p["name"] == PROJECT["name"])


def test_the_lock_was_made_from_this_pyproject() -> None:
    """uv records the requirements it resolved; they must be pyproject's, extras included."""
    metadata = root_package()["metadata"]
    recorded = {(canonicalize_name(r["name"]), r.get("specifier", ""), r.get("marker", ""))
                for r in metadata["requires-dist"]}
    wanted = {(name, str(req.specifier), f"extra == '{extra}'" if extra else "")
              for name, (req, extra) in declared().items()}
    assert recorded == wanted, "pyproject.toml changed: run `uv lock` and `uv export` (see README)"
    assert sorted(metadata["provides-extras"]) == sorted(PROJECT["optional-dependencies"])
    # uv writes ">=3.11,<3.12" in its own normal form.
    assert LOCK["requires-python"] == "==3.11.*" and PROJECT["requires-python"] == ">=3.11,<3.12"


def test_every_pin_is_the_locked_version() -> None:
    versions = locked_versions()
    for name, (req, _) in declared().items():
        pinned = [s.version for s in req.specifier if s.operator == "=="]
        assert pinned and versions.get(name) == {pinned[0]}, f"{name}: {req}, lock {versions.get(name)}"


def test_the_pip_export_is_the_lock_with_hashes() -> None:
    versions = locked_versions()
    entries = re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)", EXPORT, flags=re.MULTILINE)
    assert len(entries) > 100
    for name, version in entries:
        base = canonicalize_name(name.split("[")[0])
        assert version in versions.get(base, set()), f"export: {name}=={version}, lock: {versions.get(base)}"
    # Every requirement carries at least one hash: pip then installs in hash-checking mode.
    blocks = re.split(r"^(?=[A-Za-z0-9])", EXPORT, flags=re.MULTILINE)
    assert all("--hash=sha256:" in b for b in blocks if re.match(r"[A-Za-z0-9]", b))
    assert not re.search(r"^(-e |bentoml-production-kit)", EXPORT, flags=re.MULTILINE), "the kit is not in it"


def test_environment_yml_installs_the_lock() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == ["-r requirements.lock.txt"]
