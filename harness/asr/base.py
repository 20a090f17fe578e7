"""The ASR back-end interface.

The paper transcribes every split with one ASR model, so that the text a system sees at test time
is as noisy as what it was trained on. A back-end therefore has to say exactly which model (and
which decoding settings) produced a transcript: :attr:`ASRBackend.model_id` is the cache key that
keeps transcripts of two models, or of one model decoded two ways, from ever mixing.

Like a System, a back-end's ``__init__`` only stores parameters. The model is loaded on the first
transcription, so a fully cached corpus never pays for loading it, and :meth:`ASRBackend.check`
finds a missing package or model in milliseconds, before any work starts.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from harness.errors import HarnessError, MissingModelError

if TYPE_CHECKING:
    from harness.params import Rule

SILENCE_PEAK = 1e-4
"""Peak amplitude (about -80 dBFS) below which audio is treated as silence and not decoded:
Whisper-style models tend to hallucinate a sentence ("Thank you.") on silence."""


class ASRBackend(ABC):
    """Turns 16 kHz mono float32 audio into text with one fixed model and decoding setup.

    Subclasses implement :attr:`model_id`, :meth:`check`, :meth:`load` and
    :meth:`_transcribe_batch`; the public methods here add what every back-end needs the same
    way: input checks, silence handling and whitespace clean-up. A back-end that finishes a batch
    in parts (Whisper's packed windows) also overrides :meth:`_transcribe_stream`, so that each
    part's transcripts are saved before the next part is decoded.
    """

    name: ClassVar[str] = "asr"
    """Registry name (``whisper``, ``canary``)."""
    batch_size: int = 1
    """How many utterances :func:`harness.asr.transcribe.transcribe_corpus` hands over at once."""
    packs_batch: bool = False
    """Whether a transcript depends on the other utterances of its batch (Whisper's packed
    windows): the caller then reads a batch's cached neighbours too, as context."""
    packages: ClassVar[tuple[str, ...]] = ()
    """Distributions whose versions are recorded with the transcripts."""
    param_rules: ClassVar[Mapping[str, Rule]] = {}
    """What each ``asr_params`` key accepts (:mod:`harness.params`), checked before the corpus
    is read: a wrong decoding setting is one line, not a traceback an hour into transcription."""

    @property
    @abstractmethod
    def model_id(self) -> str:
        """Identifies the model and its output-changing settings; safe as a directory name."""

    @abstractmethod
    def check(self) -> None:
        """Raise a one-line :class:`HarnessError` if the package or model is missing (cheap)."""

    @abstractmethod
    def load(self) -> None:
        """Load the model now (otherwise it loads on the first transcription). Idempotent."""

    @abstractmethod
    def _transcribe_batch(self, audios: Sequence[np.ndarray]) -> list[str]:
        """Decode non-silent 16 kHz float32 waveforms; one string per waveform."""

    def describe(self) -> dict[str, Any]:
        """Everything needed to reproduce the transcripts (saved beside them)."""
        return {
            "asr": self.name,
            "model_id": self.model_id,
            "params": self.get_params(),
            "packages": _versions(self.packages),
        }

    def get_params(self) -> dict[str, Any]:
        """The ``__init__`` arguments, read back from attributes of the same name."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name, None) for name in names}

    def transcribe(self, audio: np.ndarray) -> str:
        """Transcript of one utterance; ``""`` for empty or silent audio."""
        return self.transcribe_batch([audio])[0]

    def transcribe_batch(
        self,
        audios: Sequence[np.ndarray],
        on_result: Callable[[int, str], None] | None = None,
        wanted: Sequence[bool] | None = None,
    ) -> list[str]:
        """Transcripts of several utterances, in order. Silent ones come back as ``""``.

        ``on_result(i, text)`` is called once per utterance as soon as its transcript is known
        (silent ones first), so a caller can save each transcript before the rest of the batch
        is decoded: a back-end that packs a batch into several windows finishes it window by
        window, and a run killed mid-batch then loses one window, not the whole batch.

        ``wanted`` marks the utterances to transcribe (default: all); the others are context.
        A packing back-end plans its windows over the whole batch and decodes only the windows
        that hold a wanted utterance, so a resumed run puts each utterance in the window an
        uninterrupted run would have, and writes the same text. Unwanted ones come back ``""``.
        """
        arrays = [_as_waveform(audio) for audio in audios]
        want = [True] * len(arrays) if wanted is None else [bool(w) for w in wanted]
        if len(want) != len(arrays):
            raise ValueError(f"wanted has {len(want)} flags for {len(arrays)} utterances")
        texts = [""] * len(arrays)
        voiced = [i for i, audio in enumerate(arrays) if not is_silent(audio)]
        if on_result is not None:
            for i in sorted(set(range(len(arrays))) - set(voiced)):
                if want[i]:
                    on_result(i, "")
        voiced_wanted = [want[i] for i in voiced]
        if not any(voiced_wanted):
            return texts
        delivered: set[int] = set()

        def deliver(j: int, text: str) -> None:
            if not 0 <= j < len(voiced) or j in delivered:
                raise RuntimeError(
                    f"{type(self).__name__} delivered input {j} twice or out of range"
                )
            delivered.add(j)
            if not voiced_wanted[j]:  # context decoded with its window: not saved
                return
            texts[voiced[j]] = clean_text(text)
            if on_result is not None:
                on_result(voiced[j], texts[voiced[j]])

        self._transcribe_stream([arrays[i] for i in voiced], deliver, voiced_wanted)
        lost = [j for j, w in enumerate(voiced_wanted) if w and j not in delivered]
        if lost:
            raise RuntimeError(
                f"{type(self).__name__} returned no transcript for {len(lost)} of "
                f"{sum(voiced_wanted)} inputs"
            )
        return texts

    def _transcribe_stream(
        self,
        audios: Sequence[np.ndarray],
        deliver: Callable[[int, str], None],
        wanted: Sequence[bool],
    ) -> None:
        """Decode non-silent waveforms, calling ``deliver(j, text)`` once for each wanted
        ``audios[j]`` (delivering an unwanted one too is allowed: it is dropped).

        The default decodes the wanted ones with :meth:`_transcribe_batch` and then delivers
        them; a back-end that finishes parts of a batch earlier (Whisper's packed windows)
        overrides this to deliver each part as soon as it is done.
        """
        chosen = [j for j, w in enumerate(wanted) if w]
        decoded = self._transcribe_batch([audios[j] for j in chosen])
        if len(decoded) != len(chosen):
            raise RuntimeError(
                f"{type(self).__name__} returned {len(decoded)} transcripts for {len(chosen)} inputs"
            )
        for j, text in zip(chosen, decoded):
            deliver(j, text)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


def _versions(packages: Sequence[str]) -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for package in packages:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def is_silent(audio: np.ndarray) -> bool:
    """True for an empty waveform or one whose peak stays below :data:`SILENCE_PEAK`."""
    return audio.size == 0 or float(np.max(np.abs(audio))) < SILENCE_PEAK


def clean_text(text: str) -> str:
    """One line, single spaces: a transcript file then never holds stray newlines."""
    return " ".join(str(text).split())


def _as_waveform(audio: np.ndarray) -> np.ndarray:
    array = np.asarray(audio, dtype=np.float32)
    if array.ndim != 1:
        raise ValueError(f"expected mono audio of shape (samples,), got shape {array.shape}")
    return np.ascontiguousarray(array)


def short_hash(payload: Any, length: int = 8) -> str:
    """Stable short digest of JSON-able settings, for model ids."""
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def safe_name(text: str) -> str:
    """Make ``text`` usable as one path component (model ids from user-given names)."""
    cleaned = re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-.")
    return cleaned or "model"


def settings_suffix(settings: dict[str, Any], defaults: dict[str, Any]) -> str:
    """``""`` when decoding settings are the defaults, else ``-<hash>`` of them.

    Settings that change the output (compute type, beam, language) must change the cache key, but
    the default configuration keeps a readable id such as ``whisper-tiny.en``.
    """
    return "" if settings == defaults else f"-{short_hash(settings, 6)}"


def missing_model(message: str, *, fix: str, file: str | None = None) -> MissingModelError:
    """A :class:`MissingModelError` with a message specific to the back-end.

    ``MissingModelError``'s own constructor words the fix for a Hugging Face directory; a Canary
    ``.nemo`` file or the bundled Whisper model needs different advice, but callers should still
    be able to catch the one class.
    """
    error = MissingModelError.__new__(MissingModelError)
    HarnessError.__init__(error, message, file=file, fix=fix)
    return error


def make_backend(asr: str, params: dict[str, Any] | None = None) -> ASRBackend:
    """Instantiate the registered back-end ``asr`` with ``params``, or raise one clear line."""
    from harness import registry

    cls = registry.get("asr", asr)
    params = dict(params or {})
    check_asr_params(asr, params)
    return cls(**params)


def check_asr_params(asr: str, params: Mapping[str, Any]) -> None:
    """Refuse unknown ``asr_params`` keys and values the back-end's rules refuse, in one line."""
    from harness import registry
    from harness.params import check_param_values

    cls = registry.get("asr", asr)
    signature = inspect.signature(cls.__init__).parameters
    accepted = [p for p in signature if p != "self"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise HarnessError(
            f"asr={asr} does not take the parameter(s) {', '.join(unknown)}",
            fix=f"use asr_params with any of: {', '.join(accepted)}",
        )
    defaults = {name: signature[name].default for name in accepted}
    check_param_values(f"asr {asr}", cls.param_rules, params, defaults, prefix="asr_params.")
