"""Synthesis of one planned utterance: eSpeak speech with its prosody, padded, with a noise floor.

Why apart from the plan and the build: this is the only step that touches audio, and its output
bytes must be a function of the utterance's settings alone (eSpeak runs from a pristine state for
each utterance, see :mod:`harness.data.espeak`), so that the build can run it in any process, in
any order. Output is 16 kHz mono PCM16, the rate every system reads.
"""

from __future__ import annotations

import os
from dataclasses import asdict

import numpy as np

from harness.data.audio import SAMPLE_RATE
from harness.data.demo.plan import Utterance

NOISE_STD = 0.001  # about -60 dBFS
PEAK = 0.9


def render(utterance: Utterance | dict, path: str | os.PathLike) -> float:
    """Synthesise one planned utterance to a 16 kHz WAV; return its duration in seconds."""
    import soundfile as sf
    import soxr

    from harness.data import espeak

    u = utterance if isinstance(utterance, dict) else asdict(utterance)
    ssml = espeak.prosody_ssml(
        u["text"], pitch=u["pitch"], range_=u["range_"], rate=u["rate"], volume=u["volume"]
    )
    speech, rate = espeak.synthesize(ssml, u["voice"], seed=u["synth_seed"])
    speech = soxr.resample(speech, rate, SAMPLE_RATE).astype(np.float64)
    speech *= PEAK * u["gain"] / max(float(np.abs(speech).max()), 1e-6)
    rng = np.random.default_rng(u["synth_seed"])
    before, after = (int(u[k] * SAMPLE_RATE) for k in ("pad_before", "pad_after"))
    audio = np.concatenate([np.zeros(before), speech, np.zeros(after)])
    audio += rng.normal(0.0, NOISE_STD, size=audio.size)
    audio = np.clip(audio, -0.99, 0.99).astype(np.float32)
    # Written in place: the whole corpus directory is renamed into place only when complete.
    sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return audio.size / SAMPLE_RATE


def render_chunk(jobs: list[tuple[dict, str]]) -> list[float]:
    return [render(u, path) for u, path in jobs]
