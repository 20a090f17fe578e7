"""``asr=canary``: NVIDIA NeMo Canary-1B, greedy decoding.

NeMo is an optional extra (``ser-harness[asr]``, about 2 GB, pins lightning), and importing
``nemo.collections.asr`` costs 10-14 s, so nothing here touches it until the first transcription.
The weights are read from disk only: ``model=/path/to/canary-1b.nemo``, or the ``.nemo`` file of
``nvidia/canary-1b`` in the local Hugging Face hub cache, found by looking at the cache directory
ourselves so no code path can reach the network.

NeMo's ``transcribe`` API moved between releases (1.23 took file paths and a JSON manifest for the
task; 2.x takes the prompt as keyword arguments and also arrays), so audio is handed over as
temporary WAV files, which both understand, and the task is passed the new way first with a
manifest as the fallback.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.asr.base import (
    ASRBackend,
    missing_model,
    safe_name,
    settings_suffix,
    short_hash,
)
from harness.data.audio import SAMPLE_RATE
from harness.errors import HarnessError, MissingDependencyError, first_line
from harness.params import flag, integer, optional, text

DEFAULT_MODEL = "nvidia/canary-1b"
_DEFAULT_SETTINGS = {"language": "en", "pnc": True}
_LANGUAGES = ("en", "de", "es", "fr")


class CanaryASR(ASRBackend):
    """Canary-1B through NeMo's ``EncDecMultiTaskModel``: ASR in en/de/es/fr, greedy search."""

    name = "canary"
    packages = ("nemo_toolkit", "torch")

    param_rules = {
        "model": optional(text()),
        "device": text(),
        "language": text(),
        "pnc": flag(),
        "batch_size": integer(ge=1),
    }

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        device: str = "auto",
        language: str = "en",
        pnc: bool = True,
        batch_size: int = 8,
    ) -> None:
        self.model = DEFAULT_MODEL if model in (None, "") else str(model)
        self.device = device
        self.language = language
        self.pnc = bool(pnc)
        self.batch_size = int(batch_size)
        self._nemo_model: Any = None
        self._model_file: Path | None = None

    # -- identity -------------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        settings = {"language": self.language, "pnc": self.pnc}
        return f"canary-{self._model_name()}{settings_suffix(settings, _DEFAULT_SETTINGS)}"

    def _model_name(self) -> str:
        if _is_hub_id(self.model):
            return safe_name(self.model.split("/")[-1].removeprefix("canary-"))
        path = Path(self.model).expanduser().resolve()
        stamp: list[Any] = [str(path)]
        if path.is_file():
            stat = path.stat()
            stamp += [stat.st_size, stat.st_mtime_ns]
        stem = path.stem.removeprefix("canary-") or "model"
        return f"{safe_name(stem)}-{short_hash(stamp)}"

    # -- availability ---------------------------------------------------------------------------
    def check(self) -> None:
        if self.language not in _LANGUAGES:
            raise HarnessError(
                f"Canary-1B does not transcribe language={self.language}",
                fix=f"use one of {', '.join(_LANGUAGES)}",
            )
        if importlib.util.find_spec("nemo") is None:
            raise MissingDependencyError(
                "nemo_toolkit", "asr", "asr=canary (NVIDIA NeMo Canary-1B)"
            )
        self._resolve_model_file()

    def _resolve_model_file(self) -> Path:
        if self._model_file is None:
            self._model_file = find_nemo_file(self.model)
        return self._model_file

    def load(self) -> None:
        if self._nemo_model is not None:
            return
        self.check()
        try:
            from nemo.collections.asr.models import EncDecMultiTaskModel
        except ImportError as exc:
            raise MissingDependencyError(
                "nemo_toolkit", "asr", f"asr=canary ({first_line(exc)[:100]})"
            ) from None
        device = _torch_device(self.device)
        path = self._resolve_model_file()
        try:
            model = EncDecMultiTaskModel.restore_from(str(path), map_location=device)
        except Exception as exc:  # NeMo raises many kinds for a wrong or truncated file
            raise HarnessError(
                f"NeMo cannot restore the Canary model ({first_line(exc)[:160]})",
                file=path,
                fix="pass model= an EncDecMultiTaskModel .nemo file such as canary-1b.nemo",
            ) from None
        model.eval()
        _use_greedy_decoding(model)
        self._nemo_model = model

    # -- decoding -------------------------------------------------------------------------------
    def _transcribe_batch(self, audios: Sequence[np.ndarray]) -> list[str]:
        self.load()
        import soundfile as sf

        with tempfile.TemporaryDirectory(prefix="harness-canary-") as tmp:
            paths = []
            for i, audio in enumerate(audios):
                path = os.path.join(tmp, f"{i:05d}.wav")
                sf.write(path, audio, SAMPLE_RATE, subtype="FLOAT")
                paths.append(path)
            durations = [len(audio) / SAMPLE_RATE for audio in audios]
            output = self._call_transcribe(paths, durations, tmp)
        return [_hypothesis_text(item) for item in output]

    def _prompt(self) -> dict[str, str]:
        return {
            "source_lang": self.language,
            "target_lang": self.language,
            "taskname": "asr",
            "pnc": "yes" if self.pnc else "no",
        }

    def _call_transcribe(self, paths: list[str], durations: list[float], tmp: str) -> list[Any]:
        model = self._nemo_model
        size = min(self.batch_size, len(paths))
        try:  # NeMo >= 2.0: the Canary prompt as keyword arguments
            output = model.transcribe(paths, batch_size=size, verbose=False, **self._prompt())
        except TypeError:  # NeMo 1.2x: the task goes in a JSON-lines manifest
            manifest = os.path.join(tmp, "manifest.json")
            with open(manifest, "w", encoding="utf-8") as handle:
                for path, duration in zip(paths, durations, strict=True):
                    entry = {"audio_filepath": path, "duration": duration, "answer": "na"}
                    handle.write(json.dumps({**entry, **self._prompt()}) + "\n")
            output = model.transcribe(manifest, batch_size=size)
        if isinstance(output, tuple):  # some releases return (best, all_hypotheses)
            output = output[0]
        output = list(output)
        if len(output) != len(paths):
            raise RuntimeError(f"NeMo returned {len(output)} transcripts for {len(paths)} files")
        return output


def find_nemo_file(model: str) -> Path:
    """The local ``.nemo`` file for a path, a directory holding one, or a cached hub id."""
    if _is_hub_id(model):
        found = _hub_cache_nemo_file(model)
        if found is None:
            raise missing_model(
                f"Canary weights '{model}' are not in the local Hugging Face cache "
                f"({_hub_cache_dir()})",
                fix="pass asr_params.model=/path/to/canary-1b.nemo (download it once elsewhere, "
                f"e.g. huggingface-cli download {model})",
            )
        return found
    path = Path(model).expanduser()
    if path.is_dir():
        candidates = sorted(path.glob("*.nemo"))
        if candidates:
            return candidates[0]
    if path.is_file() and path.suffix == ".nemo":
        return path
    raise missing_model(
        "Canary model file not found" if not path.exists() else "not a .nemo file",
        file=str(path),
        fix="pass model= the path of a .nemo file such as canary-1b.nemo",
    )


def _is_hub_id(model: str) -> bool:
    parts = model.split("/")
    return (
        len(parts) == 2
        and all(parts)
        and not model.startswith((".", "~", "/"))
        and not Path(model).expanduser().exists()
    )


def _hub_cache_dir() -> Path:
    """Where huggingface_hub keeps downloads, honouring the same environment variables."""
    try:
        from huggingface_hub import constants

        return Path(constants.HF_HUB_CACHE)
    except ImportError:
        if os.environ.get("HF_HUB_CACHE"):
            return Path(os.environ["HF_HUB_CACHE"]).expanduser()
        home = os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")
        return Path(home).expanduser() / "hub"


def _hub_cache_nemo_file(repo_id: str) -> Path | None:
    """The ``.nemo`` file of ``repo_id`` in the hub cache (the ``main`` snapshot preferred)."""
    repo_dir = _hub_cache_dir() / f"models--{repo_id.replace('/', '--')}"
    snapshots = repo_dir / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = repo_dir / "refs" / "main"
    preferred = snapshots / ref.read_text().strip() if ref.is_file() else None
    ordered = [preferred] if preferred is not None and preferred.is_dir() else []
    ordered += sorted(p for p in snapshots.iterdir() if p.is_dir() and p != preferred)
    for snapshot in ordered:
        for candidate in sorted(snapshot.glob("*.nemo")):
            if candidate.exists():  # a dangling symlink means an interrupted download
                return candidate
    return None


def _torch_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _use_greedy_decoding(model: Any) -> None:
    """Switch Canary to greedy search (its shipped config is beam search).

    Older NeMo releases only know the beam strategy; beam size 1 is their greedy equivalent.
    """
    from omegaconf import open_dict

    decoding = model.cfg.decoding
    try:
        with open_dict(decoding):
            decoding.strategy = "greedy_batch"
        model.change_decoding_strategy(decoding)
    except Exception:
        with open_dict(decoding):
            decoding.strategy = "beam"
            decoding.beam.beam_size = 1
        model.change_decoding_strategy(decoding)


def _hypothesis_text(item: Any) -> str:
    """NeMo returns strings or ``Hypothesis`` objects depending on version and settings."""
    if isinstance(item, str):
        return item
    text = getattr(item, "text", None)
    if isinstance(text, str):
        return text
    if isinstance(item, list | tuple) and item:  # n-best lists: take the best
        return _hypothesis_text(item[0])
    raise RuntimeError(f"unexpected NeMo transcription output of type {type(item).__name__}")
