"""The synthetic demo corpus: deterministic, well-formed, and shaped like the real tasks."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from harness.challenges.emospeech2024 import CHALLENGE as EMOSPEECH
from harness.challenges.odyssey2024 import CHALLENGE as ODYSSEY
from harness.data import demo, espeak
from harness.data.demo import build as demo_build
from harness.errors import HarnessError


def _bytes(root, pattern):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.glob(pattern))}


# -- the eSpeak driver ---------------------------------------------------------------------------


def test_espeak_is_deterministic_across_repeated_calls():
    ssml = espeak.prosody_ssml("The meeting is at noon on Tuesday.", pitch=20, rate=-10)
    first, rate = espeak.synthesize(ssml, "en-us+m3", seed=7)
    espeak.synthesize(espeak.prosody_ssml("Something else entirely!", pitch=-30), "en+f2")
    again, _ = espeak.synthesize(ssml, "en-us+m3", seed=7)
    assert rate == 22050 and first.dtype == np.float32
    assert np.array_equal(first, again)
    assert 1.0 < len(first) / rate < 4.0


def _speech_seconds(audio: np.ndarray, rate: int) -> float:
    """From the first to the last audible sample (SSML adds a little trailing silence)."""
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    return (loud[-1] - loud[0]) / rate


def test_ssml_tags_are_not_read_aloud():
    text = "Hello there."
    plain, rate = espeak.synthesize(espeak.ssml_escape(text), "en-us")
    tagged, _ = espeak.synthesize(espeak.prosody_ssml(text, pitch=30, range_=40), "en-us")
    spoken, _ = espeak.synthesize(espeak.prosody_ssml(text, pitch=30), "en-us", ssml=False)
    plain_s = _speech_seconds(plain, rate)
    assert _speech_seconds(tagged, rate) == pytest.approx(plain_s, rel=0.1)
    assert _speech_seconds(spoken, rate) > 3 * plain_s  # the failure it guards against


def test_unknown_voice_is_a_harness_error():
    with pytest.raises(HarnessError, match="no voice"):
        espeak.synthesize("hello", "xx-nowhere")


# -- the plan (labels, text, prosody), without audio ---------------------------------------------


def test_plan_carries_each_dimension_in_its_modality():
    plan = pd.DataFrame([vars(u) for u in demo.plan_corpus("en", 1000, 0)])
    scored = plan[plan["label"].isin(ODYSSEY.classes)]
    assert np.corrcoef(scored["arousal"], scored["rate"])[0, 1] > 0.5
    assert np.corrcoef(scored["arousal"], scored["pitch"])[0, 1] > 0.5
    assert np.corrcoef(scored["dominance"], np.log(scored["gain"]))[0, 1] > 0.5
    emotional = scored[scored["label"] != "N"]
    share = emotional["words"].value_counts(normalize=True)
    assert (
        0.25 < share["neutral"] < 0.5 and 0.3 < share["class"] < 0.5
    )  # text alone cannot solve it
    # Valence follows the words: the same class reads more neutral with neutral words.
    angry = scored[scored["label"] == "A"]
    assert (
        angry.loc[angry["words"] == "neutral", "valence"].mean()
        > angry.loc[angry["words"] == "class", "valence"].mean() + 0.5
    )


def test_plan_is_a_function_of_the_seed():
    a = [vars(u) for u in demo.plan_corpus("en", 200, 5)]
    b = [vars(u) for u in demo.plan_corpus("en", 200, 5)]
    c = [vars(u) for u in demo.plan_corpus("en", 200, 6)]
    assert a == b and a != c


def test_bad_parameters_are_harness_errors(tmp_path):
    with pytest.raises(HarnessError, match="n=48"):
        demo.plan_corpus("en", 20, 0)
    with pytest.raises(HarnessError, match="lang=en"):
        demo.plan_corpus("fr", 100, 0)
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(HarnessError, match="not a demo corpus"):
        demo.build_demo_corpus(tmp_path, n=48)
    assert (tmp_path / "mine.txt").read_text() == "precious"


def test_sentence_files_are_checked():
    from dataclasses import replace

    from harness.data.demo.sentences import _check, sentence_pools

    pools = sentence_pools("en")
    assert _check(pools, demo.LANGUAGES["en"]) is None
    no_anger = replace(pools, pools={k: v for k, v in pools.pools.items() if k != "A"})
    assert _check(no_anger, demo.LANGUAGES["en"]) == "pools has no ['A']"
    typo = replace(pools, pools={**pools.pools, "neutral": ("See you at the {plase}.",)})
    assert "unknown slot(s) ['plase']" in _check(typo, demo.LANGUAGES["en"])


# -- built corpora -------------------------------------------------------------------------------


def test_same_seed_gives_identical_files_whatever_the_workers(tmp_path):
    calls = []
    one = demo.build_demo_corpus(tmp_path / "one", n=48, seed=3, workers=1)
    two = demo.build_demo_corpus(
        tmp_path / "two", n=48, seed=3, workers=2, progress=lambda d, t: calls.append((d, t))
    )
    labels = "Labels/labels_consensus.csv"
    assert (one / labels).read_bytes() == (two / labels).read_bytes()
    audio_one, audio_two = _bytes(one, "Audios/*.wav"), _bytes(two, "Audios/*.wav")
    assert len(audio_one) == 48 and audio_one == audio_two
    assert _bytes(one, "Transcripts/*.txt") == _bytes(two, "Transcripts/*.txt")
    assert calls[0] == (0, 48) and calls[-1] == (48, 48)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_english_demo_corpus_layout_and_splits(demo_corpus_small):
    corpus = demo_corpus_small
    m = corpus.manifest
    assert corpus.name == "demo-en-n160-s0" and corpus.kind == "demo"
    assert corpus.challenge == "odyssey2024"
    assert (corpus.root / "Labels" / "labels_consensus.csv").is_file()
    assert m["split"].value_counts().to_dict() == {"Train": 96, "Development": 32, "Test3": 32}
    speakers = {s: set(g) for s, g in m.groupby("split")["speaker"]}
    assert not speakers["Train"] & speakers["Development"]
    assert not speakers["Train"] & speakers["Test3"]
    assert not speakers["Development"] & speakers["Test3"]
    for split in ("Development", "Test3"):
        counts = m.loc[m["split"] == split, "label"].value_counts()
        assert set(counts.index) == set(ODYSSEY.classes) and counts.nunique() == 1
    train = m.loc[m["split"] == "Train", "label"].value_counts(normalize=True)
    assert train.idxmax() == "N" and 0.3 < train["N"] < 0.45
    assert set(ODYSSEY.classes) <= set(train.index)
    assert not m.loc[m["split"] != "Train", "label"].isin(["O", "X"]).any()
    assert m[["arousal", "valence", "dominance"]].stack().between(1, 7).all()
    assert (m["text_source"] == "reference").all() and m["text"].notna().all()
    assert corpus.info["empty_transcripts"] == 0


def test_audio_is_16k_mono_pcm16_below_clipping(demo_corpus_small):
    m = demo_corpus_small.manifest
    peaks = []
    for path in m["path"]:
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        audio, _ = sf.read(path, dtype="float32")
        peaks.append(np.abs(audio).max())
    assert max(peaks) < 1.0 and max(peaks) > 0.5
    assert min(peaks) > 0.01  # quiet, not silent
    assert m["duration"].between(1.0, 8.0).all()


def test_load_reuses_the_cache_and_an_interrupted_build_never_looks_complete(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_build, "_synthesise", interrupted)
    with pytest.raises(KeyboardInterrupt):
        demo.load_demo_corpus(n=48, seed=1, cache_dir=tmp_path)
    assert not (tmp_path / "demo" / "en-n48-s1").exists()
    monkeypatch.undo()

    corpus = demo.load_demo_corpus(n=48, seed=1, cache_dir=tmp_path)
    assert corpus.root == tmp_path / "demo" / "en-n48-s1"
    stamp = (corpus.root / "demo.json").stat().st_mtime_ns
    monkeypatch.setattr(demo_build, "_synthesise", interrupted)  # a rebuild would now fail
    again = demo.load_demo_corpus(n=48, seed=1, cache_dir=tmp_path)
    assert (again.root / "demo.json").stat().st_mtime_ns == stamp
    assert again.manifest.equals(corpus.manifest)
    # A built corpus passed as a path is read as it is, with its own parameters.
    by_path = demo.load_demo_corpus(corpus.root)
    assert by_path.name == "demo-en-n48-s1"
    info = json.loads((corpus.root / "demo.json").read_text())
    assert info["version"] == demo.DEMO_VERSION["en"] and info["n"] == 48


def test_spanish_demo_corpus_reads_back_with_read_emospeech(demo_corpus_es_small):
    from harness.data.readers import read_emospeech

    corpus = demo_corpus_es_small
    root = corpus.root
    assert corpus.name == "demo-es-n120-s0" and corpus.kind == "demo"
    assert corpus.challenge == "emospeech2024"
    assert (root / "train.csv").is_file() and (root / "test.csv").is_file()
    assert (root / "test_labels.csv").is_file()
    assert pd.read_csv(root / "train.csv").columns.tolist() == ["id", "label", "transcription"]
    assert pd.read_csv(root / "test.csv").columns.tolist() == ["id", "transcription"]
    m = corpus.manifest
    assert set(m["label"].dropna()) == set(EMOSPEECH.classes)
    test = m[m["split"] == "Test"]
    assert len(test) == 24 and test["label"].value_counts().nunique() == 1
    assert (m["split"] == "Development").sum() > 0
    assert m["path"].notna().all() and m["text"].notna().all()
    assert any(ch in "".join(m["text"]) for ch in "áéíóúñ¿¡")
    direct = read_emospeech(root)
    assert direct.manifest["id"].tolist() == m["id"].tolist()
    generator = pd.read_csv(root / "generator.csv")
    speakers = {s: set(g) for s, g in generator.groupby("split")["speaker"]}
    assert not speakers["Train"] & speakers["Test"]
    assert generator["voice"].str.startswith("es").all()


# -- the bytes of a corpus are pinned ------------------------------------------------------------

# SHA-256 over every file of a built corpus (relative path, NUL, bytes, NUL; sorted by path). The
# audio depends on the espeak-ng data of the installed espeakng-loader wheel (0.2.4 here); a
# change of these values means every cached demo corpus and every demo result changes too.
CORPUS_SHA256 = {
    ("en", 48, 3): "c199020abe6a574c4446eb5e7b7663bef25f09749c2039968227a8d06b79038c",
    ("es", 36, 0): "fd34d39a75a6e83d0b73b9c9c9229d4d86bc961dc64ac0d5d287c1ad8bfd991b",
}
# SHA-256 of the plan (every utterance's fields as sorted-key JSON): no audio, so no eSpeak.
PLAN_SHA256 = {
    ("en", 1000, 0): "ad75a1d9d2ce5b62d69d5345315728a0c6eb6c8a9c29395d72e612fcbbac50e7",
    ("es", 1000, 0): "033862da8bb66b96a19723d07c42c206e4ef10a7e43aff68b6bcfa0ab99a99b6",
}


def _tree_sha256(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@pytest.mark.parametrize("key", sorted(PLAN_SHA256))
def test_plan_checksum_is_pinned(key):
    plan = [asdict(u) for u in demo.plan_corpus(*key)]
    digest = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()
    assert digest == PLAN_SHA256[key]


@pytest.mark.parametrize("key", sorted(CORPUS_SHA256))
def test_corpus_checksum_is_pinned(tmp_path, key):
    lang, n, seed = key
    # Built in a fresh interpreter: eSpeak keeps state between voices that the forked-child
    # isolation does not undo, so this process's earlier synthesis could change the bytes.
    code = (
        "import sys; from harness.data.demo import build_demo_corpus; "
        "build_demo_corpus(sys.argv[1], lang=sys.argv[2], n=int(sys.argv[3]), "
        "seed=int(sys.argv[4]), workers=1)"
    )
    root = tmp_path / "demo"
    subprocess.run([sys.executable, "-c", code, str(root), lang, str(n), str(seed)], check=True)
    assert _tree_sha256(root) == CORPUS_SHA256[key]
