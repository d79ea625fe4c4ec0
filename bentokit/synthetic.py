"""A deterministic stand-in for ``CreditScoring.csv``, for machines with no network.

It has the raw file's 14 integer-coded columns, the real value ranges and category shares,
the ``99999999`` missing-value code, one row of unknown status, and a default risk that
depends on the features the way the real data's does (records, job, seniority, income,
assets, loan-to-price ratio), so the course model learns something real from it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MISSING_CODE = 99999999


def _codes(rng: np.random.Generator, shares: dict[int, float], size: int) -> np.ndarray:
    codes = np.array(list(shares))
    weights = np.array(list(shares.values()), dtype=float)
    return rng.choice(codes, size=size, p=weights / weights.sum())


def generate_raw(rows: int = 4455, seed: int = 42) -> pd.DataFrame:
    """Raw, integer-coded rows in the column order of the course's CSV."""
    rng = np.random.default_rng(seed)
    age = np.clip(rng.normal(37, 11, rows), 18, 68).round().astype(int)
    seniority = np.clip(rng.exponential(8, rows), 0, np.minimum(age - 16, 48)).astype(int)
    home = _codes(rng, {1: 973, 2: 2107, 3: 247, 4: 20, 5: 783, 6: 319, 0: 6}, rows)
    marital = _codes(rng, {1: 978, 2: 3241, 3: 67, 4: 130, 5: 38, 0: 1}, rows)
    records = _codes(rng, {1: 3682, 2: 773}, rows)
    job = _codes(rng, {1: 2806, 2: 452, 3: 1024, 4: 171, 0: 2}, rows)
    for column, codes in ((home, range(7)), (marital, range(6)), (job, range(5))):
        column[: len(codes)] = list(codes)  # every category appears, as in the real file
    time = rng.choice([6, 12, 18, 24, 30, 36, 42, 48, 54, 60, 72], size=rows,
                      p=[.02, .06, .04, .1, .03, .16, .03, .17, .03, .3, .06])
    expenses = np.clip(35 + 15 * (marital == 2) + rng.gamma(2.0, 9.0, rows), 35, 180).astype(int)
    income = np.clip(rng.lognormal(4.8, 0.45, rows) + 2 * seniority, 0, 959).round()
    income[rng.random(rows) < 0.08] = 0
    assets = np.where(rng.random(rows) < 0.35, 0, rng.lognormal(8.5, 1.0, rows)).clip(0, 300000).round()
    debt = np.where(rng.random(rows) < 0.82, 0, rng.lognormal(7.2, 0.9, rows)).clip(0, 30000).round()
    price = np.clip(rng.lognormal(7.25, 0.38, rows), 105, 11140).round()
    amount = np.clip(price * rng.uniform(0.35, 1.0, rows), 100, 5000).round(-1)

    # Risk of default in log-odds, shaped after the real data's medians and shares.
    logit = (
        -0.9
        + 1.6 * (records == 2)
        + np.select([job == 2, job == 3, job == 4], [1.3, 0.55, 0.7], 0.0)
        - 0.06 * np.minimum(seniority, 25)
        - 0.009 * (income - 130) * (income > 0) + 0.9 * (income == 0)
        - 0.35 * np.log1p(assets / 1000)
        + 0.25 * np.log1p(debt / 1000)
        + 2.4 * (amount / price - 0.7)
        + np.select([home == 1, home == 5, home == 6, home == 2], [0.45, 0.1, 0.55, -0.5], 0.0)
        + 0.012 * (time - 46)
        - 0.01 * (age - 37)
        + 0.3 * (marital != 2)
    )
    default = rng.random(rows) < 1 / (1 + np.exp(-logit))
    status = np.where(default, 2, 1)
    status[rng.integers(rows)] = 0  # the one row of unknown status the course drops

    frame = pd.DataFrame({
        "Status": status, "Seniority": seniority, "Home": home, "Time": time, "Age": age,
        "Marital": marital, "Records": records, "Job": job, "Expenses": expenses,
        "Income": income, "Assets": assets, "Debt": debt, "Amount": amount, "Price": price,
    }).astype(np.int64)
    for column, share in (("Income", 0.008), ("Assets", 0.01), ("Debt", 0.004)):
        frame.loc[rng.random(rows) < share, column] = MISSING_CODE
    return frame
