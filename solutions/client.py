"""Call the credit-risk service (reference solution).

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
    response = requests.post(f"{url}/classify", json={"credit_application": applicant}, timeout=30)
    response.raise_for_status()
    return response.json()


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
