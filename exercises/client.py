"""Call the credit-risk service: YOUR copy. Fill in the TODO, then grade it from the repository root:

    ./kit learn check client

Run it yourself (with the service running):

    python client.py [URL]        # URL defaults to http://localhost:3000 (`bentoml serve`'s address)
"""

from __future__ import annotations

import json
import sys
from typing import Any

import requests

SAMPLE_APPLICANT = {
    "seniority": 3, "home": "owner", "time": 36, "age": 26, "marital": "single", "records": "no",
    "job": "freelance", "expenses": 35, "income": 0.0, "assets": 60000.0, "debt": 3000.0,
    "amount": 800, "price": 1000,
}


def classify(url: str, applicant: dict[str, Any]) -> dict[str, Any]:
    """The service's decision for one applicant; raises requests.HTTPError when it rejects the request."""
    # TODO(1): POST the applicant to f"{url}/classify", wrapped under the parameter's name
    #          (notebook 03_serve.ipynb, section "Calling `/classify` with `requests`"), with a timeout.
    # TODO(2): turn an HTTP error (400 for an invalid applicant) into an exception before returning
    #          the JSON answer (notebook 06_validate.ipynb, section "Reading errors in a client").
    raise NotImplementedError("TODO(1): send the request and return the JSON answer")


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else "http://localhost:3000"
    try:
        print(json.dumps(classify(url, SAMPLE_APPLICANT)))
    except requests.HTTPError as err:
        print(f"rejected: {err.response.status_code} {err.response.text}", file=sys.stderr)
        return 1
    except requests.ConnectionError:
        print(f"no service at {url}: start it with `bentoml serve service:CreditRiskClassifier`",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
