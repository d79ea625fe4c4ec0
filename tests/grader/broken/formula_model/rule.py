"""The rule both the learner's model and service compute (red-team round 25): a probability from two
fields, records and a staircase on income, in enough values to pass as a model's answers."""

import math

LOW, HIGH = 0.12, 0.70
#: Income thresholds (integers: exact in XGBoost's float32) and the margin each step adds.
STEPS = [round(1.3 ** k) for k in range(2, 44)]
MARGINS = [1.0 - 2.0 * k / len(STEPS) for k in range(len(STEPS) + 1)]


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def income_margin(income: float) -> float:
    """The staircase: the margin of the first step whose threshold the income is below."""
    for threshold, margin in zip(STEPS, MARGINS, strict=False):
        if income < threshold:
            return margin
    return MARGINS[-1]


def probability(records: str, income: float) -> float:
    base = logit(LOW) if records == "no" else logit(HIGH)
    return 1 / (1 + math.exp(-(base + income_margin(income))))
