"""The week-5 service as the course ships it in 2025: FastAPI + pydantic + a pickled sklearn pipeline.

The 2025 module trains ``make_pipeline(DictVectorizer(), model)``, pickles it, and serves
``pipeline.predict_proba(customer)`` from a FastAPI app with a pydantic request model and a flat JSON
body, run with ``uv run uvicorn predict:app`` (one worker, plain ``uvicorn``: asyncio + h11). To compare
on the same model, the pipeline here is the store's DictVectorizer followed by an ``XGBClassifier`` that
loads the store's booster, pickled and unpickled as the course's ``predict.py`` does.
"""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path
from typing import Any

import xgboost as xgb
from fastapi import FastAPI
from sklearn.pipeline import Pipeline, make_pipeline

from benchmarks.apps.model import load
from bentokit import contract
from solutions.service import CreditApplication


def pipeline_bytes() -> bytes:
    """The course's ``model.bin``: the pickled DictVectorizer + classifier pipeline of the stored model."""
    model, dv = load()
    booster = model if isinstance(model, xgb.Booster) else model.get_booster()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.json"
        booster.save_model(path)
        classifier = xgb.XGBClassifier()
        classifier.load_model(path)
    return pickle.dumps(make_pipeline(dv, classifier))


pipeline: Pipeline = pickle.loads(pipeline_bytes())
app = FastAPI(title="credit-risk-prediction")


def predict_single(applicant: dict[str, Any]) -> float:
    return float(pipeline.predict_proba(applicant)[0, 1])


@app.post(contract.CLASSIFY_PATH)
def predict(application: CreditApplication) -> dict[str, Any]:
    probability = predict_single(application.model_dump())
    return {"probability": probability, "status": contract.status_for(probability)}


@app.get("/readyz")
def readyz() -> str:
    return "OK"
