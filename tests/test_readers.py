"""Corpus readers: every bad input is one HarnessError that names the file and the row."""

from __future__ import annotations

import logging
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from harness.data.audio import load_audio
from harness.data.manifest import COLUMNS
from harness.data.readers import read_emospeech, read_meacorpus, read_msp_podcast
from harness.errors import HarnessError

HEADER = "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set"
ROWS = [
    "a_001.wav,A,6.0,2.0,5.5,1,Male,Train",
    "a_002.wav,N,3.6,4.0,4.0,1,Male,Train",
    "a_003.wav,X,4.0,3.0,4.0,2,Female,Train",
    "a_004.wav,H,5.4,6.2,4.8,3,Female,Development",
    "a_005.wav,S,2.2,2.0,2.4,4,Male,Test3",
]


def _wav(path: Path, seconds: float = 0.5, rate: int = 16000) -> None:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.3 * np.sin(2 * np.pi * 220 * t), rate, subtype="PCM_16", format="WAV")


def make_msp(root: Path, rows: list[str] | None = None, header: str = HEADER) -> Path:
    """A tiny MSP-Podcast layout: labels, 0.5 s WAVs and one transcript per row."""
    rows = ROWS if rows is None else rows
    (root / "Labels").mkdir(parents=True)
    (root / "Audios").mkdir()
    (root / "Transcripts").mkdir()
    (root / "Labels" / "labels_consensus.csv").write_text(
        "\n".join([header, *rows]) + "\n", encoding="utf-8"
    )
    for row in rows:
        name = row.split(",")[0]
        if name:
            _wav(root / "Audios" / name)
            (root / "Transcripts" / f"{Path(name).stem}.txt").write_text(
                f"words of {name}\n", encoding="utf-8"
            )
    return root


def _error(call) -> str:
    with pytest.raises(HarnessError) as info:
        call()
    return str(info.value)


# -- MSP-Podcast ---------------------------------------------------------------------------------


def test_msp_podcast_reads_a_valid_corpus(tmp_path):
    corpus = read_msp_podcast(make_msp(tmp_path))
    m = corpus.manifest
    assert list(m.columns[: len(COLUMNS)]) == list(COLUMNS)
    # A five-row folder in the layout is not the released corpus: named by its folder.
    assert corpus.name == f"msp-layout-{tmp_path.name}" and corpus.kind == "msp_podcast"
    assert not corpus.official
    assert corpus.challenge == "odyssey2024"
    assert list(m["id"]) == [r.split(",")[0] for r in ROWS]
    assert list(m["label"]) == ["A", "N", "X", "H", "S"]
    assert m["arousal"].tolist() == [6.0, 3.6, 4.0, 5.4, 2.2]
    assert set(m["split"]) == {"Train", "Development", "Test3"}
    assert m["duration"].tolist() == pytest.approx([0.5] * 5)
    assert m["text"].iloc[0] == "words of a_001.wav"
    assert (m["text_source"] == "reference").all()
    assert Path(m["path"].iloc[0]) == tmp_path / "Audios" / "a_001.wav"
    assert corpus.info["empty_transcripts"] == 0 and corpus.info["missing_transcripts"] == 0


@pytest.mark.parametrize(
    "given",
    ["Labels/labels_consensus.csv", "Labels", "Audios", "Audios/MSP-PODCAST_0001_0001.wav", ".."],
)
def test_a_path_near_the_corpus_gets_the_corpus_folder_as_its_fix(tmp_path, given):
    """The labels file, a subfolder or the folder above: the fix is the folder, and it runs."""
    root = make_msp(tmp_path / "MSP Podcast")  # a space: the fix must still paste as one argument
    given_path = tmp_path if given == ".." else root / given
    message = _error(lambda: read_msp_podcast(given_path))
    assert f"the MSP-Podcast folder, which is {root}" in message
    fix = message.split("(fix: pass ")[1].rstrip(")")
    assert fix == f"'corpus_path={root}'"
    assert len(read_msp_podcast(shlex.split(fix)[0].split("=", 1)[1]).manifest) == len(ROWS)


def test_missing_labels_file_says_which_path_to_pass(tmp_path):
    message = _error(lambda: read_msp_podcast(tmp_path))
    assert "labels_consensus.csv" in message and "corpus_path=" in message
    assert "corpus_path=" in _error(lambda: read_msp_podcast(None))


def test_missing_audio_file_names_file_and_row(tmp_path):
    root = make_msp(tmp_path)
    (root / "Audios" / "a_004.wav").unlink()
    message = _error(lambda: read_msp_podcast(root))
    assert "labels_consensus.csv" in message and "row 5" in message and "a_004.wav" in message


def test_missing_audio_is_fine_without_audio_check(tmp_path):
    root = make_msp(tmp_path)
    (root / "Audios" / "a_004.wav").unlink()
    corpus = read_msp_podcast(root, check_audio=False)
    assert corpus.manifest["duration"].isna().all()


def test_corrupt_wav_names_file_and_row(tmp_path):
    root = make_msp(tmp_path)
    (root / "Audios" / "a_002.wav").write_bytes(b"RIFF\x00\x00garbage" * 10)
    message = _error(lambda: read_msp_podcast(root))
    assert "a_002.wav" in message and "row 3" in message and "labels_consensus.csv" in message
    assert "cannot decode audio" in message


def test_wrong_column_name_names_expected_and_found(tmp_path):
    root = make_msp(tmp_path, header=HEADER.replace("EmoAct", "Arousal"))
    message = _error(lambda: read_msp_podcast(root))
    assert "labels_consensus.csv" in message and "row 1" in message
    assert "EmoAct" in message and "Arousal" in message


def test_duplicate_id_names_both_rows(tmp_path):
    root = make_msp(tmp_path, rows=[*ROWS, "a_002.wav,N,3.0,4.0,4.0,9,Male,Train"])
    message = _error(lambda: read_msp_podcast(root))
    assert "row 7" in message and "row 3" in message and "a_002.wav" in message


@pytest.mark.parametrize("value", ["", "NaN", "nan"])
def test_nan_attribute_in_labelled_row(tmp_path, value):
    rows = list(ROWS)
    rows[1] = f"a_002.wav,N,3.6,{value},4.0,1,Male,Train"
    message = _error(lambda: read_msp_podcast(make_msp(tmp_path, rows)))
    assert "labels_consensus.csv" in message and "row 3" in message and "EmoVal" in message


def test_non_numeric_and_out_of_range_attributes(tmp_path):
    rows = list(ROWS)
    rows[0] = "a_001.wav,A,high,2.0,5.5,1,Male,Train"
    message = _error(lambda: read_msp_podcast(make_msp(tmp_path / "a", rows)))
    assert "row 2" in message and "'high'" in message
    rows[0] = "a_001.wav,A,9.5,2.0,5.5,1,Male,Train"
    message = _error(lambda: read_msp_podcast(make_msp(tmp_path / "b", rows)))
    assert "row 2" in message and "outside" in message


def test_unknown_class_code(tmp_path):
    rows = list(ROWS)
    rows[2] = "a_003.wav,Q,4.0,3.0,4.0,2,Female,Train"
    message = _error(lambda: read_msp_podcast(make_msp(tmp_path, rows)))
    assert "labels_consensus.csv" in message and "row 4" in message and "'Q'" in message
    assert "O" in message and "X" in message  # the fix lists the train-only codes too


def test_unknown_split_name(tmp_path):
    rows = list(ROWS)
    rows[3] = "a_004.wav,H,5.4,6.2,4.8,3,Female,Dev"
    message = _error(lambda: read_msp_podcast(make_msp(tmp_path, rows)))
    assert "row 5" in message and "'Dev'" in message and "Development" in message


def test_wrong_field_count_and_blank_lines_keep_line_numbers(tmp_path):
    root = make_msp(tmp_path)
    labels = root / "Labels" / "labels_consensus.csv"
    lines = labels.read_text().splitlines()
    lines.insert(2, "")  # a blank line 3: the data rows after it are lines 4..
    lines.append("a_006.wav,N,3.0,4.0")
    labels.write_text("\n".join(lines) + "\n")
    message = _error(lambda: read_msp_podcast(root))
    assert "row 8" in message and "4 fields" in message


def test_non_utf8_transcript_names_the_file(tmp_path):
    root = make_msp(tmp_path)
    (root / "Transcripts" / "a_003.txt").write_bytes(b"caf\xe9 au lait\n")
    message = _error(lambda: read_msp_podcast(root))
    assert "a_003.txt" in message and "UTF-8" in message
    assert "row 1" in message and "row 4 of" in message  # line in the transcript, row in labels


def test_empty_and_missing_transcripts_are_kept_counted_and_logged(tmp_path, caplog):
    root = make_msp(tmp_path)
    (root / "Transcripts" / "a_002.txt").write_text("  \n", encoding="utf-8")
    (root / "Transcripts" / "a_004.txt").unlink()
    with caplog.at_level(logging.WARNING):
        corpus = read_msp_podcast(root)
    m = corpus.manifest
    assert len(m) == len(ROWS)
    assert corpus.info["empty_transcripts"] == 1 and corpus.info["missing_transcripts"] == 1
    assert m["text"].isna().tolist() == [False, True, False, True, False]
    assert m["text_source"].isna().tolist() == [False, True, False, True, False]
    assert any("no transcript" in r.getMessage() for r in caplog.records)


def test_transcripts_none_and_required(tmp_path):
    root = make_msp(tmp_path)
    assert read_msp_podcast(root, transcripts="none").manifest["text"].isna().all()
    for f in (root / "Transcripts").iterdir():
        f.unlink()
    (root / "Transcripts").rmdir()
    assert read_msp_podcast(root).info["transcripts"] == "none"
    assert "Transcripts" in _error(lambda: read_msp_podcast(root, transcripts="reference"))


def test_test3_rows_may_be_unlabelled_and_test3_list_adds_rows(tmp_path):
    rows = [*ROWS, "a_006.wav,,,,,,,Test3"]
    root = make_msp(tmp_path, rows)
    _wav(root / "Audios" / "b_001.wav")
    (root / "test3.txt").write_text("FileName\nb_001.wav\n\na_006.wav\n", encoding="utf-8")
    m = read_msp_podcast(root, test3_list="test3.txt").manifest
    assert len(m) == len(rows) + 1
    new = m[m["id"] == "b_001.wav"].iloc[0]
    assert new["split"] == "Test3" and pd.isna(new["label"]) and np.isnan(new["arousal"])
    assert m.loc[m["id"] == "a_006.wav", "label"].isna().all()
    # An empty class in a labelled split is an error.
    rows[1] = "a_002.wav,,3.6,4.0,4.0,1,Male,Train"
    message = _error(lambda: read_msp_podcast(make_msp(tmp_path / "x", rows)))
    assert "row 3" in message and "EmoClass" in message


def test_test3_list_conflicting_with_labels(tmp_path):
    root = make_msp(tmp_path)
    (root / "test3.txt").write_text("a_001.wav\n", encoding="utf-8")
    message = _error(lambda: read_msp_podcast(root, test3_list=root / "test3.txt"))
    assert "test3.txt" in message and "row 1" in message and "Train" in message


NEW_CHALLENGE = """
from harness.challenges.base import Challenge

CHALLENGE = Challenge(
    name="msp_four",
    title="A four-class MSP-Podcast challenge",
    classes=("A", "S", "H", "N"),
    class_names={c: c for c in "ASHN"},
    train_only_classes=("X",),
    tasks=("categorical", "attributes"),
    attribute_range=(1.0, 7.0),
    splits=("Train", "Development", "Test1"),
    eval_splits=("Test1",),
    submission_split="Test1",
    hidden_splits=("Test1",),
    corpora=("msp_podcast",),
)
"""


def _older_release(root: Path) -> Path:
    """An MSP-Podcast folder as releases before 1.11 ship it: ``labels_concensus.csv``, and
    ``Validation`` for Development."""
    rows = [r.replace(",Development", ",Validation") for r in ROWS]
    make_msp(root, rows)
    labels = root / "Labels" / "labels_consensus.csv"
    labels.rename(labels.with_name("labels_concensus.csv"))
    return root


def test_msp_reader_reads_an_older_release_and_never_ranks_it(tmp_path, monkeypatch, caplog):
    """v1.6 and v1.8 name the file labels_concensus.csv and Development "Validation": the
    reader said "labels file not found" (and then "unknown split 'Validation'")."""
    import harness.data.readers.msp_podcast as msp

    monkeypatch.setattr(msp, "identify_release", lambda manifest, root: ("msp-podcast", True))
    with caplog.at_level(logging.INFO):
        old = read_msp_podcast(_older_release(tmp_path / "v1.8"))
    assert list(old.manifest["split"]) == ["Train", "Train", "Train", "Development", "Test3"]
    assert not old.official and old.name == "msp-layout-v1.8"
    assert "labels_concensus.csv is the labels file of an MSP-Podcast release before 1.11" in (
        caplog.text
    )
    assert read_msp_podcast(make_msp(tmp_path / "v1.11")).official  # the same shape, v1.11's name


def test_corpus_path_at_an_older_release_labels_folder_names_the_corpus_folder(tmp_path):
    root = _older_release(tmp_path / "MSP 1.8")
    text = _error(lambda: read_msp_podcast(root / "Labels"))
    assert shlex.quote(f"corpus_path={root}") in text


def test_msp_reader_takes_classes_and_splits_from_the_registered_challenge(tmp_path, monkeypatch):
    """A new challenge is a module plus one registry line: the reader needs no edit."""
    from harness import registry

    (tmp_path / "msp_four.py").write_text(NEW_CHALLENGE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry._EXTRA["challenges"], "msp_four", "msp_four:CHALLENGE")
    rows = [r.replace("Test3", "Test1") for r in ROWS] + ["a_006.wav,,,,,,,Test1"]
    root = make_msp(tmp_path / "corpus", rows)
    corpus = read_msp_podcast(root, challenge="msp_four")
    assert corpus.challenge == "msp_four"
    m = corpus.manifest
    assert m["split"].tolist() == ["Train"] * 3 + ["Development", "Test1", "Test1"]
    assert m.loc[m["id"] == "a_006.wav", "label"].isna().all()  # Test1 is hidden here
    # Odyssey 2024 knows no Test1 without labels, nor this challenge a Test3 or a U.
    assert "row 7" in _error(lambda: read_msp_podcast(root))
    odyssey_root = make_msp(tmp_path / "odyssey")
    message = _error(lambda: read_msp_podcast(odyssey_root, challenge="msp_four"))
    assert "'Test3'" in message and "Test1" in message and "row 6" in message
    rows[0] = "a_001.wav,U,6.0,2.0,5.5,1,Male,Train"
    message = _error(lambda: read_msp_podcast(make_msp(tmp_path / "u", rows), challenge="msp_four"))
    assert "'U'" in message and "row 2" in message


def test_reader_refuses_a_challenge_not_scored_on_its_corpus(tmp_path):
    root = make_msp(tmp_path)
    message = _error(lambda: read_msp_podcast(root, challenge="emospeech2024"))
    assert "emospeech2024" in message and "msp_podcast" in message and "challenge=" in message
    assert "unknown challenge" in _error(lambda: read_msp_podcast(root, challenge="nope"))
    assert read_emospeech(make_emospeech(tmp_path / "es"), challenge="emospeech2024").challenge == (
        "emospeech2024"
    )
    message = _error(lambda: read_emospeech(tmp_path / "es", challenge="odyssey2024"))
    assert "odyssey2024" in message and "emospeech" in message


@pytest.mark.parametrize("rate", [8000, 44100])
def test_other_sample_rates_are_accepted_and_resampled(tmp_path, rate):
    root = make_msp(tmp_path)
    _wav(root / "Audios" / "a_001.wav", seconds=1.25, rate=rate)
    m = read_msp_podcast(root).manifest
    assert m["duration"].iloc[0] == pytest.approx(1.25)
    audio = load_audio(m["path"].iloc[0])
    assert audio.dtype == np.float32
    assert abs(len(audio) - 1.25 * 16000) <= 16


# -- EmoSpeech and MEACorpus ---------------------------------------------------------------------


def make_emospeech(root: Path, n_per_class: int = 5) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    classes = ["anger", "disgust", "fear", "joy", "neutral", "sadness"]
    train = ["id,label,transcription"]
    for c in classes:
        for k in range(n_per_class):
            train.append(f'{c}_{k}.mp3,{c},"texto de {c}, número {k}"')
    (root / "train.csv").write_text("\n".join(train) + "\n", encoding="utf-8")
    (root / "test.csv").write_text(
        "id,transcription\nt_1.mp3,hola\nt_2.mp3,adiós\nt_3.mp3,\n", encoding="utf-8"
    )
    return root


def test_emospeech_parses_handwritten_csvs(tmp_path):
    root = make_emospeech(tmp_path)
    (root / "audios").mkdir()
    _wav(root / "audios" / "t_9.wav")  # no id has this stem
    (root / "test_labels.csv").write_text("id,label\nt_1.mp3,joy\nt_2.mp3,Anger\n")
    corpus = read_emospeech(root)
    m = corpus.manifest
    # A 33-row folder in the layout is not the EmoSpeech release: named by its folder.
    assert corpus.name == f"emospeech-layout-{root.name}" and corpus.kind == "emospeech"
    assert not corpus.official
    assert corpus.challenge == "emospeech2024"
    assert corpus.info["development"] == "carved from Train, stratified by class (0.2)"
    assert m["split"].value_counts().to_dict() == {"Train": 24, "Development": 6, "Test": 3}
    dev = m[m["split"] == "Development"]
    assert sorted(dev["label"]) == ["anger", "disgust", "fear", "joy", "neutral", "sadness"]
    test = m[m["split"] == "Test"].set_index("id")
    assert test.loc["t_1.mp3", "label"] == "joy" and test.loc["t_2.mp3", "label"] == "anger"
    assert test["label"].isna().sum() == 1
    assert corpus.info["empty_transcripts"] == 1  # t_3 has no transcription: kept, counted
    assert test["text"].isna().sum() == 1
    assert m["path"].isna().all()  # no audio with those names: text-only still works
    assert m.loc[m["id"] == "anger_0.mp3", "text"].iloc[0] == "texto de anger, número 0"
    again = read_emospeech(root).manifest
    assert again["split"].tolist() == m["split"].tolist()  # the carve is seeded
    other = read_emospeech(root, seed=1).manifest
    assert set(other.loc[other["split"] == "Development", "id"]) != set(dev["id"])


def test_a_test_csv_with_its_own_labels_is_scored_with_them(tmp_path, caplog):
    """id,label,transcription for the test rows: the labels are its gold, not dropped."""
    root = make_emospeech(tmp_path)
    (root / "test.csv").write_text(
        "id,label,transcription\nt_1.mp3,joy,hola\nt_2.mp3,Sadness,adiós\nt_3.mp3,,\n",
        encoding="utf-8",
    )
    with caplog.at_level(logging.INFO, logger="harness"):
        test = read_emospeech(root).manifest.query("split == 'Test'").set_index("id")
    assert test.loc["t_1.mp3", "label"] == "joy" and test.loc["t_2.mp3", "label"] == "sadness"
    assert pd.isna(test.loc["t_3.mp3", "label"]) and test.loc["t_2.mp3", "text"] == "adiós"
    assert "test labels read from the label column of test.csv" in caplog.text
    # a labels file beside it, or test_labels_csv=False, still decides
    (root / "test_labels.csv").write_text("id,label\nt_1.mp3,anger\n", encoding="utf-8")
    again = read_emospeech(root).manifest.query("split == 'Test'").set_index("id")
    assert again.loc["t_1.mp3", "label"] == "anger" and pd.isna(again.loc["t_2.mp3", "label"])
    unlabelled = read_emospeech(root, test_labels_csv=False).manifest.query("split == 'Test'")
    assert unlabelled["label"].isna().all()
    (root / "test.csv").write_text("id,label,transcription\nt_1.mp3,joyful,hola\n")
    (root / "test_labels.csv").unlink()
    message = _error(lambda: read_emospeech(root))
    assert "test.csv: row 2" in message and "joyful" in message


def test_emospeech_attaches_existing_audio(tmp_path):
    root = make_emospeech(tmp_path)
    (root / "audios").mkdir()
    _wav(root / "audios" / "t_1.mp3")  # WAV bytes under an .mp3 name: libsndfile sniffs
    m = read_emospeech(root).manifest.set_index("id")
    assert m.loc["t_1.mp3", "path"] == str(root / "audios" / "t_1.mp3")
    assert m.loc["t_1.mp3", "duration"] == pytest.approx(0.5)
    assert np.isnan(m.loc["t_2.mp3", "duration"])


def test_ids_find_their_audio_converted_to_another_format(tmp_path, caplog):
    """The release's ids are MP3 names; audio converted once to WAV (or FLAC) is found by its
    stem, and the ids, which the submission carries, stay the release's."""
    root = make_emospeech(tmp_path)
    (root / "train_segments").mkdir()
    _wav(root / "train_segments" / "joy_1.wav")
    _wav(root / "train_segments" / "t_1.flac")
    _wav(root / "train_segments" / "t_2.wav")  # two candidates for t_2: neither is guessed
    _wav(root / "train_segments" / "t_2.ogg")
    with caplog.at_level(logging.INFO, logger="harness"):
        corpus = read_emospeech(root)
    m = corpus.manifest.set_index("id")
    assert m.loc["joy_1.mp3", "path"] == str(root / "train_segments" / "joy_1.wav")
    assert m.loc["joy_1.mp3", "duration"] == pytest.approx(0.5)
    assert m.loc["t_1.mp3", "path"] == str(root / "train_segments" / "t_1.flac")
    assert pd.isna(m.loc["t_2.mp3", "path"])
    assert corpus.info["audio_other_extension"] == 2
    assert "2 of 33 ids matched a file of another audio extension" in caplog.text
    assert "joy_1.mp3" in m.index and "joy_1.wav" not in m.index


@pytest.mark.parametrize("given", ["train.csv", "train_segments", "train_segments/joy_1.mp3"])
def test_an_emospeech_path_near_the_folder_gets_the_folder_as_its_fix(tmp_path, given):
    root = make_emospeech(tmp_path / "es")
    (root / "train_segments").mkdir()
    _wav(root / "train_segments" / "joy_1.mp3")
    message = _error(lambda: read_emospeech(root / given))
    assert message.endswith(f"(fix: pass corpus_path={root})")
    assert "which is" in message and str(root / given) in message


def test_emospeech_errors_name_file_and_row(tmp_path):
    root = make_emospeech(tmp_path)
    train = root / "train.csv"
    lines = train.read_text(encoding="utf-8").splitlines()
    lines[3] = 'x.mp3,happiness,"hola"'
    train.write_text("\n".join(lines) + "\n", encoding="utf-8")
    message = _error(lambda: read_emospeech(root))
    assert "train.csv" in message and "row 4" in message and "'happiness'" in message

    root = make_emospeech(tmp_path / "dup")
    (root / "test.csv").write_text("id,transcription\nanger_1.mp3,hola\n", encoding="utf-8")
    message = _error(lambda: read_emospeech(root))
    assert "test.csv" in message and "row 2" in message and "train.csv" in message

    root = make_emospeech(tmp_path / "gold")
    (root / "gold.csv").write_text("id,label\nt_9.mp3,joy\n", encoding="utf-8")
    message = _error(lambda: read_emospeech(root, test_labels_csv="gold.csv"))
    assert "gold.csv" in message and "row 2" in message and "t_9.mp3" in message

    message = _error(lambda: read_emospeech(tmp_path / "nowhere"))
    assert "corpus_path=" in message


@pytest.mark.parametrize(
    "train_name", ["EmoSPeech_phase_2_train.csv", "EmoSPeech_phase_2_train_public.csv"]
)
def test_the_emospeech_release_folder_reads_under_its_own_file_names(tmp_path, train_name):
    """The release ships EmoSPeech_phase_2_train.csv (_train_public.csv in some participants'
    code) / _test_public.csv with the audio in train_segments/ and test_segments/: the folder
    reads as it is, without options."""
    root = make_emospeech(tmp_path / "release")
    (root / "train.csv").rename(root / train_name)
    (root / "test.csv").rename(root / "EmoSPeech_phase_2_test_public.csv")
    for folder, name in (("train_segments", "anger_0.mp3"), ("test_segments", "t_1.mp3")):
        (root / folder).mkdir()
        _wav(root / folder / name)
    m = read_emospeech(root).manifest.set_index("id")
    assert len(m) == 33 and m.loc["anger_0.mp3", "label"] == "anger"
    assert m.loc["anger_0.mp3", "path"] == str(root / "train_segments" / "anger_0.mp3")
    assert m.loc["t_1.mp3", "path"] == str(root / "test_segments" / "t_1.mp3")
    assert m.loc["t_2.mp3", "text"] == "adiós"


def test_the_revised_emospeech_test_csv_is_preferred_where_both_versions_are_present(tmp_path):
    """The final phase's test CSV ships as _test_public.csv and, with its transcriptions
    revised, _test_public2.csv: the revised text is what Task 1 systems read."""
    root = make_emospeech(tmp_path / "release")
    (root / "train.csv").rename(root / "EmoSPeech_phase_2_train.csv")
    test = root / "test.csv"
    revised = test.read_text(encoding="utf-8").replace("adiós", "adiós revisado")
    test.rename(root / "EmoSPeech_phase_2_test_public.csv")
    (root / "EmoSPeech_phase_2_test_public2.csv").write_text(revised, encoding="utf-8")
    m = read_emospeech(root).manifest.set_index("id")
    assert m.loc["t_2.mp3", "text"] == "adiós revisado"


def test_a_missing_csv_names_the_option_as_it_is_passed(tmp_path):
    """The fix is pasted on the command line, where a reader option is corpus_options.<name>."""
    (tmp_path / "empty").mkdir()
    message = _error(lambda: read_emospeech(tmp_path / "empty"))
    assert "corpus_options.train_csv=" in message and " train_csv=" not in message


def test_meacorpus_parses_the_public_csv(tmp_path):
    rows = ["filename,label,transcription,split"]
    for c in ["anger", "disgust", "fear", "joy", "neutral", "sadness"]:
        rows += [f"{c}_{k}.mp3,{c},texto {k},train" for k in range(5)]
        rows.append(f"{c}_t.mp3,{c},texto de prueba,TEST")
    (tmp_path / "MEACorpus2023.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    corpus = read_meacorpus(tmp_path)
    m = corpus.manifest
    assert corpus.name == f"meacorpus-layout-{tmp_path.name}"
    assert corpus.challenge == "emospeech2024" and not corpus.official
    assert m["split"].value_counts().to_dict() == {"Train": 24, "Test": 6, "Development": 6}
    assert read_meacorpus(tmp_path / "MEACorpus2023.csv").manifest.equals(m)

    rows[3] = "anger_2.mp3,anger,texto,holdout"
    (tmp_path / "MEACorpus2023.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    message = _error(lambda: read_meacorpus(tmp_path))
    assert "MEACorpus2023.csv" in message and "row 4" in message and "'holdout'" in message


def test_the_msp_podcast_release_is_identified_by_its_shape(tmp_path):
    import pandas as pd

    from harness.data.readers.msp_podcast import identify_release

    sizes = {"Train": 60_000, "Development": 12_000, "Test1": 11_000, "Test2": 5_000}
    ids, splits = [], []
    for split, n in sizes.items():
        ids += [f"MSP-PODCAST_{len(ids) // 100 + i // 100:04d}_{i % 100:04d}.wav" for i in range(n)]
        splits += [split] * n
    manifest = pd.DataFrame({"id": ids, "split": splits})
    assert identify_release(manifest, tmp_path / "MSP-Podcast") == ("msp-podcast", True)
    small = manifest.groupby("split").head(3)
    assert identify_release(small, tmp_path / "MSP-Podcast") == ("msp-layout-MSP-Podcast", False)
    renamed = manifest.assign(id=[f"utt{i}.wav" for i in range(len(manifest))])
    assert identify_release(renamed, tmp_path / "x")[1] is False


def test_a_later_msp_podcast_release_is_not_ranked_beside_odyssey_2024(tmp_path):
    """v1.12 (207,136 turns) and later keep v1.11's layout and file names: they were taken for
    the Odyssey 2024 corpus and ranked beside its published results. v1.11's own split sizes
    (84,030 / 19,815 / 30,647 / 14,815) still are, and so is v1.11 with some files removed."""
    import pandas as pd

    from harness.data.readers.msp_podcast import identify_release

    def folder(sizes):
        ids, splits = [], []
        for split, n in sizes.items():
            ids += [f"MSP-PODCAST_{(len(ids) + i) // 100:04d}_{i % 100:04d}.wav" for i in range(n)]
            splits += [split] * n
        return pd.DataFrame({"id": ids, "split": splits})

    v1_11 = {"Train": 84_030, "Development": 19_815, "Test1": 30_647, "Test2": 14_815}
    assert identify_release(folder(v1_11), tmp_path / "MSP")[1] is True
    fewer = {split: n - 500 for split, n in v1_11.items()}
    assert identify_release(folder(fewer), tmp_path / "MSP")[1] is True
    later = {"Train": 116_221, "Development": 30_000, "Test1": 40_000, "Test2": 17_000}  # 203k
    assert identify_release(folder(later), tmp_path / "MSP") == ("msp-layout-MSP", False)


def test_the_emospeech_release_is_identified_by_its_shape(tmp_path):
    """Only a folder shaped like the release is ranked beside the published EmoSpeech rows."""
    from harness.data.readers.emospeech import identify_release

    rng = np.random.default_rng(0)
    names = [f"{rng.integers(16**8):08x}-{rng.integers(16**8):08x}.mp3" for _ in range(3_400)]
    splits = ["Train"] * 2_400 + ["Development"] * 600 + ["Test"] * 400
    release = pd.DataFrame({"id": names, "split": splits})
    assert identify_release(release, tmp_path / "EmoSpeech", "emospeech") == ("emospeech", True)
    subset = release.groupby("split").head(50)
    assert identify_release(subset, tmp_path / "EmoSpeech", "emospeech") == (
        "emospeech-layout-EmoSpeech",
        False,
    )
    renamed = release.assign(id=[f"utt{i}.mp3" for i in range(len(release))])
    assert identify_release(renamed, tmp_path / "mine", "emospeech") == (
        "emospeech-layout-mine",
        False,
    )
    # MEACorpus's own split is not the challenge's: never beside the published rows.
    whole = pd.DataFrame({"id": names + names[:1_800], "split": ["Train"] * 5_200})
    assert identify_release(whole, tmp_path / "MEA", "meacorpus") == ("meacorpus-2023", False)


MEA_DATASET_HEADER = (
    '"youtube_key","segment_id","label","gender","start_time","end_time","transcription",'
    '"split","source"'
)


def _mea_dataset_csv(root: Path, videos_per_class: int = 3, segments: int = 3) -> Path:
    """MEACorpus's ``dataset.csv`` form: every field quoted, segments numbered within a video."""
    lines = [MEA_DATASET_HEADER]
    for c in ["anger", "disgust", "fear", "joy", "neutral", "sadness"]:
        for v in range(videos_per_class):
            for k in range(segments):
                split = "test" if v == videos_per_class - 1 and k == 0 else "train"
                lines.append(
                    f'"{c[:3]}Vid{v}_x","{k}.mp3","{c}","female","{k * 1000}.0","{k * 1000 + 900}.0",'
                    f'"texto de {c}, parte {k}","{split}","youtube"'
                )
    root.mkdir(parents=True, exist_ok=True)
    path = root / "dataset.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_meacorpus_reads_the_form_without_file_names(tmp_path):
    """``dataset.csv`` has no file name: a segment is ``<youtube_key>/<segment_id>``, its video
    is its speaker, and audio in a per-video folder is found."""
    _mea_dataset_csv(tmp_path)
    (tmp_path / "audios" / "angVid0_x").mkdir(parents=True)
    _wav(tmp_path / "audios" / "angVid0_x" / "1.mp3")
    corpus = read_meacorpus(tmp_path)
    m = corpus.manifest.set_index("id")
    assert len(m) == 54 and "angVid0_x/1.mp3" in m.index
    assert m.loc["angVid0_x/1.mp3", "path"] == str(tmp_path / "audios" / "angVid0_x" / "1.mp3")
    assert m.loc["angVid0_x/1.mp3", "duration"] == pytest.approx(0.5)
    assert m.loc["angVid0_x/2.mp3", "text"] == "texto de anger, parte 2"
    assert (m["speaker"] == [i.split("/")[0] for i in m.index]).all()
    assert set(m["gender"]) == {"female"}
    assert corpus.info["development"] == "carved from Train by speaker (0.2)"

    lines = (tmp_path / "dataset.csv").read_text(encoding="utf-8").splitlines()
    lines[4] = lines[2]
    (tmp_path / "dataset.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    message = _error(lambda: read_meacorpus(tmp_path))
    assert "dataset.csv" in message and "row 5" in message
    assert "duplicate youtube_key/segment_id 'angVid0_x/1.mp3' (first at row 3)" in message


def test_meacorpus_development_holds_whole_videos(tmp_path):
    """A video's segments share speaker, topic and label: Development takes whole videos, so
    Dev_bal never scores a sibling of a Train segment. Class-stratified as before otherwise."""
    _mea_dataset_csv(tmp_path, videos_per_class=10, segments=4)
    m = read_meacorpus(tmp_path).manifest
    train, dev = m[m["split"] == "Train"], m[m["split"] == "Development"]
    assert len(dev) > 0
    assert not set(train["speaker"]) & set(dev["speaker"])
    assert set(dev["label"]) == set(train["label"])  # every class in both
    assert 0.1 < len(dev) / (len(dev) + len(train)) < 0.3
    again = read_meacorpus(tmp_path).manifest
    assert again["split"].tolist() == m["split"].tolist()  # seeded

    # The public_v2.csv form: file names, with the video beside them.
    rows = ["youtube_key,filename,segment_id,label,gender,start_time,end_time,transcription,split"]
    for i, row in m.iterrows():
        video, segment = row["id"].split("/")
        split = "test" if row["split"] == "Test" else "train"
        rows.append(f"{video},{i:08x}-0000abcd.mp3,{segment},{row['label']},male,0,1,hola,{split}")
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "public_v2.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    v2 = read_meacorpus(tmp_path / "v2").manifest
    assert v2["id"].str.endswith("-0000abcd.mp3").all()
    v2_train, v2_dev = v2[v2["split"] == "Train"], v2[v2["split"] == "Development"]
    assert len(v2_dev) > 0 and not set(v2_train["speaker"]) & set(v2_dev["speaker"])


def test_meacorpus_csv_without_either_form_names_both(tmp_path):
    (tmp_path / "mea.csv").write_text(
        "segment_id,label,transcription,split\n0.mp3,joy,hola,train\n"
    )
    message = _error(lambda: read_meacorpus(tmp_path / "mea.csv"))
    assert "mea.csv" in message and "row 1" in message and "youtube_key" in message
    assert "filename,label,transcription,split" in message


def test_emospeech_with_a_videos_csv_carves_whole_videos(tmp_path):
    """The challenge's CSVs name no video; MEACorpus's public_v2.csv maps its ids to videos."""
    root = make_emospeech(tmp_path, n_per_class=12)
    train = pd.read_csv(root / "train.csv")
    videos = ["filename,youtube_key"] + [
        f"{utt},{utt.split('_')[0]}V{int(utt.split('_')[1].split('.')[0]) // 3}"
        for utt in train["id"]
    ]
    (root / "public_v2.csv").write_text("\n".join(videos) + "\n", encoding="utf-8")
    corpus = read_emospeech(root, videos_csv="public_v2.csv")
    m = corpus.manifest
    fit, dev = m[m["split"] == "Train"], m[m["split"] == "Development"]
    assert len(dev) > 0 and not set(fit["speaker"]) & set(dev["speaker"])
    assert set(dev["label"]) == set(fit["label"])
    assert corpus.info["development"] == "carved from Train by speaker (0.2)"
    assert corpus.info["videos"]["matched"] == 72 and corpus.info["videos"]["rows"] == 75
    # without it, rows are drawn per class and videos straddle the two
    plain = read_emospeech(root).manifest
    plain = plain.assign(video=plain["id"].map(dict(line.split(",") for line in videos[1:])))
    straddle = set(plain.loc[plain["split"] == "Train", "video"]) & set(
        plain.loc[plain["split"] == "Development", "video"]
    )
    assert straddle

    (root / "wrong.csv").write_text("filename,youtube_key\nx.mp3,abc\n", encoding="utf-8")
    message = _error(lambda: read_emospeech(root, videos_csv="wrong.csv"))
    assert "wrong.csv" in message and "none of the 75 ids" in message
    assert "corpus_options.videos_csv=" in message


def test_emospeech_development_from_a_list(tmp_path):
    """A published Development (BSC-UPC's dev_split.csv: id,label,transcription) is used as is."""
    root = make_emospeech(tmp_path)
    listed = ["anger_0.mp3", "joy_3.mp3", "fear_4.mp3"]
    (root / "dev_split.csv").write_text(
        "id,label,transcription\n" + "".join(f"{i},x,hola\n" for i in listed), encoding="utf-8"
    )
    corpus = read_emospeech(root, dev_csv="dev_split.csv")
    m = corpus.manifest
    assert sorted(m.loc[m["split"] == "Development", "id"]) == sorted(listed)
    assert (m["split"] == "Train").sum() == 27
    assert corpus.info["development"] == "listed in dev_split.csv (3 rows)"

    (root / "bad.csv").write_text("id\nanger_1.mp3\nt_1.mp3\n", encoding="utf-8")
    message = _error(lambda: read_emospeech(root, dev_csv="bad.csv"))
    assert "bad.csv" in message and "row 3" in message and "'t_1.mp3'" in message
    assert "corpus_options.dev_csv=" in message


def test_the_test3_audio_the_challenge_ships_is_found(tmp_path):
    """Odyssey 2024 ships Test3 as Audios/MSP-PODCAST_test3_0001.wav ... with no labels row; the
    organisers' baseline finds them in the folder, and so does the reader (test3_list=auto)."""
    root = make_msp(tmp_path)
    for k in (1, 2):
        _wav(root / "Audios" / f"MSP-PODCAST_test3_{k:04d}.wav")
    corpus = read_msp_podcast(root)
    m = corpus.manifest.set_index("id")
    shipped = m.loc[["MSP-PODCAST_test3_0001.wav", "MSP-PODCAST_test3_0002.wav"]]
    assert (shipped["split"] == "Test3").all() and shipped["label"].isna().all()
    assert shipped["duration"].tolist() == pytest.approx([0.5, 0.5])
    assert corpus.info["test3"] == "2 files MSP-PODCAST_test3_*.wav in Audios/"
    assert len(read_msp_podcast(root, test3_list="none").manifest) == len(m) - 2

    (root / "Audios" / "MSP-PODCAST_test3_0003.wav").write_bytes(b"not audio")
    message = _error(lambda: read_msp_podcast(root))
    assert "MSP-PODCAST_test3_0003.wav" in message and f"found in {root / 'Audios'}" in message
    assert "move it out of that folder" in message and "labels file" not in message


def test_the_release_with_its_test3_files_is_still_the_release(tmp_path):
    from harness.data.readers.msp_podcast import identify_release

    sizes = {"Train": 60_000, "Development": 12_000, "Test1": 11_000, "Test2": 5_000}
    ids, splits = [], []
    for split, n in sizes.items():
        ids += [f"MSP-PODCAST_{len(ids) // 100 + i // 100:04d}_{i % 100:04d}.wav" for i in range(n)]
        splits += [split] * n
    ids += [f"MSP-PODCAST_test3_{k:04d}.wav" for k in range(1, 3201)]
    splits += ["Test3"] * 3200
    manifest = pd.DataFrame({"id": ids, "split": splits})
    assert identify_release(manifest, tmp_path / "MSP-Podcast") == ("msp-podcast", True)


def test_emospeech_audio_in_the_challenge_folders(tmp_path):
    """BSC-UPC's code reads the challenge's audio from train_segments/; test audio may sit in
    test_segments/. Both are searched after audio_dir."""
    root = make_emospeech(tmp_path)
    (root / "train_segments").mkdir()
    (root / "test_segments").mkdir()
    _wav(root / "train_segments" / "joy_1.mp3")
    _wav(root / "test_segments" / "t_2.mp3")
    corpus = read_emospeech(root)
    m = corpus.manifest.set_index("id")
    assert m.loc["joy_1.mp3", "path"] == str(root / "train_segments" / "joy_1.mp3")
    assert m.loc["t_2.mp3", "path"] == str(root / "test_segments" / "t_2.mp3")
    assert pd.isna(m.loc["t_1.mp3", "path"])
    assert str(root / "train_segments") in corpus.info["audio_dir"]


def test_a_speaker_wise_carve_never_takes_a_class_out_of_train(tmp_path):
    """fear is only a minority row of one joy video: where drawing that video would leave fear
    without Train rows, the carve falls back to rows drawn per class, and says so."""
    lines = ["youtube_key,segment_id,label,transcription,split"]
    videos = {"vA": ["joy", "joy", "fear"], "vB": ["joy", "joy"]}
    videos |= {
        f"v{c}{k}": [c] * 3 for c in ("anger", "disgust", "neutral", "sadness") for k in (1, 2)
    }
    for video, labels in videos.items():
        lines += [f"{video},{k}.mp3,{label},hola,train" for k, label in enumerate(labels)]
    lines.append("vT,0.mp3,joy,hola,test")
    (tmp_path / "dataset.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ways = set()
    for seed in range(12):
        corpus = read_meacorpus(tmp_path, dev_fraction=0.9, seed=seed)
        m = corpus.manifest
        assert set(m.loc[m["split"] == "Train", "label"]) == {
            "anger",
            "disgust",
            "fear",
            "joy",
            "neutral",
            "sadness",
        }
        ways.add(corpus.info["development"])
    assert ways == {
        "carved from Train by speaker (0.9)",
        "carved from Train, stratified by class (0.9) (by speaker, a class would have no Train "
        "rows left)",
    }


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_a_csv_saved_with_semicolons_or_tabs_reads_as_with_commas(tmp_path, delimiter):
    """Spreadsheets in a Spanish locale save CSV with semicolons; the header said so, and the
    reader refused the file as one column."""
    import csv

    from harness.data.readers import read_emospeech

    codes = ["anger", "disgust", "fear", "joy", "neutral", "sadness"]
    train = [[f"u{i}.mp3", codes[i % 6], f"hola, qué {codes[i % 6]}"] for i in range(48)]
    test = [[f"t{i}.mp3", f"adiós, {i}"] for i in range(6)]
    frames = {}
    for sep in (",", delimiter):
        folder = tmp_path / ("comma" if sep == "," else "other")
        folder.mkdir()
        for name, header, rows in (
            ("train.csv", ["id", "label", "transcription"], train),
            ("test.csv", ["id", "transcription"], test),
        ):
            with open(folder / name, "w", newline="", encoding="utf-8") as handle:
                csv.writer(handle, delimiter=sep).writerows([header, *rows])
        manifest = read_emospeech(folder, check_audio=False).manifest
        frames[sep] = manifest[["id", "label", "text", "split"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(frames[","], frames[delimiter])
    assert frames[delimiter]["text"].iloc[0] == "hola, qué anger"


def test_an_empty_training_csv_is_one_line_naming_it(tmp_path):
    from harness.data.readers import read_emospeech

    (tmp_path / "train.csv").write_text("id,label,transcription\n")
    (tmp_path / "test.csv").write_text("id,transcription\nt0.mp3,hola\n")
    with pytest.raises(HarnessError, match="the training CSV has no rows") as caught:
        read_emospeech(tmp_path, check_audio=False)
    assert str(tmp_path / "train.csv") in str(caught.value)


def test_a_meacorpus_folder_with_a_semicolon_csv_is_found_and_read(tmp_path):
    from harness.data.readers import read_meacorpus

    codes = ["anger", "disgust", "fear", "joy", "neutral", "sadness"]
    rows = [
        f"v{i % 8};{i};{codes[i % 6]};hola, {i};{'train' if i < 48 else 'test'}" for i in range(60)
    ]
    (tmp_path / "dataset.csv").write_text(
        "youtube_key;segment_id;label;transcription;split\n" + "\n".join(rows) + "\n"
    )
    manifest = read_meacorpus(tmp_path, check_audio=False).manifest
    assert len(manifest) == 60
    assert manifest.loc[manifest["id"] == "v1/1", "text"].item() == "hola, 1"


def test_meacorpus_repository_root_reads_its_output_folder(tmp_path):
    """The corpus's repository keeps spanish-meacorpus-2023-dataset.csv in output/, where its
    download script also writes the audio: the repository root is a valid corpus_path."""
    csv_path = _mea_dataset_csv(tmp_path / "output")
    csv_path.rename(csv_path.with_name("spanish-meacorpus-2023-dataset.csv"))
    (tmp_path / "output" / "angVid0_x").mkdir()
    _wav(tmp_path / "output" / "angVid0_x" / "0.mp3")
    m = read_meacorpus(tmp_path).manifest.set_index("id")
    assert len(m) == 54 and m.loc["angVid0_x/0.mp3", "label"] == "anger"
    assert m.loc["angVid0_x/0.mp3", "path"] == str(tmp_path / "output" / "angVid0_x" / "0.mp3")


def test_a_meacorpus_audio_folder_gets_the_corpus_folder_as_its_fix(tmp_path):
    _mea_dataset_csv(tmp_path / "output")
    (tmp_path / "output" / "angVid0_x").mkdir()
    message = _error(lambda: read_meacorpus(tmp_path / "output" / "angVid0_x"))
    assert message.endswith(f"(fix: pass corpus_path={tmp_path / 'output'})")
    assert len(read_meacorpus(tmp_path / "output").manifest) == 54


def test_checking_many_audio_headers_shows_a_bar(bars, tmp_path):
    """A real corpus's header check (152,000 files for MSP-Podcast) counts its files on a
    terminal; a small folder's takes no bar."""
    from harness.data.readers.common import audio_durations

    source = tmp_path / "labels.csv"
    n = 9 * 1024
    durations = audio_durations([None] * n, [(source, i + 2) for i in range(n)])
    assert np.isnan(durations).all() and len(durations) == n
    assert bars == [("checking audio headers", n, n)]
    bars.clear()
    audio_durations([None] * 10, [(source, i + 2) for i in range(10)])
    assert bars == []


def test_meacorpus_segment_audio_converted_to_another_format_is_found(tmp_path):
    """``dataset.csv`` ids are ``<video>/<n>.mp3``; audio converted once to WAV (or FLAC) in the
    per-video folders was "no audio path" for every row: the other-extension match covered
    only ids without a folder."""
    _mea_dataset_csv(tmp_path)
    (tmp_path / "audios" / "angVid0_x").mkdir(parents=True)
    _wav(tmp_path / "audios" / "angVid0_x" / "1.wav")
    _wav(tmp_path / "audios" / "angVid0_x" / "2.wav")
    _wav(tmp_path / "audios" / "angVid0_x" / "2.flac")  # two candidates: never guessed between
    m = read_meacorpus(tmp_path).manifest.set_index("id")
    assert m.loc["angVid0_x/1.mp3", "path"] == str(tmp_path / "audios" / "angVid0_x" / "1.wav")
    assert m.loc["angVid0_x/1.mp3", "duration"] == pytest.approx(0.5)
    assert pd.isna(m.loc["angVid0_x/2.mp3", "path"])
    assert m.index.str.endswith(".mp3").all()  # the ids, which the submission carries, stay
