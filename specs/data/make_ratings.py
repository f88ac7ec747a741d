"""Write ratings.npz, the users x items ratings of specs/imputation.ae.

    python specs/data/make_ratings.py

A synthetic recommender's matrix: 1,500 users rate 100 items from 1 to 5 stars. Each
user's taste and each item's character are points in a space of 4 dimensions; a rating is
their agreement plus a small item bias (some items are liked by most) and noise, rounded to
whole stars, then scaled to [0, 1] ((stars - 1) / 4). Most users rate few items: each rates
between 5% and 40% of them (22% on average), chosen at random; every other entry is NaN,
unobserved. Row and column means leave most of the taste unexplained, and a model that
finds the 4 dimensions from the observed ratings imputes the rest far better.
Seeded: the same bytes every run.

x: (1500, 100) float32, NaN where unobserved; stars: the same ratings as whole stars, every
entry (the truth the NaN hide, for inspection only: no spec reads it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

USERS, ITEMS, RANK = 1500, 100, 4


def main() -> None:
    rng = np.random.default_rng(0)
    taste = rng.normal(0, 1, (USERS, RANK))
    character = rng.normal(0, 1, (ITEMS, RANK))
    bias = rng.normal(0, 0.3, ITEMS)
    score = taste @ character.T / np.sqrt(RANK) + bias + rng.normal(0, 0.25, (USERS, ITEMS))
    stars = np.clip(np.round(3 + 1.2 * score), 1, 5)
    share = rng.uniform(0.05, 0.4, (USERS, 1))  # how much of the catalogue each user rates
    observed = rng.random((USERS, ITEMS)) < share
    x = np.where(observed, (stars - 1) / 4, np.nan).astype(np.float32)
    np.savez_compressed(Path(__file__).with_name("ratings.npz"), x=x,
                        stars=stars.astype(np.uint8))


if __name__ == "__main__":
    main()
