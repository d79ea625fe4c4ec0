"""A week-5 style Flask app: no validation, the course's ``dv.transform`` + XGBoost predict path.

Served by Flask's dev server (``python -m benchmarks.apps.flask_app --port P``) or by gunicorn
(``gunicorn benchmarks.apps.flask_app:app``). ``/readyz`` is added only so the harness can wait.
"""

from __future__ import annotations

import argparse

from flask import Flask, jsonify, request

from benchmarks.apps.model import load
from bentokit import contract, training

app = Flask("credit_risk")
model, dv = load()


@app.route(contract.CLASSIFY_PATH, methods=["POST"])
def classify():
    applicant = request.get_json()[contract.CLASSIFY_ARG]
    probability = float(training.predict_proba(model, dv, [applicant])[0])
    return jsonify({"probability": probability, "status": contract.status_for(probability)})


@app.route("/readyz")
def readyz():
    return "OK"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    app.run(host="127.0.0.1", port=parser.parse_args().port)
