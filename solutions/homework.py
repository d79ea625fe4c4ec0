"""Homework answers (reference solution): the questions are in homework.md."""

from __future__ import annotations

from pydantic import BaseModel

# Q1: the installed BentoML version.
BENTOML_VERSION = "1.4.39"

# Q2: A, B, C or D.
MODEL_SIZE = "B"


# Q3: the pydantic class for the JSON body of homework.md.
class LoanQuery(BaseModel):
    applicant_id: str
    age: int
    income: float
    first_time: bool
    open_loans: int


# Q4: the XGBoost version recorded in the imported .bentomodel.
XGBOOST_VERSION = "3.2.0"

# Q5: "APPROVED", "MAYBE" or "DECLINED".
BENTO_STATUS = "DECLINED"

# Q6: 175 or 10000.
FASTER_MODEL = 175
