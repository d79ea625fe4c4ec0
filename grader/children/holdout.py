"""Child process (no learner code): the labels of the course's held-out applicants.

Run as ``python -m grader.children.holdout IN OUT``; IN holds ``{"data": SOURCE}``. The labels stay
on the grader's side; the model child predicts the same applicants from their features only.
"""

from __future__ import annotations

import json
import sys

from grader.children import write_output


def main(in_path: str, out_path: str) -> None:
    from bentokit import data, training

    with open(in_path) as fh:
        source = json.load(fh).get("data")
    credit = data.load(source)
    _, labels = training.holdout(credit)
    write_output(out_path, {"labels": labels, "data": credit.description})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
