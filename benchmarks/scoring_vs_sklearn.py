"""Time the harness's Task 1 + Task 2 scoring against scikit-learn on 1,000,000 rows.

    python benchmarks/scoring_vs_sklearn.py [--rows N] [--repeats R]

The reference is what a researcher would otherwise write: ``sklearn.metrics.f1_score`` for
macro-F1 and the CCC formula in plain numpy. The values must agree (macro-F1 to the bit), and the
script exits non-zero if they do not or if the speed-up falls below ``--min-ratio``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

# Run as a script, Python puts benchmarks/ first on the path, not the repository root; an editable
# install made before scoring/ had an __init__.py would then hand back an empty namespace package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scoring import ccc, macro_f1  # noqa: E402

ODYSSEY = np.array(["A", "S", "H", "U", "F", "D", "C", "N"])


def numpy_ccc(pred: np.ndarray, true: np.ndarray) -> float:
    """The official formula, population moments, nothing clever."""
    cov = np.mean((pred - pred.mean()) * (true - true.mean()))
    return float(2 * cov / (pred.var() + true.var() + (pred.mean() - true.mean()) ** 2))


def best_of(repeats: int, func: Callable[[], tuple[float, float]]) -> tuple[float, tuple]:
    best, result = float("inf"), ()
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-ratio", type=float, default=10.0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    y_true = rng.choice(ODYSSEY, size=args.rows)
    y_pred = np.where(rng.random(args.rows) < 0.4, y_true, rng.choice(ODYSSEY, size=args.rows))
    true = rng.uniform(1, 7, size=args.rows)
    pred = np.clip(0.7 * true + rng.normal(1.2, 1.0, size=args.rows), 1, 7)

    def harness() -> tuple[float, float]:
        return macro_f1(y_true, y_pred, ODYSSEY), ccc(pred, true)

    def reference() -> tuple[float, float]:
        f1 = f1_score(y_true, y_pred, labels=ODYSSEY, average="macro", zero_division=0)
        return float(f1), numpy_ccc(pred, true)

    harness()  # warm caches and lazy imports for both sides
    reference()
    t_harness, (f1_h, ccc_h) = best_of(args.repeats, harness)
    t_reference, (f1_r, ccc_r) = best_of(args.repeats, reference)

    print(f"rows: {args.rows:,}  (best of {args.repeats})")
    print(f"harness  macro-F1 + CCC: {t_harness * 1000:8.1f} ms  F1={f1_h!r} CCC={ccc_h!r}")
    print(f"sklearn + numpy CCC   : {t_reference * 1000:8.1f} ms  F1={f1_r!r} CCC={ccc_r!r}")
    ratio = t_reference / t_harness
    print(f"speed-up: {ratio:.1f}x")

    if f1_h != f1_r:
        print(f"FAIL: macro-F1 differs: {f1_h!r} != {f1_r!r}", file=sys.stderr)
        return 1
    if not np.isclose(ccc_h, ccc_r, rtol=1e-12, atol=0):
        print(f"FAIL: CCC differs: {ccc_h!r} != {ccc_r!r}", file=sys.stderr)
        return 1
    if ratio < args.min_ratio:
        print(f"FAIL: speed-up {ratio:.1f}x is below {args.min_ratio}x", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
