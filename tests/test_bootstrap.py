"""Bootstrap intervals and paired tests: checked against a hand-written resampling loop."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from sklearn.metrics import f1_score

from scoring import (
    accuracy,
    bootstrap_ci,
    bootstrap_distribution,
    ccc,
    ccc_mean,
    macro_f1,
    paired_bootstrap,
    uar,
)

ODYSSEY = ("A", "S", "H", "U", "F", "D", "C", "N")


def noisy_labels(rng: np.random.Generator, n: int, hit: float) -> tuple[np.ndarray, np.ndarray]:
    y_true = rng.choice(ODYSSEY, size=n)
    y_pred = np.where(rng.random(n) < hit, y_true, rng.choice(ODYSSEY, size=n))
    return y_true, y_pred


def noisy_attributes(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, ...]:
    true = rng.uniform(1, 7, size=(n, 3))
    pred = true + rng.normal(0, noise, size=(n, 3))
    return true, pred


def test_distribution_equals_a_hand_written_sklearn_loop() -> None:
    """The fast path resamples rows jointly and scores each resample like sklearn would."""
    rng = np.random.default_rng(0)
    y_true, y_pred = noisy_labels(rng, 300, 0.4)
    n_boot, seed = 200, 11
    fast = bootstrap_distribution(
        partial(macro_f1, labels=ODYSSEY), y_true, y_pred, n_boot=n_boot, seed=seed
    )
    idx = np.random.default_rng(seed).integers(0, 300, size=(n_boot, 300))
    expected = [
        f1_score(y_true[i], y_pred[i], labels=list(ODYSSEY), average="macro", zero_division=0)
        for i in idx
    ]
    np.testing.assert_allclose(fast, expected, rtol=0, atol=1e-12)
    low, high = bootstrap_ci(
        partial(macro_f1, labels=ODYSSEY), y_true, y_pred, n_boot=n_boot, seed=seed
    )
    assert (low, high) == pytest.approx(tuple(np.percentile(expected, [2.5, 97.5])), abs=1e-12)


@pytest.mark.parametrize("metric", [macro_f1, accuracy, uar])
def test_categorical_fast_path_equals_generic_path(metric) -> None:
    rng = np.random.default_rng(1)
    y_true, y_pred = noisy_labels(rng, 150, 0.5)
    fast = bootstrap_distribution(partial(metric, labels=ODYSSEY), y_true, y_pred, n_boot=300)
    slow = bootstrap_distribution(
        partial(metric, labels=ODYSSEY), y_true, y_pred, n_boot=300, fast=False
    )
    assert fast.shape == (300,)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)
    assert np.std(fast) > 0  # resamples really differ


def test_labels_are_fixed_from_the_full_sample() -> None:
    """Without labels=, every resample still averages over the classes of the full sample."""
    rng = np.random.default_rng(2)
    y_true, y_pred = noisy_labels(rng, 40, 0.5)  # small: some resamples miss a class
    observed = sorted(set(y_true) | set(y_pred))
    fast = bootstrap_distribution(macro_f1, y_true, y_pred, n_boot=300)
    slow = bootstrap_distribution(
        lambda t, p: macro_f1(t, p, labels=observed), y_true, y_pred, n_boot=300
    )
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["ccc", "ccc_mean"])
def test_ccc_fast_path_equals_generic_path(kind: str) -> None:
    rng = np.random.default_rng(3)
    true, pred = noisy_attributes(rng, 120, 1.5)
    if kind == "ccc":
        args, metric = (pred[:, 0], true[:, 0]), ccc
    else:
        args, metric = (true, pred), ccc_mean
    fast = bootstrap_distribution(metric, *args, n_boot=200, seed=4)
    slow = bootstrap_distribution(metric, *args, n_boot=200, seed=4, fast=False)
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12)
    assert np.std(fast) > 0


def test_ci_contains_point_estimate_and_is_ordered() -> None:
    rng = np.random.default_rng(5)
    y_true, y_pred = noisy_labels(rng, 800, 0.4)
    metric = partial(macro_f1, labels=ODYSSEY)
    low, high = bootstrap_ci(metric, y_true, y_pred)
    assert low < metric(y_true, y_pred) < high
    true, pred = noisy_attributes(rng, 800, 1.5)
    low, high = bootstrap_ci(ccc_mean, true, pred)
    assert low < ccc_mean(true, pred) < high


def test_ci_shrinks_with_more_rows() -> None:
    rng = np.random.default_rng(6)
    metric = partial(macro_f1, labels=ODYSSEY)
    widths = []
    for n in (200, 3200):
        y_true, y_pred = noisy_labels(rng, n, 0.4)
        low, high = bootstrap_ci(metric, y_true, y_pred, n_boot=500)
        widths.append(high - low)
    # 16x the rows: about a quarter of the width.
    assert widths[1] < 0.5 * widths[0]


def test_ci_narrows_with_larger_alpha() -> None:
    rng = np.random.default_rng(7)
    true, pred = noisy_attributes(rng, 300, 1.0)
    low95, high95 = bootstrap_ci(ccc_mean, true, pred, alpha=0.05)
    low50, high50 = bootstrap_ci(ccc_mean, true, pred, alpha=0.5)
    assert low95 < low50 < high50 < high95


def test_deterministic_for_a_seed_and_different_across_seeds() -> None:
    rng = np.random.default_rng(8)
    y_true, y_pred = noisy_labels(rng, 500, 0.4)
    metric = partial(macro_f1, labels=ODYSSEY)
    first = bootstrap_ci(metric, y_true, y_pred, seed=123)
    assert bootstrap_ci(metric, y_true, y_pred, seed=123) == first
    assert bootstrap_ci(metric, y_true, y_pred, seed=124) != first


def test_chunked_resampling_covers_every_resample(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small chunks (as for a huge test set) give exactly the unchunked results at one seed."""
    import scoring.bootstrap as bootstrap_module

    rng = np.random.default_rng(9)
    y_true, y_pred = noisy_labels(rng, 100, 0.4)
    _, y_other = noisy_labels(rng, 100, 0.2)
    true, pred = noisy_attributes(rng, 100, 1.5)
    metric = partial(macro_f1, labels=ODYSSEY)
    chunk_sizes: list[int] = []
    original = bootstrap_module._chunks

    def recording_chunks(n_rows: int, n_boot: int, seed: int | None):
        for idx in original(n_rows, n_boot, seed):
            chunk_sizes.append(len(idx))
            yield idx

    monkeypatch.setattr(bootstrap_module, "_chunks", recording_chunks)

    def results() -> tuple:
        return (
            bootstrap_distribution(metric, y_true, y_pred, n_boot=50, seed=21),
            bootstrap_distribution(ccc_mean, true, pred, n_boot=50, seed=21),
            bootstrap_ci(metric, y_true, y_pred, n_boot=50, seed=21),
            paired_bootstrap(metric, y_true, y_pred, y_other, n_boot=50, seed=21),
        )

    whole = results()
    assert chunk_sizes == [50] * 4  # one chunk per call (paired: one stream for both systems)
    chunk_sizes.clear()
    monkeypatch.setattr(bootstrap_module, "_CHUNK_ELEMENTS", 100 * 7)  # 7 resamples per chunk
    chunked = results()
    assert chunk_sizes == ([7] * 7 + [1]) * 4  # really chunked, last chunk partial
    for a, b in zip(whole[:2], chunked[:2]):
        np.testing.assert_array_equal(a, b)
    assert whole[2] == chunked[2]
    assert whole[3] == chunked[3]
    stats = chunked[0]
    assert stats.shape == (50,)
    assert np.all((stats >= 0) & (stats <= 1))
    assert len(np.unique(stats)) > 10
    # The shared stream is the hand-written one: rows of default_rng(seed).integers(0, n).
    idx = np.random.default_rng(21).integers(0, 100, size=(50, 100))
    np.testing.assert_allclose(stats, [metric(y_true[i], y_pred[i]) for i in idx], atol=1e-12)


def test_generic_fallback_for_any_callable() -> None:
    rng = np.random.default_rng(10)
    a = rng.normal(size=200)
    b = a + rng.normal(0.5, 0.2, size=200)

    def mean_absolute_error(x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(np.abs(x - y)))

    low, high = bootstrap_ci(mean_absolute_error, a, b, n_boot=300)
    assert low < mean_absolute_error(a, b) < high
    assert 0.4 < low < high < 0.6


def test_input_errors() -> None:
    with pytest.raises(ValueError, match="equal lengths"):
        bootstrap_ci(macro_f1, ["A", "S"], ["A"])
    with pytest.raises(ValueError, match="empty"):
        bootstrap_ci(macro_f1, [], [])
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ci(macro_f1, ["A"], ["A"], n_boot=0)
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_ci(macro_f1, ["A"], ["A"], alpha=1.5)
    with pytest.raises(ValueError, match="position 1"):
        bootstrap_ci(partial(macro_f1, labels=ODYSSEY), ["A", "O"], ["A", "A"])
    with pytest.raises(ValueError, match="non-finite"):
        bootstrap_ci(ccc, [1.0, np.nan], [1.0, 2.0])


# -- paired tests -------------------------------------------------------------------------------
def test_identical_systems_have_no_difference() -> None:
    rng = np.random.default_rng(11)
    y_true, y_pred = noisy_labels(rng, 400, 0.4)
    result = paired_bootstrap(partial(macro_f1, labels=ODYSSEY), y_true, y_pred, y_pred.copy())
    assert result["delta"] == 0.0
    assert result["p_value"] == 1.0
    assert result["ci_low"] == 0.0 and result["ci_high"] == 0.0


def test_clearly_better_system_has_small_p_value() -> None:
    rng = np.random.default_rng(12)
    y_true = rng.choice(ODYSSEY, size=600)
    good = np.where(rng.random(600) < 0.7, y_true, rng.choice(ODYSSEY, size=600))
    bad = np.where(rng.random(600) < 0.2, y_true, rng.choice(ODYSSEY, size=600))
    metric = partial(macro_f1, labels=ODYSSEY)
    result = paired_bootstrap(metric, y_true, good, bad)
    assert result["delta"] == pytest.approx(metric(y_true, good) - metric(y_true, bad))
    assert result["delta"] > 0.3
    assert 0 < result["ci_low"] < result["delta"] < result["ci_high"]
    assert result["p_value"] < 0.01
    # Swapped: the same evidence with the opposite sign.
    swapped = paired_bootstrap(metric, y_true, bad, good)
    assert swapped["delta"] == pytest.approx(-result["delta"])
    assert swapped["ci_high"] < 0
    assert swapped["p_value"] == result["p_value"]


def test_near_identical_systems_are_not_significant() -> None:
    rng = np.random.default_rng(13)
    y_true, pred_a = noisy_labels(rng, 300, 0.4)
    pred_b = pred_a.copy()
    flip = rng.choice(300, size=3, replace=False)
    pred_b[flip] = rng.choice(ODYSSEY, size=3)
    result = paired_bootstrap(partial(macro_f1, labels=ODYSSEY), y_true, pred_a, pred_b)
    assert result["p_value"] > 0.2
    assert result["ci_low"] <= 0 <= result["ci_high"]


def test_paired_attributes_and_generic_agree() -> None:
    rng = np.random.default_rng(14)
    true, good = noisy_attributes(rng, 300, 0.8)
    bad = true + rng.normal(0, 2.5, size=true.shape)
    fast = paired_bootstrap(ccc_mean, true, good, bad, n_boot=300)
    slow = paired_bootstrap(lambda t, p: ccc_mean(t, p), true, good, bad, n_boot=300)
    assert fast["p_value"] < 0.01 and fast["delta"] > 0
    for key in ("delta", "ci_low", "ci_high", "p_value"):
        assert fast[key] == pytest.approx(slow[key], abs=1e-12)


def test_paired_p_value_matches_its_definition() -> None:
    rng = np.random.default_rng(15)
    y_true, pred_a = noisy_labels(rng, 200, 0.45)
    _, pred_b = noisy_labels(rng, 200, 0.40)
    pred_b = np.where(rng.random(200) < 0.4, y_true, pred_b)
    metric = partial(macro_f1, labels=ODYSSEY)
    result = paired_bootstrap(metric, y_true, pred_a, pred_b, n_boot=400, seed=3)
    deltas = bootstrap_distribution(
        metric, y_true, pred_a, n_boot=400, seed=3
    ) - bootstrap_distribution(metric, y_true, pred_b, n_boot=400, seed=3)
    if result["delta"] > 0:
        flipped = np.count_nonzero(deltas <= 0)
    else:
        flipped = np.count_nonzero(deltas >= 0)
    assert result["p_value"] == pytest.approx(min(1.0, 2 * (flipped + 1) / 401))
    assert 0 < result["p_value"] <= 1


def test_missing_label_in_a_list_is_reported_as_missing() -> None:
    with pytest.raises(ValueError, match="missing value .* at position 1"):
        bootstrap_ci(partial(macro_f1, labels=ODYSSEY), ["A", float("nan")], ["A", "S"])
