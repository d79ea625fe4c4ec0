"""Child process: import the learner's client.py and call its ``classify(url, applicant)``.

Run as ``python -m grader.children.client IN OUT`` in the submission folder; IN holds
``{"url": ..., "applicants": {name: applicant}}``. Writes each answer, or the exception raised.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

from grader.children import import_learner_file, write_output


def call_all(url: str, applicants: dict[str, Any]) -> dict[str, Any]:
    try:
        module = import_learner_file("client.py")
    except BaseException:  # noqa: BLE001 - any failure of the learner's import is the finding
        return {"imported": False, "error": traceback.format_exc(limit=-3)}  # down to the learner's line
    classify = getattr(module, "classify", None)
    if not callable(classify):
        return {"imported": True, "error": "client.py defines no function classify(url, applicant)"}
    answers: dict[str, Any] = {}
    for name, applicant in applicants.items():
        try:
            answers[name] = {"answer": json.loads(json.dumps(classify(url, applicant), default=str))}
        except Exception as err:  # noqa: BLE001 - recorded for the check
            answers[name] = {"raised": f"{type(err).__name__}: {err}"[:300]}
    return {"imported": True, "answers": answers}


def main(in_path: str, out_path: str) -> None:
    request = json.loads(Path(in_path).read_text())
    write_output(out_path, call_all(request["url"], request["applicants"]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
