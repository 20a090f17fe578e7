"""Word error rate of ASR transcripts against reference transcripts.

Why our own: the score has to be comparable between ASR models and across runs, and it has to
ignore what is not a recognition error. Whisper writes "42" where a reference says "forty-two",
"Hello," where it says "hello", so both sides are normalised the same way first (case,
punctuation, digits to English words). The alignment is a plain word-level Levenshtein, so the
harness does not pull in a dependency for a dozen lines of dynamic programming; a test checks it
against jiwer where jiwer is installed.

The corpus-level WER is total edits over total reference words (not a mean of per-utterance
rates), the way ASR papers and jiwer report it, so long utterances weigh what they should.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**9, "billion"), (10**6, "million"), (10**3, "thousand"))
_ORDINAL_WORDS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}

# A number as people write it: 42, 1,000, 3.5, .5, 21st; optionally after a currency sign and
# before a percent sign.
_NUMBER = re.compile(
    r"(?P<cur>[$£€])?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?P<ord>st|nd|rd|th)?"
    r"(?P<pct>\s?%)?",
    re.IGNORECASE,
)
_CURRENCY = {"$": "dollars", "£": "pounds", "€": "euros"}
# Whole-word forms first, then suffixes (after the text is case-folded). "'s" becomes "is" on
# both sides, so a possessive stays the same on both and only "it's" / "it is" is reconciled.
_CONTRACTIONS = [
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"\bwon't\b", "will not"),
        (r"\bcan't\b", "can not"),
        (r"\bcannot\b", "can not"),
        (r"\bshan't\b", "shall not"),
        (r"\blet's\b", "let us"),
        (r"\bain't\b", "aint"),
        (r"n't\b", " not"),
        (r"'re\b", " are"),
        (r"'ve\b", " have"),
        (r"'ll\b", " will"),
        (r"'d\b", " would"),
        (r"'m\b", " am"),
        (r"'s\b", " is"),
    )
]
_SYMBOLS = {"&": " and ", "+": " plus ", "@": " at "}


def number_to_words(n: int) -> str:
    """Spell a non-negative integer in English words ("forty two"), without "and" or hyphens.

    Numbers of a trillion and more are read digit by digit, as nobody says them in speech.
    """
    if n < 0:
        return "minus " + number_to_words(-n)
    if n >= 10**12:
        return " ".join(_ONES[int(d)] for d in str(n))
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {number_to_words(rest)}" if rest else "")
    for scale, word in _SCALES:
        if n >= scale:
            head, rest = divmod(n, scale)
            return f"{number_to_words(head)} {word}" + (f" {number_to_words(rest)}" if rest else "")
    raise AssertionError("unreachable")  # pragma: no cover


def ordinal_words(n: int) -> str:
    """Ordinal words, e.g. 21 -> "twenty first": the cardinal with its last word made ordinal."""
    words = number_to_words(n).split()
    last = words[-1]
    if last in _ORDINAL_WORDS:
        words[-1] = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def _spell_number(match: re.Match[str]) -> str:
    raw = match.group("num").replace(",", "")
    whole, _, fraction = raw.partition(".")
    if match.group("ord") and not fraction:
        words = ordinal_words(int(whole))
    else:
        words = number_to_words(int(whole or "0"))
        if fraction:
            words += " point " + " ".join(_ONES[int(d)] for d in fraction)
        if match.group("ord"):
            words += " " + match.group("ord")
    if match.group("pct"):
        words += " percent"
    if match.group("cur"):
        words += " " + _CURRENCY[match.group("cur")]
    return f" {words} "


def normalize(text: str | None, *, english: bool = True) -> list[str]:
    """Words of ``text`` for scoring: case-folded, without punctuation, digits spelled out.

    English rules (``english=True``): digits become number words and contractions are expanded
    ("I've" -> "i have"), because Whisper writes "42" and "I've" where a reference may say
    "forty-two" and "I have", and neither is a recognition error. For other languages pass
    False: digits then stay digits on both sides and apostrophes are just dropped.
    Hyphens split words ("forty-two" -> "forty two") to match spelled numbers.
    """
    if _is_missing(text):
        return []
    text = unicodedata.normalize("NFKC", str(text)).replace("\u2019", "'")
    if english:
        text = _NUMBER.sub(_spell_number, text)
    for symbol, word in _SYMBOLS.items():
        text = text.replace(symbol, word)
    text = text.casefold()
    if english:
        for pattern, replacement in _CONTRACTIONS:
            text = pattern.sub(replacement, text)
    text = text.replace("'", "")
    # Everything that is not a letter, digit or mark separates words.
    text = "".join(
        ch if ch.isalnum() or unicodedata.category(ch).startswith("M") else " " for ch in text
    )
    return text.split()


def _is_missing(text: object) -> bool:
    """None, NaN and pandas' NA (which must not become the word "na")."""
    if text is None or type(text).__name__ == "NAType":
        return True
    return isinstance(text, float) and math.isnan(text)


@dataclass(frozen=True)
class EditCounts:
    """The alignment of one hypothesis against one reference, or a sum of them."""

    hits: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def reference_words(self) -> int:
        return self.hits + self.substitutions + self.deletions

    def __add__(self, other: EditCounts) -> EditCounts:
        return EditCounts(
            self.hits + other.hits,
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
        )


def align(reference: Sequence[str], hypothesis: Sequence[str]) -> EditCounts:
    """Minimum-edit alignment at word level (Levenshtein), with the kinds of edit counted.

    Among alignments with the fewest edits, ties are broken towards substitutions, then deletions.
    Other tools (jiwer, sclite) may split the same total differently between the kinds of edit;
    the total, and so the WER, is the same.
    """
    n, m = len(reference), len(hypothesis)
    # cost[i][j]: (edits, substitutions, deletions, insertions) for reference[:i] vs hypothesis[:j]
    previous = [(j, 0, 0, j) for j in range(m + 1)]
    for i in range(1, n + 1):
        current = [(i, 0, i, 0)]
        word = reference[i - 1]
        for j in range(1, m + 1):
            diagonal = previous[j - 1]
            if word == hypothesis[j - 1]:
                best = diagonal
            else:
                best = (diagonal[0] + 1, diagonal[1] + 1, diagonal[2], diagonal[3])
            up = previous[j]
            deletion = (up[0] + 1, up[1], up[2] + 1, up[3])
            left = current[j - 1]
            insertion = (left[0] + 1, left[1], left[2], left[3] + 1)
            # Fewest edits first; among equals prefer the substitution path, then deletion.
            best = min((best, deletion, insertion), key=lambda c: c[0])
            current.append(best)
        previous = current
    edits, subs, dels, ins = previous[m]
    return EditCounts(hits=n - subs - dels, substitutions=subs, deletions=dels, insertions=ins)


@dataclass(frozen=True)
class WERResult:
    """Corpus-level word error rate: total edits over total reference words."""

    counts: EditCounts
    n_utterances: int

    @property
    def wer(self) -> float:
        """NaN when there are no reference words, since no rate is defined then."""
        words = self.counts.reference_words
        return self.counts.errors / words if words else float("nan")

    def as_dict(self) -> dict[str, float | int | None]:
        """JSON-ready: the rate (None when undefined) and the counts behind it."""
        rate = self.wer
        return {
            "wer": None if math.isnan(rate) else round(rate, 6),
            "n_utterances": self.n_utterances,
            "reference_words": self.counts.reference_words,
            "substitutions": self.counts.substitutions,
            "deletions": self.counts.deletions,
            "insertions": self.counts.insertions,
        }


def word_error_rate(
    references: Iterable[str | None],
    hypotheses: Iterable[str | None],
    *,
    english: bool = True,
) -> WERResult:
    """Corpus WER of paired transcripts after :func:`normalize`.

    An empty or missing hypothesis counts as all deletions: utterances the ASR returned nothing for
    stay in the score rather than being dropped, otherwise a model that gives up would look good.
    """
    total = EditCounts()
    count = 0
    references, hypotheses = list(references), list(hypotheses)
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    for reference, hypothesis in zip(references, hypotheses, strict=True):
        total += align(
            normalize(reference, english=english),
            normalize(hypothesis, english=english),
        )
        count += 1
    return WERResult(total, count)
