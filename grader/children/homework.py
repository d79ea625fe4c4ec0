"""Child process: import the learner's homework.py and report its answers.

Run as ``python -m grader.children.homework IN OUT`` in the submission folder; IN holds the JSON body of
Q3. Writes the answer constants, and for Q3 whether ``LoanQuery`` validates the body and its
JSON-schema field types.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

from grader.children import import_learner_file, write_output

ANSWERS = ("BENTOML_VERSION", "MODEL_SIZE", "XGBOOST_VERSION", "BENTO_STATUS", "FASTER_MODEL")


def q3_facts(cls: Any, body: dict[str, Any]) -> dict[str, Any]:
    try:
        schema = cls.model_json_schema()
    except Exception as err:  # noqa: BLE001 - not a pydantic model, or a broken one
        return {"error": f"LoanQuery is not a pydantic model: {type(err).__name__}: {err}"}
    facts: dict[str, Any] = {
        "types": {name: prop.get("type", "?") for name, prop in schema.get("properties", {}).items()},
        "required": sorted(schema.get("required", [])),
    }
    try:
        cls.model_validate(body)
        facts["validates"] = True
    except Exception as err:  # noqa: BLE001 - a ValidationError is the finding
        facts["validates"] = False
        facts["validation_error"] = str(err)[:400]
    return facts


def answers(body: dict[str, Any]) -> dict[str, Any]:
    try:
        module = import_learner_file("homework.py")
    except BaseException:  # noqa: BLE001 - any failure of the learner's import is the finding
        return {"error": "importing homework.py failed:\n" + traceback.format_exc(limit=-3)}
    out: dict[str, Any] = {name: json.loads(json.dumps(getattr(module, name, None), default=str))
                           for name in ANSWERS}
    cls = getattr(module, "LoanQuery", None)
    out["q3"] = (q3_facts(cls, body) if cls is not None
                 else {"error": "homework.py defines no class LoanQuery"})
    return out


def main(in_path: str, out_path: str) -> None:
    write_output(out_path, answers(json.loads(Path(in_path).read_text())))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
