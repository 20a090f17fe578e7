"""The demo sentences: read the editable pools in ``sentences/<lang>.yaml`` and draw from them.

Why data files: the templates, slot fillers and openers are what a reader most wants to change
(another language, more varied wording), and a YAML file can be edited without reading the
generator. The draws happen here, in a fixed order from the plan's random generator, so the same
files and seed always give the same sentences. A file that does not have the expected shape is
one :class:`~harness.errors.HarnessError` naming the file and what is wrong.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from harness.data.demo.spec import (
    GROUP_VALENCE,
    NEUTRAL_CLASS_DRAW,
    P_CLASS,
    P_CUE,
    P_GROUP,
    P_OWN_CUE,
    LanguageSpec,
)
from harness.data.demo.spec import language as _language
from harness.errors import HarnessError


@dataclass(frozen=True)
class SentencePools:
    """One language's sentence material, in file order (the order the draws depend on)."""

    slots: dict[str, tuple[str, ...]]
    pools: dict[str, tuple[str, ...]]
    cues: dict[str, tuple[str, ...]]


@cache
def sentence_pools(lang: str) -> SentencePools:
    """Read and check ``sentences/<lang>.yaml`` (once per process)."""
    import yaml

    spec = _language(lang)
    source = resources.files("harness.data.demo") / "sentences" / f"{lang}.yaml"
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise HarnessError(f"cannot read the demo sentences ({exc})", file=str(source)) from None
    fix = "compare it with the file shipped with the harness"
    if not isinstance(data, dict):
        raise HarnessError(
            "expected a mapping with slots, pools and cues", file=str(source), fix=fix
        )
    parts = {key: _lists(data.get(key), key, source) for key in ("slots", "pools", "cues")}
    pools = SentencePools(**parts)
    problem = _check(pools, spec)
    if problem:
        raise HarnessError(problem, file=str(source), fix=fix)
    return pools


def _lists(section, key: str, source) -> dict[str, tuple[str, ...]]:
    """A mapping of names to non-empty lists of strings, as tuples."""
    if not isinstance(section, dict) or not section:
        raise HarnessError(f"section {key!r} is missing or not a mapping", file=str(source))
    result = {}
    for name, items in section.items():
        if not isinstance(items, list) or not items or not all(isinstance(s, str) for s in items):
            raise HarnessError(
                f"{key}.{name} must be a non-empty list of strings", file=str(source)
            )
        result[str(name)] = tuple(items)
    return result


def _check(pools: SentencePools, spec: LanguageSpec) -> str | None:
    """What is wrong with ``pools`` for ``spec``, or None."""
    codes = [c.code for c in spec.classes]
    needed = set(GROUP_VALENCE) | set(codes) - {spec.neutral}
    missing = sorted(needed - set(pools.pools))
    if missing:
        return f"pools has no {missing}"
    missing = sorted(set(codes) - set(pools.cues))
    if missing:
        return f"cues has no {missing}"
    for name, templates in pools.pools.items():
        for template in templates:
            fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
            unknown = sorted(fields - set(pools.slots))
            if unknown:
                return f"pools.{name}: {template!r} uses unknown slot(s) {unknown}"
    return None


def draw_sentence(
    spec: LanguageSpec, rng: np.random.Generator, code: str
) -> tuple[str, str, float]:
    """A sentence for class ``code``: its own words, its group's words, or neutral words.

    Returns the text, which pool kind it came from (``class``, ``group`` or ``neutral``) and the
    valence its words carry.
    """
    material = sentence_pools(spec.lang)
    pools, slots = material.pools, material.slots
    centre = next(c for c in spec.classes if c.code == code)
    draw = rng.random()
    if code == spec.neutral:
        kind = next(pool for pool, upper in NEUTRAL_CLASS_DRAW if draw < upper)
        words, lexical = ("neutral" if kind == "neutral" else "group"), GROUP_VALENCE[kind]
    elif draw < P_CLASS:
        kind, words, lexical = code, "class", centre.valence
    elif draw < P_CLASS + P_GROUP:
        kind, words, lexical = centre.group, "group", GROUP_VALENCE[centre.group]
    else:
        kind, words, lexical = "neutral", "neutral", GROUP_VALENCE["neutral"]
    pool = pools[kind]
    template = pool[int(rng.integers(len(pool)))]
    filled = template.format(**{k: v[int(rng.integers(len(v)))] for k, v in slots.items()})
    return tidy(filled, spec.lang), words, float(lexical)


def add_cue(
    spec: LanguageSpec, rng: np.random.Generator, text: str, code: str, words: str
) -> tuple[str, str]:
    """Maybe start a non-class sentence with an opener, usually of another class than ``code``.

    Openers give graded evidence (the own class's opener is only a few times likelier than any
    other), which is where a classifier's train prior decides, and prior correction matters.
    """
    if words == "class" or rng.random() >= P_CUE:
        return text, ""
    cues = sentence_pools(spec.lang).cues
    classes = [c.code for c in spec.classes]
    cue = code if rng.random() < P_OWN_CUE else classes[int(rng.integers(len(classes)))]
    opener = cues[cue][int(rng.integers(len(cues[cue])))]
    first = text.split(" ", 1)[0]
    if opener[-1] not in ".!?" and first not in ("I", "I'm"):
        for i, char in enumerate(text):
            if char.isalpha():
                text = text[:i] + char.lower() + text[i + 1 :]
                break
    return f"{opener} {text}", cue


def tidy(text: str, lang: str) -> str:
    """Contract Spanish ``de el``/``a el`` and capitalise the first letter (after any ¡ or ¿)."""
    if lang == "es":
        for before, after in ((" de el ", " del "), (" a el ", " al ")):
            text = text.replace(before, after)
    for i, char in enumerate(text):
        if char.isalpha():
            return text[:i] + char.upper() + text[i + 1 :]
    return text
