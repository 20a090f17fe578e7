"""Scoring speed, with scikit-learn as the yardstick.

Run with ``python -m pytest benchmarks/bench_scoring.py --benchmark-enable`` (the project's pytest
options disable benchmarks by default so that the test suite stays fast).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from sklearn.metrics import f1_score

from scoring import bootstrap_ci, ccc, macro_f1

ODYSSEY = np.array(["A", "S", "H", "U", "F", "D", "C", "N"])
N_ROWS = 1_000_000


@pytest.fixture(scope="module")
def labels_1m() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y_true = rng.choice(ODYSSEY, size=N_ROWS)
    y_pred = np.where(rng.random(N_ROWS) < 0.4, y_true, rng.choice(ODYSSEY, size=N_ROWS))
    return y_true, y_pred


@pytest.fixture(scope="module")
def attributes_1m() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    true = rng.uniform(1, 7, size=N_ROWS)
    return true + rng.normal(0, 1, size=N_ROWS), true


def test_macro_f1_1m(benchmark, labels_1m) -> None:
    y_true, y_pred = labels_1m
    value = benchmark(macro_f1, y_true, y_pred, ODYSSEY)
    assert value == f1_score(y_true, y_pred, labels=ODYSSEY, average="macro", zero_division=0)


def test_ccc_1m(benchmark, attributes_1m) -> None:
    pred, true = attributes_1m
    value = benchmark(ccc, pred, true)
    assert 0.0 < value < 1.0


def test_sklearn_f1_score_1m(benchmark, labels_1m) -> None:
    y_true, y_pred = labels_1m
    value = benchmark.pedantic(
        f1_score,
        args=(y_true, y_pred),
        kwargs={"labels": ODYSSEY, "average": "macro", "zero_division": 0},
        rounds=5,
        iterations=1,
    )
    assert value == macro_f1(y_true, y_pred, ODYSSEY)


def test_bootstrap_ci_2000x1000(benchmark, labels_1m) -> None:
    y_true, y_pred = labels_1m[0][:2000], labels_1m[1][:2000]
    low, high = benchmark(bootstrap_ci, partial(macro_f1, labels=ODYSSEY), y_true, y_pred)
    assert low < macro_f1(y_true, y_pred, ODYSSEY) < high
