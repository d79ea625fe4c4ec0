"""A throw-away BentoML home holding the course model, shared by every server under test."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

HOME_ENV = "BENTOML_HOME"


def use_temporary_home(home: str | Path | None = None) -> Path:
    """Point ``BENTOML_HOME`` at ``home`` (default: a new temp folder); call before importing BentoML."""
    path = Path(home) if home else Path(tempfile.mkdtemp(prefix="kit-bench-home-"))
    path.mkdir(parents=True, exist_ok=True)
    os.environ[HOME_ENV] = str(path)
    os.environ["BENTOML_DO_NOT_TRACK"] = "true"
    return path


def ensure_model(source: str | None = None) -> tuple[str, str]:
    """The course model in the current store, trained and saved if absent; returns (tag, data source)."""
    import bentoml

    from bentokit import contract, data, training

    try:
        model = bentoml.models.get(f"{contract.MODEL_NAME}:latest")
        return str(model.tag), str(model.info.metadata.get("data_source", "?"))
    except bentoml.exceptions.NotFound:
        pass
    credit = data.load(source)
    model = training.save(training.train(credit), owner="benchmarks", stage="bench")
    return str(model.tag), credit.source
