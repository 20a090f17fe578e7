"""One cache directory: the demo corpus and the run cache both live under ``$HARNESS_CACHE``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from harness.config import default_cache_dir
from harness.data.demo import DEMO_VERSION, load_demo_corpus


def _fake_built_demo(root: Path, n: int) -> None:
    """A corpus in the demo's on-disk layout, marked as built, so nothing is synthesised."""
    (root / "Labels").mkdir(parents=True)
    (root / "Audios").mkdir()
    rows = ["FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set"]
    for i, split in enumerate(["Train", "Train", "Development", "Test3", "Test3"][:n]):
        name = f"u{i}.wav"
        sf.write(root / "Audios" / name, np.zeros(1600, dtype=np.float32), 16000)
        rows.append(f"{name},N,4.0,4.0,4.0,{i},Female,{split}")
    (root / "Labels" / "labels_consensus.csv").write_text("\n".join(rows) + "\n")
    (root / "demo.json").write_text(
        json.dumps({"version": DEMO_VERSION["en"], "lang": "en", "n": n, "seed": 0})
    )


@pytest.mark.parametrize("setting", [None, "~/elsewhere", "absolute"])
def test_demo_corpus_and_config_agree_on_the_cache_dir(tmp_path, monkeypatch, setting):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if setting is None:
        monkeypatch.delenv("HARNESS_CACHE", raising=False)
        expected = tmp_path / "home" / ".cache" / "harness"
    elif setting == "absolute":
        monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "abs"))
        expected = tmp_path / "abs"
    else:
        monkeypatch.setenv("HARNESS_CACHE", setting)
        expected = tmp_path / "home" / "elsewhere"
    assert default_cache_dir() == expected
    _fake_built_demo(expected / "demo" / "en-n5-s0", 5)
    corpus = load_demo_corpus(n=5, seed=0)  # no cache_dir: the demo's own default
    assert Path(corpus.root) == expected / "demo" / "en-n5-s0"
    assert corpus.name == "demo-en-n5-s0" and len(corpus.manifest) == 5
