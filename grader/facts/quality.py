"""The model's quality measured by the grader: held-out AUC from its own predictions.

The learner's metadata says what AUC the model had; the grader measures it on the course's
held-out applicants of the data it grades with, and compares both with a floor.
"""

from __future__ import annotations

from dataclasses import dataclass

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
