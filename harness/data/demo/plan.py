"""The plan of a demo corpus: every label, speaker, split, sentence and prosody value, before audio.

Why apart from synthesis: the plan is pure and fast (no audio), so tests check the generative
model on thousands of utterances in a second, and the synthesis gets each utterance's settings
ready-made. The plan is drawn from one random generator seeded by ``seed``, in a fixed order, so
it is a function of ``(lang, n, seed)`` (and of the sentence files) alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.data.demo.sentences import add_cue, draw_sentence
from harness.data.demo.spec import (
    ATTRIBUTE_JITTER,
    LEXICAL_WEIGHT,
    MIN_N,
    PROSODY_JITTER,
    VALENCE_NOISE,
    VARIANTS,
    ClassSpec,
    LanguageSpec,
    language,
)
from harness.errors import HarnessError


@dataclass
class Utterance:
    id: str
    split: str
    speaker: str
    gender: str
    voice: str
    label: str
    arousal: float
    valence: float
    dominance: float
    text: str
    words: str
    """Which pool the sentence came from: ``class``, ``group`` or ``neutral``."""
    cue: str
    """The class whose opener starts the sentence (a weak cue), or empty."""
    pitch: float
    range_: float
    rate: float
    volume: float
    gain: float
    synth_seed: int
    pad_before: float
    pad_after: float


@dataclass(frozen=True)
class Speaker:
    id: str
    voice: str
    gender: str
    pitch: float
    rate: float


def plan_corpus(lang: str = "en", n: int = 1000, seed: int = 0) -> list[Utterance]:
    """Draw every label, sentence and prosody setting of the corpus; pure and fast (no audio)."""
    spec = language(lang)
    if n < MIN_N[lang]:
        raise HarnessError(
            f"a demo corpus of n={n} utterances is too small for {len(spec.classes)} classes "
            "in every split",
            fix=f"use n={MIN_N[lang]} or more",
        )
    rng = np.random.default_rng([seed, 20240])
    labels = _split_labels(spec, n, rng)
    speakers = _speakers(spec, n, rng)
    ids = [_utterance_id(lang, k) for k in rng.permutation(n) + 1]
    plan: list[Utterance] = []
    for split, split_labels in labels.items():
        order = rng.permutation(len(split_labels))
        pool = speakers[split]
        for position, index in enumerate(order):
            speaker = pool[position % len(pool)]
            plan.append(_utterance(spec, rng, ids[len(plan)], split, speaker, split_labels[index]))
    return plan


def _utterance_id(lang: str, k: int) -> str:
    return f"DEMO-EN_{k:05d}.wav" if lang == "en" else f"demo_es_{k:05d}.wav"


def _split_labels(spec: LanguageSpec, n: int, rng: np.random.Generator) -> dict[str, list[str]]:
    """Balanced evaluation splits of about 20 % each; Train takes the rest under its prior."""
    codes = [c.code for c in spec.classes]
    per_class = max(1, round(0.2 * n / len(codes)))
    eval_splits = ["Development", spec.eval_split] if spec.lang == "en" else [spec.eval_split]
    n_train = n - per_class * len(codes) * len(eval_splits)
    labels = {"Train": _allocate(spec.train_prior, n_train, minimum=set(codes))}
    for split in eval_splits:
        labels[split] = [code for code in codes for _ in range(per_class)]
    for split_labels in labels.values():
        rng.shuffle(split_labels)
    return labels


def _allocate(prior: dict[str, float], total: int, minimum: set[str]) -> list[str]:
    """Largest-remainder counts for ``prior``, with at least two of each code in ``minimum``."""
    codes = list(prior)
    raw = np.array([prior[c] for c in codes]) * total
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    for i, code in enumerate(codes):
        while code in minimum and counts[i] < 2:
            counts[i] += 1
            counts[int(np.argmax(counts))] -= 1
    return [code for code, count in zip(codes, counts) for _ in range(count)]


def _speakers(spec: LanguageSpec, n: int, rng: np.random.Generator) -> dict[str, list[Speaker]]:
    """About one speaker per 20 utterances, split 60/20/20 and never shared between splits."""
    eval_splits = ["Development", spec.eval_split] if spec.lang == "en" else [spec.eval_split]
    n_speakers = max(3 + 2 * len(eval_splits), n // 20)
    combos = [(voice, variant) for voice in spec.voices for variant in VARIANTS]
    order = rng.permutation(len(combos))
    speakers = []
    for k in range(n_speakers):
        voice, variant = combos[order[k % len(combos)]]
        speakers.append(
            Speaker(
                id=str(1001 + k),
                voice=f"{voice}+{variant}",
                gender="Male" if variant.startswith("m") else "Female",
                pitch=float(rng.normal(0.0, 8.0)),
                rate=float(rng.normal(0.0, 5.0)),
            )
        )
    n_eval = max(2, round(0.2 * n_speakers))
    result: dict[str, list[Speaker]] = {}
    start = 0
    for split in eval_splits:
        result[split] = speakers[start : start + n_eval]
        start += n_eval
    result["Train"] = speakers[start:]
    return {"Train": result["Train"], **{s: result[s] for s in eval_splits}}


def _utterance(
    spec: LanguageSpec,
    rng: np.random.Generator,
    utt_id: str,
    split: str,
    speaker: Speaker,
    label: str,
) -> Utterance:
    centre, words_of = _centre(spec, rng, label)
    arousal = centre.arousal + rng.normal(0.0, ATTRIBUTE_JITTER)
    dominance = centre.dominance + rng.normal(0.0, ATTRIBUTE_JITTER)
    valence0 = centre.valence + rng.normal(0.0, ATTRIBUTE_JITTER)
    text, words, lexical = draw_sentence(spec, rng, words_of)
    text, cue = add_cue(spec, rng, text, words_of, words)
    valence = (
        (1 - LEXICAL_WEIGHT) * valence0 + LEXICAL_WEIGHT * lexical + rng.normal(0.0, VALENCE_NOISE)
    )
    a, d, v = ((float(np.clip(x, 1, 7)) - 4.0) / 3.0 for x in (arousal, dominance, valence0))
    jitter = {k: rng.normal(0.0, s) for k, s in PROSODY_JITTER.items()}
    gain_db = min(0.0, 6 * a + 8 * d - 12 + jitter["gain_db"])
    return Utterance(
        id=utt_id,
        split=split,
        speaker=speaker.id,
        gender=speaker.gender,
        voice=speaker.voice,
        label=label,
        arousal=_scale(arousal),
        valence=_scale(valence),
        dominance=_scale(dominance),
        text=text,
        words=words,
        cue=cue,
        pitch=float(np.clip(32 * a - 10 * d + speaker.pitch + jitter["pitch"], -60, 90)),
        range_=float(np.clip(50 * a + 12 * v + jitter["range"], -90, 150)),
        rate=float(np.clip(22 * a + 6 * d + speaker.rate + jitter["rate"], -45, 60)),
        volume=float(np.clip(10 * a, -30, 30)),
        gain=float(10 ** (gain_db / 20)),
        synth_seed=int(rng.integers(1, 2**31 - 1)),
        pad_before=float(rng.uniform(0.08, 0.3)),
        pad_after=float(rng.uniform(0.1, 0.35)),
    )


def _scale(value: float) -> float:
    return round(float(np.clip(value, 1.0, 7.0)), 1)


def _centre(spec: LanguageSpec, rng: np.random.Generator, label: str) -> tuple[ClassSpec, str]:
    """The class centre and the class whose words are used (O and X are mixtures)."""
    classes = {c.code: c for c in spec.classes}
    if label in classes:
        return classes[label], label
    if label == "O":  # other: somewhere in the middle, words of no particular class
        v, a, d = rng.uniform(3.0, 5.0, size=3)
        return ClassSpec("O", v, a, d, "neutral"), spec.neutral
    first, second = rng.choice(len(spec.classes), size=2, replace=False)  # X: no agreement
    c1, c2 = spec.classes[first], spec.classes[second]
    mid = ClassSpec(
        "X",
        (c1.valence + c2.valence) / 2,
        (c1.arousal + c2.arousal) / 2,
        (c1.dominance + c2.dominance) / 2,
        c1.group,
    )
    return mid, c1.code
