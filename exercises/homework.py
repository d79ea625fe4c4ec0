"""Homework answers: YOUR copy. The questions are in homework.md; replace each None (TODO) with your
answer, then grade them from the repository root with ``./kit learn check homework``.
"""

from __future__ import annotations

from pydantic import BaseModel

# Q1 (TODO): the installed BentoML version, as a string.
BENTOML_VERSION = None

# Q2 (TODO): A, B, C or D.
MODEL_SIZE = None


# Q3 (TODO): the pydantic class for the JSON body of homework.md, one field per key.
class LoanQuery(BaseModel):
    pass


# Q4 (TODO): the XGBoost version recorded in the imported .bentomodel, as a string.
XGBOOST_VERSION = None

# Q5 (TODO): "APPROVED", "MAYBE" or "DECLINED".
BENTO_STATUS = None

# Q6 (TODO): 175 or 10000.
FASTER_MODEL = None
