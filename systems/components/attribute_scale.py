"""Linear maps between the challenge's 1-7 attribute scale and a network's target range.

Why: the TalTech head ends in tanh and learns targets in [-1, 1]; the Odyssey 2024 baseline learns
[0, 1]. Predictions go back to 1-7 and are clipped there, so a submission is always in range.
"""

from __future__ import annotations

import numpy as np

from harness.errors import HarnessError

SCALES: dict[str, tuple[float, float]] = {"tanh": (-1.0, 1.0), "unit": (0.0, 1.0)}
"""name -> (low, high) of the network's target range."""
CHALLENGE_RANGE = (1.0, 7.0)


def check_scale(name: str) -> None:
    if name not in SCALES:
        raise HarnessError(f"unknown attribute_scale {name!r}", fix="use tanh or unit")


def to_network(values: np.ndarray, scale: str) -> np.ndarray:
    """Challenge values (1-7) -> the network's range."""
    low, high = SCALES[scale]
    c_low, c_high = CHALLENGE_RANGE
    return low + (values - c_low) * (high - low) / (c_high - c_low)


def to_challenge(values: np.ndarray, scale: str) -> np.ndarray:
    """Network outputs -> 1-7, clipped."""
    low, high = SCALES[scale]
    c_low, c_high = CHALLENGE_RANGE
    return np.clip(
        c_low + (np.asarray(values, np.float64) - low) * (c_high - c_low) / (high - low),
        c_low,
        c_high,
    )
