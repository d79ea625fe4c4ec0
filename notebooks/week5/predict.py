"""Week 5 (2025 edition), step 2: serve the pickled model with FastAPI and pydantic.

    uv run uvicorn predict:app --host 0.0.0.0 --port 9696
"""

import pickle
from typing import Literal

import numpy as np
import xgboost as xgb
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field


class Applicant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seniority: int = Field(ge=0)
    home: Literal["rent", "owner", "private", "ignore", "parents", "other", "unk"]
    time: int = Field(ge=0)
    age: int = Field(ge=18)
    marital: Literal["single", "married", "widow", "separated", "divorced", "unk"]
    records: Literal["no", "yes", "unk"]
    job: Literal["fixed", "partime", "freelance", "others", "unk"]
    expenses: int = Field(ge=0)
    income: float = Field(ge=0)
    assets: float = Field(ge=0)
    debt: float = Field(ge=0)
    amount: int = Field(ge=0)
    price: int = Field(ge=0)


class Decision(BaseModel):
    default_probability: float
    decision: Literal["APPROVED", "MAYBE", "DECLINED"]


with open("model.bin", "rb") as f_in:  # loaded at import: one copy per worker process
    dv, booster = pickle.load(f_in)

app = FastAPI(title="credit-risk")


@app.post("/predict")
def predict(applicant: Applicant) -> Decision:
    features = dv.transform([applicant.model_dump()])
    matrix = xgb.DMatrix(features, feature_names=list(dv.get_feature_names_out()))
    probability = float(np.asarray(booster.predict(matrix))[0])
    decision = "DECLINED" if probability > 0.5 else "MAYBE" if probability > 0.25 else "APPROVED"
    return Decision(default_probability=probability, decision=decision)
