"""Randomised hidden probes: applicants generated at grading time from the contract.

Candidates mix the golden applicants' neighbourhoods with values drawn anywhere in the contract's
bounds; once the learner's own model has scored them (in a child process), :func:`select`
keeps probes on both sides of each decision threshold plus a random rest.
"""

from __future__ import annotations

import math
import random
import secrets
from typing import Any

from bentokit import contract

#: How far a service's probability may be from the one the grader expects (the live checks').
TOLERANCE = 0.0051
#: Fraction of fields a candidate re-draws from its golden starting point.
REDRAW = 0.5


def draw_number(rng: random.Random, field: str, base: float) -> float:
    lo, hi = contract.BOUNDS[field]
    if rng.random() < 0.25:  # anywhere in bounds, log-uniform so that small values are common
        value = math.expm1(rng.uniform(math.log1p(lo), math.log1p(hi)))
    else:  # near the golden value
        value = base * rng.uniform(0.3, 2.0) + rng.uniform(0, 20)
    value = min(max(value, lo), hi)
    return int(round(value)) if contract.FIELD_TYPES[field] is int else round(value, 2)


def candidates(count: int = 160, seed: int | None = None) -> list[dict[str, Any]]:
    """``count`` valid applicants; ``seed`` only for reproducible tests (default: fresh randomness)."""
    rng = random.Random(secrets.randbits(64) if seed is None else seed)
    golden = list(contract.GOLDEN_APPLICANTS.values())
    out = []
    for _ in range(count):
        applicant = dict(rng.choice(golden))
        for name in contract.FIELD_TYPES:
            if rng.random() >= REDRAW:
                continue
            if name in contract.CATEGORIES:
                applicant[name] = rng.choice(contract.CATEGORIES[name])
            else:
                applicant[name] = draw_number(rng, name, float(applicant[name]))
        for name, kind in contract.FIELD_TYPES.items():
            applicant[name] = kind(applicant[name])
        out.append(applicant)
    return out


#: How many hidden probes a grading sends.
COUNT = 12


def select(probabilities: list[float | None], count: int = COUNT, seed: int | None = None,
           prefer: set[int] | None = None, pair: list[int] | None = None) -> list[int]:
    """Indexes of the probes: the closest candidate on each side of each threshold, those of ``pair``
    (the two that pin the served copy's move down best: see Run.probe_pair), then random ones, those in
    ``prefer`` first; never a candidate whose probability is None (one that proves nothing: see
    Run.tells)."""
    rng = random.Random(secrets.randbits(64) if seed is None else seed)
    chosen: list[int] = []
    found = [(i, p) for i, p in enumerate(probabilities) if p is not None]
    for threshold in (contract.MAYBE_ABOVE, contract.DECLINED_ABOVE):
        above = [i for i, p in found if threshold < p <= threshold + 0.1]
        below = [i for i, p in found if threshold - 0.1 <= p <= threshold]
        for side in (above, below):
            if side:
                chosen.append(min(side, key=lambda i: abs(probabilities[i] - threshold)))
    chosen += [i for i in dict.fromkeys(pair or ()) if i not in chosen and probabilities[i] is not None]
    rest = [i for i, _ in found if i not in chosen]
    rng.shuffle(rest)
    rest.sort(key=lambda i: i not in (prefer or ()))  # stable: shuffled within each kind
    chosen += rest[: max(0, count - len(chosen))]
    return chosen[:count]
