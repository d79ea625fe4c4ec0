"""Build the bento from a project's ``bentofile.yaml`` and read what a built bento holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def build(project_dir: str | Path = ".", bentofile: str = "bentofile.yaml") -> Any:
    """``bentoml build`` of ``project_dir`` into the current BentoML home; returns the Bento."""
    import bentoml

    project_dir = Path(project_dir).resolve()
    return bentoml.bentos.build_bentofile(str(project_dir / bentofile), build_ctx=str(project_dir))


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
