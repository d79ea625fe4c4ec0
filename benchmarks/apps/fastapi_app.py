"""FastAPI with the reference service's pydantic schema and the course predict path.

Served by ``uvicorn benchmarks.apps.fastapi_app:app --workers 2``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, FastAPI

from benchmarks.apps.model import load
from bentokit import training
from solutions.service import CreditApplication, CreditDecision, decide

app = FastAPI(title="credit_risk")
model, dv = load()


@app.post("/classify")
def classify(credit_application: Annotated[CreditApplication, Body(embed=True)]) -> CreditDecision:
    applicant = credit_application.model_dump()
    return decide(float(training.predict_proba(model, dv, [applicant])[0]))


@app.get("/readyz")
def readyz() -> str:
    return "OK"
