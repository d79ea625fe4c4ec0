"""Child process (no learner code): the course's held-out applicants of the data the grader uses.

Run as ``python -m grader.children.holdout IN OUT``; IN holds ``{"data": SOURCE}``. Writes their
features and labels (the model child, learner code, gets the features only; the labels stay with
the grader) and keeps them in the grader's cache for the next grading on the same data.
"""

from __future__ import annotations

import json
import sys

from grader.children import write_output
from grader.facts.quality import keep_holdout


def split(source: str) -> dict:
    """The held-out ``{"features", "labels", "data"}`` of ``source``, kept in the cache too."""
    from bentokit import data, training

    credit = data.load(source)
    features, labels = training.holdout(credit)
    holdout = {"features": features, "labels": labels, "data": credit.description}
    keep_holdout(source, holdout)
    return holdout


def main(in_path: str, out_path: str) -> None:
    with open(in_path) as fh:
        source = json.load(fh).get("data")
    write_output(out_path, split(source))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
