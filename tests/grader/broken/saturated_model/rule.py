"""The rule both the learner's model and service compute (red-team round 29): a margin of +-8 by records
alone, whose probabilities (0.0003, 0.9997) the grader's move of the served copy hardly changes."""

import math


def probability(records: str) -> float:
    return 1 / (1 + math.exp(-(-8.0 if records == "no" else 8.0)))
