"""``asr=canary``: clear errors without NeMo or weights, the call into NeMo, and the real model.

NeMo is an optional 2 GB extra, so most of these tests stand in a small fake for NeMo's
``EncDecMultiTaskModel`` and check what the back-end asks of it (greedy decoding, the Canary
prompt, both transcribe APIs). The real model runs only where NeMo and the weights are present.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import sys
import types
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from harness.asr import canary
from harness.asr.base import make_backend
from harness.asr.canary import CanaryASR, find_nemo_file
from harness.asr.transcribe import transcribe_corpus
from harness.data.audio import write_audio
from harness.data.corpus import Corpus
from harness.data.manifest import make_manifest
from harness.errors import MissingDependencyError, MissingModelError


def _module(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    module.__dict__.update(attributes)
    return module


@pytest.fixture
def no_nemo(monkeypatch):
    """Make NeMo look uninstalled, whether or not it is."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.split(".")[0] == "nemo" else real(name, *a),
    )


def _corpus(root: Path) -> Corpus:
    rows = []
    for i in range(3):
        audio = 0.1 * np.sin(2 * np.pi * 200 * np.arange(8000 + 800 * i) / 16_000)
        path = root / f"c{i}.wav"
        write_audio(path, audio.astype(np.float32))
        rows.append({"id": path.name, "path": str(path), "text": "hello world", "split": "Train"})
    frame = pd.DataFrame(rows).assign(text_source="reference")
    return Corpus(make_manifest(frame, "canary"), "canary-test", "demo", "odyssey2024", root=root)


# -- without NeMo / without weights (always run) ------------------------------------------------
def test_without_nemo_one_line_error(no_nemo, tmp_path):
    with pytest.raises(MissingDependencyError) as info:
        make_backend("canary").check()
    text = str(info.value)
    assert "\n" not in text
    assert "nemo_toolkit" in text and "pip install 'ser-harness[asr]'" in text
    with pytest.raises(MissingDependencyError):
        transcribe_corpus(_corpus(tmp_path), "canary", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


@pytest.fixture
def fake_nemo_installed(monkeypatch):
    """NeMo 'installed' as far as the availability check can tell (no model class yet)."""
    monkeypatch.setitem(sys.modules, "nemo", _module("nemo"))


def test_missing_weights_one_line_error(fake_nemo_installed, monkeypatch, tmp_path):
    monkeypatch.setattr(canary, "_hub_cache_dir", lambda: tmp_path / "hub")
    with pytest.raises(MissingModelError) as info:
        CanaryASR().check()
    text = str(info.value)
    assert "\n" not in text and "nvidia/canary-1b" in text and "model=" in text
    with pytest.raises(MissingModelError, match="not found"):
        CanaryASR(model=tmp_path / "nowhere.nemo").check()
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(MissingModelError, match="not a .nemo file"):
        CanaryASR(model=tmp_path / "weights.bin").check()


def test_unsupported_language_is_refused():
    with pytest.raises(Exception, match="language=it"):
        CanaryASR(language="it").check()


def test_finds_nemo_file_in_hub_cache_and_directory(monkeypatch, tmp_path):
    hub = tmp_path / "hub"
    repo = hub / "models--nvidia--canary-1b"
    old, new = repo / "snapshots" / "old", repo / "snapshots" / "new"
    for snapshot in (old, new):
        snapshot.mkdir(parents=True)
        (snapshot / "canary-1b.nemo").write_bytes(b"nemo")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("new")
    monkeypatch.setattr(canary, "_hub_cache_dir", lambda: hub)
    assert find_nemo_file("nvidia/canary-1b") == new / "canary-1b.nemo"
    assert find_nemo_file(str(old)) == old / "canary-1b.nemo"  # a directory holding one


# -- the call into NeMo, with a fake EncDecMultiTaskModel ---------------------------------------
class FakeCanary:
    """Records what the back-end asks of NeMo; ``legacy`` mimics NeMo 1.2x's transcribe."""

    legacy = False
    instances: list[FakeCanary] = []

    def __init__(self) -> None:
        self.cfg = SimpleNamespace(
            decoding=SimpleNamespace(strategy="beam", beam=SimpleNamespace(beam_size=4))
        )
        self.strategies: list[str] = []
        self.calls: list[dict] = []
        self.evaluated = False

    @classmethod
    def restore_from(cls, path, map_location=None):
        model = cls()
        model.restored = (path, map_location)
        cls.instances.append(model)
        return model

    def eval(self):
        self.evaluated = True
        return self

    def change_decoding_strategy(self, decoding):
        self.strategies.append(decoding.strategy)

    def transcribe(self, audio, batch_size=4, **kwargs):
        if self.legacy and kwargs:
            raise TypeError("transcribe() got an unexpected keyword argument")
        if isinstance(audio, str):  # a manifest path
            entries = [json.loads(line) for line in Path(audio).read_text().splitlines()]
            self.calls.append({"manifest": entries, "batch_size": batch_size})
            paths = [e["audio_filepath"] for e in entries]
            return [f"{len(p)} chars" for p in paths], None
        self.calls.append({"paths": list(audio), "batch_size": batch_size, **kwargs})
        return [SimpleNamespace(text=f"  hello   world {i} ") for i in range(len(audio))]


@pytest.fixture
def fake_nemo(monkeypatch, tmp_path):
    FakeCanary.instances = []
    models = _module("nemo.collections.asr.models", EncDecMultiTaskModel=FakeCanary)
    for name, module in {
        "nemo": _module("nemo"),
        "nemo.collections": _module("nemo.collections"),
        "nemo.collections.asr": _module("nemo.collections.asr", models=models),
        "nemo.collections.asr.models": models,
        "omegaconf": _module("omegaconf", open_dict=lambda cfg: nullcontext(cfg)),
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    weights = tmp_path / "canary-1b.nemo"
    weights.write_bytes(b"nemo")
    return weights


def test_prompt_greedy_and_batching_with_nemo2_api(fake_nemo, tmp_path):
    backend = CanaryASR(model=fake_nemo, device="cpu", batch_size=2)
    result = transcribe_corpus(_corpus(tmp_path / "audio"), backend, cache_dir=tmp_path / "c")
    (model,) = FakeCanary.instances
    assert model.restored == (str(fake_nemo), "cpu") and model.evaluated
    assert model.strategies == ["greedy_batch"]
    assert [len(c["paths"]) for c in model.calls] == [2, 1]  # batch_size=2 over 3 utterances
    call = model.calls[0]
    assert (call["source_lang"], call["target_lang"], call["taskname"], call["pnc"]) == (
        "en",
        "en",
        "asr",
        "yes",
    )
    assert call["verbose"] is False
    assert list(result.transcripts.values()) == ["hello world 0", "hello world 1", "hello world 0"]
    assert result.model_id.startswith("canary-1b-")


def test_legacy_nemo_gets_a_manifest(fake_nemo, monkeypatch):
    monkeypatch.setattr(FakeCanary, "legacy", True)
    backend = CanaryASR(model=fake_nemo, device="cpu", pnc=False, language="es")
    texts = backend.transcribe_batch([np.full(4000, 0.1, np.float32), np.zeros(10, np.float32)])
    (model,) = FakeCanary.instances
    (call,) = model.calls  # the silent input never reaches NeMo
    (entry,) = call["manifest"]
    assert (entry["source_lang"], entry["taskname"], entry["pnc"]) == ("es", "asr", "no")
    assert entry["duration"] == pytest.approx(0.25)
    assert texts[1] == "" and texts[0].endswith("chars")


# -- the real model (needs NeMo and the weights) ------------------------------------------------
@pytest.mark.slow
@pytest.mark.nemo
def test_real_canary_transcribes_speech(tmp_path):
    pytest.importorskip("nemo.collections.asr")
    try:
        # A local .nemo file or directory, or nvidia/canary-1b from the Hugging Face cache.
        backend = CanaryASR(model=os.environ.get("HARNESS_CANARY_MODEL"))
        backend.check()
    except MissingModelError as error:
        pytest.skip(str(error))
    from harness.asr.wer import word_error_rate
    from harness.data.audio import resample
    from harness.data.espeak import synthesize

    sentence = "We walked to the market and bought some fresh bread."
    audio, rate = synthesize(sentence, "en-us")
    text = backend.transcribe(resample(audio, rate))
    assert text
    assert word_error_rate([sentence], [text]).wer <= 0.5
