"""Build the bento from a project's ``bentofile.yaml`` and read what a built bento holds."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from bentokit import lazy_bentoml
from bentokit.server import kit_env


class BuildError(RuntimeError):
    """``bentoml build`` failed; the message ends with its output."""


def build(project_dir: str | Path = ".", bentofile: str = "bentofile.yaml", timeout: float = 600) -> Any:
    """``bentoml build`` of ``project_dir`` into the current BentoML home; returns the Bento.

    Without ``bentofile`` in the folder, BentoML finds the service itself and takes the runtime from
    the service's ``image=`` (the image SDK), as ``bentoml build`` in a terminal does.

    The build runs in a child process, as in a terminal: a service module already imported into
    this process keeps the model version it resolved first, so an in-process build after a
    retrain would pack the old model (and a learner's service must not run in the caller).
    """
    import bentoml

    project_dir = Path(project_dir).resolve()
    config = ["--bentofile", str(project_dir / bentofile)] if (project_dir / bentofile).is_file() else []
    command = lazy_bentoml.command("build", str(project_dir), *config, "--output", "tag")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=kit_env(),
                              cwd=project_dir)
    except subprocess.TimeoutExpired as err:
        raise BuildError(f"`bentoml build {project_dir}` did not finish in {timeout:.0f} s") from err
    tags = [line.removeprefix("__tag__:") for line in done.stdout.splitlines() if line.startswith("__tag__:")]
    if done.returncode != 0 or not tags:
        output = (done.stdout[-2000:] + done.stderr[-3000:]).strip()
        raise BuildError(f"`bentoml build {project_dir}` failed (exit code {done.returncode}):\n{output}")
    return bentoml.bentos.get(tags[-1])


def manifest(bento: Any) -> dict[str, Any]:
    """The parsed ``bento.yaml`` of a built bento."""
    return yaml.safe_load(Path(bento.path_of("bento.yaml")).read_text())


def packed_models(bento_yaml: dict[str, Any]) -> list[str]:
    """The model tags a bento packs: 1.4 lists them per service, older bentos at the top level."""
    tags = [m["tag"] for m in bento_yaml.get("models") or []]
    for service in bento_yaml.get("services") or []:
        tags += [m["tag"] for m in service.get("models") or []]
    return sorted(set(tags))


def api_routes(bento_yaml: dict[str, Any]) -> list[str]:
    """The HTTP routes the bento's entry service exposes."""
    return [route["route"] for route in (bento_yaml.get("schema") or {}).get("routes") or []]


def directory_size(path: str | Path) -> int:
    """Bytes in all files under ``path``."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
