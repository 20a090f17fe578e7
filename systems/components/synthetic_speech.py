"""A tiny pitch-coded stand-in corpus for tests and benchmarks of audio systems.

Why, beside the eSpeak demo corpus: unit tests of neural audio systems must learn something in a
few seconds, and must not depend on eSpeak or on the demo corpus being built. Here each class has
its own pitch, loudness and syllable rate (the cues that carry arousal), so a tiny model separates
the classes after a couple of epochs, and A/V/D values follow the class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

PITCH: dict[str, float] = {
    "A": 300.0,
    "H": 220.0,
    "S": 140.0,
    "N": 100.0,
    "O": 180.0,
    "X": 120.0,
    "U": 260.0,
    "F": 200.0,
    "D": 160.0,
    "C": 115.0,
}
AROUSAL: dict[str, float] = {"A": 6.0, "H": 5.0, "S": 2.5, "N": 3.5}


def utterance(code: str, rng: np.random.Generator, seconds: float) -> np.ndarray:
    """A harmonic 'voice' whose pitch, loudness and syllable rate code the class."""
    t = np.arange(int(seconds * 16_000)) / 16_000
    f0 = PITCH[code] * rng.uniform(0.92, 1.08) * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / 16_000
    voice = sum(np.sin(k * phase) / k for k in range(1, 6))
    rate = {"A": 6.0, "H": 5.0}.get(code, 3.0)
    syllables = (np.sin(2 * np.pi * rate * t + rng.uniform(0, 6)) > -0.2).astype(float)
    loud = {"A": 0.3, "H": 0.2}.get(code, 0.08)
    return (loud * voice * syllables + 0.005 * rng.standard_normal(t.size)).astype(np.float32)


def synthetic_corpus(
    root: str | Path,
    n_per_class: int = 12,
    seed: int = 0,
    codes: tuple[str, ...] = ("A", "H", "S", "N", "O", "X"),
) -> pd.DataFrame:
    """Write WAVs under ``root`` and return a Manifest with Train, Development and Test3.

    Train has every code in ``codes`` (``n_per_class`` each); Development and Test3 have the first
    four codes (``n_per_class // 2`` each), so O and X stay train-only as in MSP-Podcast.
    """
    from harness.data.audio import write_audio
    from harness.data.manifest import make_manifest

    root = Path(root)
    rng = np.random.default_rng(seed)
    rows = []
    for split, count in (
        ("Train", n_per_class),
        ("Development", n_per_class // 2),
        ("Test3", n_per_class // 2),
    ):
        for code in codes if split == "Train" else codes[:4]:
            for i in range(count):
                seconds = float(rng.uniform(1.0, 2.2))
                path = root / split / f"{code}{i:03d}.wav"
                write_audio(path, utterance(code, rng, seconds))
                arousal = AROUSAL.get(code, 4.0) + rng.normal(0, 0.3)
                rows.append(
                    {
                        "id": f"{split}-{code}{i:03d}",
                        "path": str(path),
                        "split": split,
                        "speaker": f"spk{i % 3}",
                        "gender": "F",
                        "label": code,
                        "arousal": arousal,
                        "valence": 4 + rng.normal(0, 0.5),
                        "dominance": arousal * 0.6 + 1.5,
                        "duration": seconds,
                    }
                )
    return make_manifest(pd.DataFrame(rows), "synthetic")
