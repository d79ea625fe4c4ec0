"""The model's quality measured by the grader: held-out AUC from its own predictions.

The learner's metadata says what AUC the model had; the grader measures it on the course's
held-out applicants of the data it grades with, and compares both with a floor.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bentokit import cache

#: The kit's code the held-out split depends on: a change to any of these makes a new cache entry.
SPLIT_CODE = ("contract.py", "data.py", "synthetic.py", "training.py")

#: The course's model reaches about 0.83 on the real data and 0.78 on the kit's generated data;
#: a first decision tree of the course about 0.75. Below 0.70 a model ranks applicants barely
#: better than by chance (0.5, a constant answer).
AUC_FLOOR = 0.70
#: How far the recorded AUC may be from the measured one. A model trained on the real data and
#: measured on the generated data (or the other way round) honestly differs by up to 0.072
#: (0.831 recorded, 0.759 measured); a made-up figure for a near-constant model differs by ~0.4.
AUC_TOLERANCE = 0.10


def auc(labels: list[int], scores: list[float]) -> float:
    """ROC AUC by its definition: the share of (default, non-default) pairs ranked right, ties half.

    Written by hand (a rank sum, O(n log n)) so that the grader's own process does not import
    scikit-learn (seconds) for one number; the tests compare it with sklearn's roc_auc_score.
    """
    pairs = sorted(zip(scores, labels, strict=True))
    positives = sum(labels)
    negatives = len(labels) - positives
    if not positives or not negatives:
        raise ValueError("AUC needs both classes")
    rank_sum, i = 0.0, 0
    while i < len(pairs):  # average ranks over ties
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        rank = (i + 1 + j) / 2
        rank_sum += rank * sum(label for _, label in pairs[i:j])
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


@dataclass
class Quality:
    """The measured AUC, the recorded one, and on which data."""

    measured: float | None = None
    recorded: float | None = None
    data: str = ""
    error: str = ""


# The held-out applicants cost a child seconds of CPU (pandas, scikit-learn's split) and are the
# same for every grading on the same data: the first grading keeps them in the grader's own cache,
# private to its user (learner code runs as another user, or is the learner's own grading).
def holdout_cache(source: str) -> Path | None:
    """Where the held-out applicants of ``source`` are kept (None for a source not worth keeping)."""
    content = cache.data_bytes(source)  # "download" and anything else: read afresh
    if content is None:
        return None
    return cache.cache_dir() / "holdout" / f"{cache.key(cache.kit_code(SPLIT_CODE), content)}.json"


def cached_holdout(source: str) -> dict[str, Any] | None:
    """The kept ``{"features", "labels", "data"}`` of ``source``, or None."""
    try:
        path = holdout_cache(source)
        if path is None or not cache.trusted(path):
            return None
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict) or not {"features", "labels", "data"} <= found.keys():
        return None
    return found


def keep_holdout(source: str, holdout: dict[str, Any]) -> None:
    """Keep ``holdout`` for ``source``, readable by this user only (written whole, then renamed).

    A cache that cannot be written (a read-only home) only means the next grading computes it again.
    """
    try:
        path = holdout_cache(source)
        if path is None:
            return
        with tempfile.NamedTemporaryFile("w", dir=cache.folder(path.parent.name), delete=False,
                                         suffix=".tmp") as fh:
            json.dump(holdout, fh)
        os.replace(fh.name, path)
    except OSError:
        return
