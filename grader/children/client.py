"""Child process: import the learner's client.py and call its ``classify(url, applicant)``.

Run as ``python -m grader.children.client IN OUT`` in the submission folder; IN holds
``{"url": ..., "applicants": {name: applicant}}``. Writes each answer, or the exception raised.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from grader.children import write_output


def call_all(url: str, applicants: dict[str, Any]) -> dict[str, Any]:
    # The learner's folder on the path only now, as `python client.py` has it (the child starts with
    # ``-P``: nothing of the learner's is importable before this).
    sys.path.insert(0, str(Path.cwd()))
    spec = importlib.util.spec_from_file_location("learner_client", Path.cwd() / "client.py")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except BaseException:  # noqa: BLE001 - any failure of the learner's import is the finding
        return {"imported": False, "error": traceback.format_exc(limit=3)}
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
