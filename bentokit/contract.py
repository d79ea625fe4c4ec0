"""The service contract every part of the kit is built and graded against.

`solutions/service.py` implements it; the grader, the tests, the data generator and the
notebooks read it from here so that there is one place that says what the service is.
"""

from __future__ import annotations

from typing import Any

SERVICE_CLASS = "CreditRiskClassifier"
SERVICE_NAME = "credit_risk_classifier"
MODEL_NAME = "credit_risk_model"
CUSTOM_OBJECT_KEY = "dictVectorizer"
CLASSIFY_PATH = "/classify"
CLASSIFY_BATCH_PATH = "/classify_batch"
#: The parameter names, i.e. the keys that wrap the request bodies.
CLASSIFY_ARG = "credit_application"
CLASSIFY_BATCH_ARG = "credit_applications"

#: The 13 input fields with the course's types, in the course's column order.
FIELD_TYPES: dict[str, type] = {
    "seniority": int,
    "home": str,
    "time": int,
    "age": int,
    "marital": str,
    "records": str,
    "job": str,
    "expenses": int,
    "income": float,
    "assets": float,
    "debt": float,
    "amount": int,
    "price": int,
}

#: The course's code -> label maps (``CreditScoring.csv`` stores the codes).
CODE_LABELS: dict[str, dict[int, str]] = {
    "status": {1: "ok", 2: "default", 0: "unk"},
    "home": {1: "rent", 2: "owner", 3: "private", 4: "ignore", 5: "parents", 6: "other", 0: "unk"},
    "marital": {1: "single", 2: "married", 3: "widow", 4: "separated", 5: "divorced", 0: "unk"},
    "records": {1: "no", 2: "yes", 0: "unk"},
    "job": {1: "fixed", 2: "partime", 3: "freelance", 4: "others", 0: "unk"},
}

#: The labels each categorical input field accepts.
CATEGORIES: dict[str, tuple[str, ...]] = {
    field: tuple(labels.values()) for field, labels in CODE_LABELS.items() if field != "status"
}

#: Inclusive bounds of the numeric fields: amounts are non-negative, age is an adult's, and
#: the upper bounds keep any JSON number from overflowing the model's float32 input.
BOUNDS: dict[str, tuple[float, float]] = {
    "seniority": (0, 100),
    "time": (0, 600),
    "age": (18, 120),
    "expenses": (0, 1_000_000),
    "income": (0, 1e9),
    "assets": (0, 1e9),
    "debt": (0, 1e9),
    "amount": (0, 1_000_000_000),
    "price": (0, 1_000_000_000),
}

DECLINED_ABOVE = 0.5
MAYBE_ABOVE = 0.25
STATUSES = ("APPROVED", "MAYBE", "DECLINED")


def status_for(probability: float) -> str:
    """The course's decision rule: > 0.5 DECLINED, > 0.25 MAYBE, else APPROVED."""
    if probability > DECLINED_ABOVE:
        return "DECLINED"
    if probability > MAYBE_ABOVE:
        return "MAYBE"
    return "APPROVED"


#: The course's sample applicant.
SAMPLE_APPLICANT: dict[str, Any] = {
    "seniority": 3,
    "home": "owner",
    "time": 36,
    "age": 26,
    "marital": "single",
    "records": "no",
    "job": "freelance",
    "expenses": 35,
    "income": 0.0,
    "assets": 60000.0,
    "debt": 3000.0,
    "amount": 800,
    "price": 1000,
}

#: Applicants chosen to cover the categories and the three decisions on the course model.
GOLDEN_APPLICANTS: dict[str, dict[str, Any]] = {
    "sample": SAMPLE_APPLICANT,
    "steady_homeowner": {
        "seniority": 20, "home": "owner", "time": 36, "age": 48, "marital": "married",
        "records": "no", "job": "fixed", "expenses": 60, "income": 250.0, "assets": 20000.0,
        "debt": 0.0, "amount": 800, "price": 1500,
    },
    "young_renter": {
        "seniority": 1, "home": "rent", "time": 60, "age": 22, "marital": "single",
        "records": "no", "job": "partime", "expenses": 45, "income": 90.0, "assets": 0.0,
        "debt": 0.0, "amount": 1400, "price": 1500,
    },
    "with_records": {
        "seniority": 0, "home": "parents", "time": 60, "age": 25, "marital": "single",
        "records": "yes", "job": "freelance", "expenses": 35, "income": 60.0, "assets": 0.0,
        "debt": 0.0, "amount": 2000, "price": 2100,
    },
    "widow_private": {
        "seniority": 12, "home": "private", "time": 24, "age": 61, "marital": "widow",
        "records": "no", "job": "others", "expenses": 75, "income": 140.0, "assets": 8000.0,
        "debt": 500.0, "amount": 600, "price": 900,
    },
    "divorced_other": {
        "seniority": 5, "home": "other", "time": 48, "age": 39, "marital": "divorced",
        "records": "no", "job": "fixed", "expenses": 90, "income": 180.0, "assets": 3000.0,
        "debt": 1000.0, "amount": 1200, "price": 1300,
    },
}


def wrap(applicant: dict[str, Any]) -> dict[str, Any]:
    """The request body `/classify` expects: the applicant under its parameter name."""
    return {CLASSIFY_ARG: applicant}


def wrap_batch(applicants: list[dict[str, Any]]) -> dict[str, Any]:
    """The request body `/classify_batch` expects."""
    return {CLASSIFY_BATCH_ARG: applicants}


def invalid_bodies() -> dict[str, Any]:
    """Bodies the service must answer with HTTP 400 and field-level detail, by name."""

    def changed(**fields: Any) -> dict[str, Any]:
        return wrap({**SAMPLE_APPLICANT, **fields})

    missing = dict(SAMPLE_APPLICANT)
    del missing["income"]
    return {
        "wrong_type": changed(age="twenty-six"),
        "unknown_category": changed(home="castle"),
        "missing_field": wrap(missing),
        "negative_amount": changed(amount=-800),
        "minor_age": changed(age=12),
        "unknown_field": changed(favourite_colour="blue"),
        "flat_body": dict(SAMPLE_APPLICANT),
        "empty_object": {},
        "not_an_object": [1, 2, 3],
        "null_field": changed(income=None),
        "huge_number": changed(amount=10**400),
    }
