"""Bad input gets one line before any corpus is built or model trained, and nothing is left behind."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from harness import registry
from harness.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def _one_line_error(result) -> str:
    text = result.output.strip()
    assert result.exit_code == 2, text
    assert "Traceback" not in text
    assert text.startswith("error:"), text
    assert len(text.splitlines()) <= 3, text  # one message, possibly soft-wrapped by rich
    return " ".join(text.split())


def _run(tmp_path, *args):
    cache = tmp_path / "cache"
    env = {"HARNESS_CACHE": str(cache)}
    result = runner.invoke(
        app, ["run", *args, f"output_dir={tmp_path / 'runs'}", "progress=false"], env=env
    )
    return result, cache


@pytest.mark.parametrize(
    "args, expected",
    [
        (["system=text_tfidf", "seed=abc"], "seed="),
        (["system=text_tfidf", "devbal_n=abc"], "devbal_n="),
        (["system=text_tfidf", "bootstrap=abc"], "bootstrap="),
        (["system=text_tfidf", "target_prior=foo"], "target_prior="),
        (["system=text_tfidf", "target_prior=[1,-2]"], "target_prior="),
        (["system=text_tfidf", "corpus_options.chek_audio=false"], "corpus_options"),
        (["system=text_tfidf", "demo.lnag=es"], "demo."),
        (["system=text_tfidf", "demo.lang=fr"], "demo.lang"),
        (["system=text_tfidf", "tasks=[categoricl]"], "tasks="),
        (["system=text_tfidf", "asr=whispr"], "asr="),
        (["system=fusion_lr", "members=[text_tfidf]"], "two members"),
        (["system=fusion_lr", "members=[text_tfidf,nope]"], "unknown system"),
        (
            ["system=fusion_lr", "members=[text_tfidf,audio_egemaps]", "member_params.txt.C=1"],
            "member_params",
        ),
        (["system=fusion_lr", "profile=light", "stacking=stack"], "stacking="),
        (
            ["system=fusion_lr", "profile=light", "stacking=off"],
            "reads on/off/yes/no as true/false",
        ),
        (["system=fusion_lr", "members=text_tfidf"], "needs at least two members"),
        (["system=fusion_lr", "members=5"], "members=5 is not a list of systems"),
        (["system=text_tfidf", "challenge=emospeech2024"], "fix: pass demo.lang=es, or leave"),
        (
            ["system=text_tfidf", "challenge=odyssey2024", "demo.lang=es"],
            "not scored on the es demo",
        ),
        (["system=fusion_lr", "profile=light", "stacking_groups=spk"], "stacking_groups="),
        (["system=text_tfidf", "profile=nope"], "fix: remove profile=nope"),
        (
            [
                "system=fusion_lr",
                "members=[text_tfidf,audio_w2vbert]",
                "member_params.audio_w2vbert.output=backend",
                "member_params.audio_w2vbert.backend=none",
            ],
            "member audio_w2vbert: output=backend needs a back-end, but backend=none "
            "(fix: pass member_params.audio_w2vbert.backend=lda_lr",
        ),
        (["system=audio_embed", "profile=nope"], "fix: pass profile= one of none, demo"),
        (
            ["system=fusion_lr", "members=[text_tfidf,text_tfidf,audio_egemaps]"],
            "fix: pass members=[text_tfidf,audio_egemaps]",
        ),
    ],
)
def test_bad_values_fail_in_one_line_before_the_corpus_is_built(tmp_path, args, expected):
    result, cache = _run(tmp_path, *args)
    text = _one_line_error(result)
    assert expected in text
    assert not (cache / "demo").exists(), "the corpus was built before the check"
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_target_prior_with_the_wrong_number_of_weights_fails_before_training(tmp_path):
    from harness.checks import check_target_prior
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="8 classes"):
        check_target_prior([1, 2], n_classes=8)
    check_target_prior([1] * 8, n_classes=8)


def test_unwritable_output_and_cache_dir_are_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result, _ = _run(tmp_path, "system=text_tfidf", f"cache_dir={blocker / 'cache'}")
    assert "cache_dir is not writable" in _one_line_error(result)
    result = runner.invoke(app, ["run", "system=text_tfidf", f"output_dir={blocker / 'runs'}"])
    assert "output_dir is not writable" in _one_line_error(result)
    table = tmp_path / "runs"
    table.mkdir()
    result = runner.invoke(
        app, ["leaderboard", f"runs={table}", "format=csv", f"out={blocker / 'x.csv'}"]
    )
    assert "out" in _one_line_error(result)


def test_missing_weights_fail_before_any_directory_exists(tmp_path):
    result, cache = _run(
        tmp_path, "system=text_llm", "profile=none", f"backbone={tmp_path / 'no-model'}"
    )
    text = _one_line_error(result)
    assert "backbone=" in text
    assert not cache.exists() or not any(cache.rglob("*.work"))
    assert not (cache / "demo").exists()
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_a_fusion_profile_never_reaches_its_members():
    from harness.config import member_config, resolve

    config = resolve({"system": "fusion_lr", "profile": "light", "corpus": "msp_podcast"})
    assert config["members"] == ["text_tfidf", "audio_egemaps"]
    for member in config["members"]:
        resolved = member_config(config, member)
        assert resolved["profile"] is None
        assert resolved["system"] == member


def test_messages_keep_their_square_brackets(tmp_path, monkeypatch):
    from harness.errors import HarnessError

    def fail(config, **kwargs):
        raise HarnessError(
            "needs NeMo", fix="pip install 'ser-harness[asr]' and pass tasks=[categorical]"
        )

    monkeypatch.setattr("harness.runner.run", fail)
    result = runner.invoke(app, ["run", "system=text_tfidf"])
    text = _one_line_error(result)
    assert "'ser-harness[asr]'" in text
    assert "tasks=[categorical]" in text


# -- every `fix:` names a real key ------------------------------------------------------------
def _fix_strings() -> list[tuple[str, str]]:
    found = []
    for package in ("harness", "systems", "leaderboards"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.keyword) and node.arg == "fix":
                    parts = [
                        v.value
                        for v in ast.walk(node.value)
                        if isinstance(v, ast.Constant) and isinstance(v.value, str)
                    ]
                    found.append((f"{path.relative_to(ROOT)}:{node.lineno}", "".join(parts)))
    return found


def _known_keys() -> set[str]:
    from harness.checks import reader_options
    from harness.cli import LEADERBOARD_KEYS, SCORE_KEYS
    from harness.config import defaults

    keys = set(defaults())
    keys |= {f"demo.{k}" for k in ("lang", "n", "seed")}
    for corpus in registry.names("corpora"):
        keys |= {f"corpus_options.{k}" for k in reader_options(corpus)}
    keys |= SCORE_KEYS | LEADERBOARD_KEYS | {"model", "splits", "asr_params"}
    from harness.config import system_defaults

    for name in registry.names("systems"):
        try:
            keys |= set(registry.get("systems", name).param_names())
        except ImportError:
            continue
        # A mapping parameter's own keys (pooler_config.num_heads=) are set with a dot.
        for param, value in (system_defaults(name).get("params") or {}).items():
            if isinstance(value, dict):
                keys |= {f"{param}.{key}" for key in value}
    import inspect

    for name in registry.names("asr"):
        try:
            keys |= set(inspect.signature(registry.get("asr", name).__init__).parameters) - {"self"}
        except ImportError:
            continue
    return keys


def test_every_fix_hint_names_a_real_key():
    known = _known_keys()
    bad = []
    for where, text in _fix_strings():
        for key in re.findall(r"(?<![\w./:-])([a-z][a-z0-9_]*(?:\.[a-z0-9_<>]+)*)=", text):
            if key == "key" or key.startswith(("member_params.", "params.", "asr_params.")):
                continue
            if key not in known:
                bad.append(f"{where}: {key}= in {text!r}")
    assert bad == []


# -- validate ---------------------------------------------------------------------------------
def test_validate_rejects_unknown_options_and_says_when_completeness_is_unchecked(tmp_path):
    good = tmp_path / "sub.csv"
    good.write_text("FileName,EmoClass\na.wav,N\nb.wav,A\n")
    result = runner.invoke(app, ["validate", str(good), "challenge=odyssey2024", "id=ids.txt"])
    assert "'id'" in _one_line_error(result)
    result = runner.invoke(app, ["validate", str(good), "challenge=odyssey2024"])
    assert result.exit_code == 0
    assert "completeness was NOT checked" in " ".join(result.output.split())
    ids = tmp_path / "ids.txt"
    ids.write_text("a.wav\nb.wav\nc.wav\n")
    result = runner.invoke(app, ["validate", str(good), "challenge=odyssey2024", f"ids={ids}"])
    assert result.exit_code == 1
    assert "c.wav" in result.output


# -- score ------------------------------------------------------------------------------------
CLASSES = registry.get("challenges", "odyssey2024").classes


def _labels(tmp_path) -> Path:
    path = tmp_path / "labels.csv"
    rows = [
        {
            "FileName": f"u{i}.wav",
            "EmoClass": CLASSES[i % 8],
            "Split_Set": "Test1" if i < 16 else "Test2",
            "EmoAct": 4.0,
            "EmoVal": 4.0,
            "EmoDom": 4.0,
        }
        for i in range(32)
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _posteriors(tmp_path, values: np.ndarray) -> Path:
    frame = pd.DataFrame(values, columns=list(CLASSES))
    frame.insert(0, "id", [f"u{i}.wav" for i in range(len(values))])
    path = tmp_path / "pred.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda v: v * 2, "do not sum to 1"),
        (lambda v: np.where(np.arange(8) == 0, -0.5, v + 0.5 / 7), "negative posterior"),
        (lambda v: np.zeros_like(v), "all-zero"),
        (lambda v: np.where(np.arange(8) == 0, np.inf, v), "infinite"),
    ],
)
def test_score_rejects_broken_posteriors(tmp_path, mutate, expected):
    values = np.full((32, 8), 1 / 8)
    values[5] = mutate(values[5])
    path = _posteriors(tmp_path, values)
    result = runner.invoke(app, ["score", str(path), f"labels={_labels(tmp_path)}", "bootstrap=0"])
    text = _one_line_error(result)
    assert expected in text and "row 7" in text  # line 7 of the file holds u5


def test_score_rejects_attributes_off_the_scale_and_inf(tmp_path):
    frame = pd.DataFrame(
        {"id": [f"u{i}.wav" for i in range(32)], "arousal": 4.0, "valence": 4.0, "dominance": 4.0}
    )
    frame.loc[3, "valence"] = 40.0
    path = tmp_path / "attr.csv"
    frame.to_csv(path, index=False)
    args = ["score", str(path), "task=attributes", f"labels={_labels(tmp_path)}", "bootstrap=0"]
    assert "outside the challenge scale" in _one_line_error(runner.invoke(app, args))
    submission = tmp_path / "sub.csv"
    submission.write_text("FileName,EmoAct,EmoVal,EmoDom\nu0.wav,inf,4,4\n")
    args[1] = str(submission)
    assert "inf" in _one_line_error(runner.invoke(app, args))


def test_score_with_a_labels_file_honours_split(tmp_path):
    values = np.full((32, 8), 0.01)
    values[np.arange(32), np.arange(32) % 8] = 0.93  # every prediction right
    values[16:] = np.roll(values[16:], 1, axis=1)  # Test2 all wrong
    path = _posteriors(tmp_path, values)
    labels = _labels(tmp_path)
    one = runner.invoke(app, ["score", str(path), f"labels={labels}", "split=Test1", "bootstrap=0"])
    two = runner.invoke(app, ["score", str(path), f"labels={labels}", "split=Test2", "bootstrap=0"])
    assert one.exit_code == 0 and two.exit_code == 0, one.output + two.output
    assert "macro_f1 = 1.0000" in one.output and "(n=16, split Test1)" in one.output
    assert "macro_f1 = 0.0000" in two.output


@pytest.mark.parametrize("separator", ["\t", ";"])
def test_score_reads_a_labels_file_saved_as_tsv_or_with_semicolons(tmp_path, separator):
    """Participants' code keeps EmoSpeech's labels as TSV (dev_split.tsv); a Spanish-locale
    spreadsheet saves CSV with semicolons. Either used to fail with 'no FileName column'."""
    values = np.full((32, 8), 0.01)
    values[np.arange(32), np.arange(32) % 8] = 0.93
    comma = _labels(tmp_path)
    other = tmp_path / "labels.tsv"
    other.write_text(comma.read_text().replace(",", separator))
    path = _posteriors(tmp_path, values[:16])
    expected = runner.invoke(app, ["score", str(path), f"labels={comma}", "bootstrap=0"])
    result = runner.invoke(app, ["score", str(path), f"labels={other}", "bootstrap=0"])
    assert result.exit_code == 0, result.output
    assert "macro_f1 = 1.0000" in result.output and result.output == expected.output


def test_score_against_a_labels_file_of_every_split_scores_the_predicted_split(tmp_path):
    """A Test1 submission against a labels file of every split (MSP-Podcast's
    labels_consensus.csv) is scored on Test1, the split that holds its ids; predictions that
    span two splits ask for split= in one line."""
    values = np.full((32, 8), 0.01)
    values[np.arange(32), np.arange(32) % 8] = 0.93
    labels = _labels(tmp_path)
    test1 = _posteriors(tmp_path, values[:16])
    result = runner.invoke(app, ["score", str(test1), f"labels={labels}", "bootstrap=0"])
    assert result.exit_code == 0, result.output
    assert "macro_f1 = 1.0000" in result.output and "(n=16, split Test1)" in result.output
    both = _posteriors(tmp_path, values)
    text = _one_line_error(runner.invoke(app, ["score", str(both), f"labels={labels}"]))
    assert "2 splits" in text and "split=Test1" in text


def _emospeech_folder(tmp_path, n_train: int, *, test_text: bool = True):
    """train.csv (every class, Spanish text) and a 12-row test.csv, with or without text."""
    corpus = tmp_path / "emo"
    corpus.mkdir()
    codes = ["anger", "disgust", "fear", "joy", "neutral", "sadness"]
    train = [f"u{i}.mp3,{codes[i % 6]},hola {codes[i % 6]} {i}" for i in range(n_train)]
    (corpus / "train.csv").write_text("id,label,transcription\n" + "\n".join(train) + "\n")
    test = [
        f"u{i}.mp3," + (f"hola {codes[i % 6]}" if test_text else "")
        for i in range(n_train, n_train + 12)
    ]
    (corpus / "test.csv").write_text("id,transcription\n" + "\n".join(test) + "\n")
    return corpus


def test_a_text_system_on_a_split_without_transcripts_stops_before_training(tmp_path):
    """A corpus whose test set has no transcripts (MSP-Podcast without Transcripts/, a test CSV
    with empty text) stopped a text system only deep in scikit-learn ("empty vocabulary"), or
    let it predict from empty strings; now the run stops first, in one line naming the split and
    asr=whisper. An audio system on the same corpus is not concerned."""
    corpus = _emospeech_folder(tmp_path, 48, test_text=False)
    args = ["corpus=emospeech", f"corpus_path={corpus}", "corpus_options.check_audio=false"]
    result, _cache = _run(tmp_path, "system=text_tfidf", *args)
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    message = " ".join(result.output[result.output.index("error:") :].split())
    assert "no utterance of Test in corpus" in message and "asr=whisper" in message
    assert "training on" not in result.output

    from harness.config import resolve
    from harness.corpora import check_text_present, load_corpus
    from harness.errors import HarnessError

    loaded = load_corpus("emospeech", corpus_path=corpus, corpus_options={"check_audio": False})
    with pytest.raises(HarnessError, match="fusion_lr has a member that reads transcripts"):
        check_text_present(resolve({"system": "fusion_lr", "profile": "light"}), loaded)
    check_text_present(resolve({"system": "audio_egemaps"}), loaded)  # audio only: no concern


def test_an_emospeech_corpus_without_development_gets_a_fix_that_works_when_pasted(tmp_path):
    """EmoSpeech ships no Development split; with dev_fraction=0 the run stopped with "give the
    corpus a Development split", which nothing could paste. The fix now names the option, and
    pasting it runs."""
    corpus = _emospeech_folder(tmp_path, 60)
    args = ["system=text_tfidf", "corpus=emospeech", f"corpus_path={corpus}"]
    result, _cache = _run(tmp_path, *args, "corpus_options.dev_fraction=0")
    message = " ".join(result.output[result.output.index("error:") :].split())
    assert result.exit_code == 2 and "no Development split" in message, result.output
    pasted = message.split("fix: pass ")[1].split(" ")[0]
    assert pasted == "corpus_options.dev_fraction=0.2"
    again, _cache = _run(tmp_path, *args, pasted)
    assert again.exit_code == 0, again.output


def test_an_audio_system_on_utterances_without_audio_is_one_line(tmp_path):
    """EmoSpeech ids that match no file under audios/ leave the rows text-only; an audio system
    run on them stops before training, with one line naming the utterance and the labels file
    and row that list it, not a stack trace from its cache."""
    corpus = tmp_path / "emo"
    (corpus / "audios").mkdir(parents=True)
    codes = ["anger", "disgust", "fear", "joy", "neutral", "sadness"]
    train = [f"u{i}.mp3,{codes[i % 6]},hola {i}" for i in range(48)]
    (corpus / "train.csv").write_text("id,label,transcription\n" + "\n".join(train) + "\n")
    test = [f"u{i}.mp3,hola {i}" for i in range(48, 60)]
    (corpus / "test.csv").write_text("id,transcription\n" + "\n".join(test) + "\n")
    result, _cache = _run(
        tmp_path, "system=audio_egemaps", "corpus=emospeech", f"corpus_path={corpus}"
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    message = result.output[result.output.index("error:") :]  # after the run's log lines
    assert len(message.strip().splitlines()) <= 3, message
    assert "'u0.mp3' has no audio path" in message and "needs audio" in message
    assert "train.csv" in message and "row 2" in message, message
    assert "training on" not in result.output  # stopped before any member was fit
    runs = tmp_path / "runs"
    completed = (
        [p for p in runs.iterdir() if not p.name.endswith(".partial")] if runs.exists() else []
    )
    assert not completed


# -- score / validate / data demo options -------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["labels={labels}", "seed=x"], "harness score: seed=x is not accepted"),
        (["labels={labels}", "bootstrap=-1"], "bootstrap=-1 is not accepted"),
        (["corpus=demo", "n=abc"], "n=abc is not accepted"),
        (["corpus=demo", "lang=de"], "lang takes one of en, es"),
        (["labels={tmp}/nope.csv"], "nope.csv: labels file not found"),
        (["labels={tmp}/no-label.csv"], "the labels file has no label column"),
        (["labels={tmp}/bad-attr.csv", "task=attributes"], "row 3: EmoVal='high' is not a number"),
        (
            ["corpus=emospeech", "corpus_path={tmp}", "corpus_options.dev_fraction=abc"],
            "corpus_options.dev_fraction=abc is not accepted",
        ),
        (["corpus=demo", "challenge=nope"], "unknown challenge 'nope'"),
    ],
)
def test_score_options_are_one_line_before_any_corpus(tmp_path, args, expected):
    """These were tracebacks (int('x'), a missing file, KeyError 'label') or were not checked."""
    (tmp_path / "no-label.csv").write_text("id,x\nu0.wav,1\n")
    (tmp_path / "bad-attr.csv").write_text(
        "FileName,EmoAct,EmoVal,EmoDom\nu0.wav,4,4,4\nu1.wav,4,high,4\n"
    )
    path = _posteriors(tmp_path, np.full((32, 8), 1 / 8))
    if "task=attributes" in args:
        path = tmp_path / "attr.csv"
        path.write_text("id,arousal,valence,dominance\nu0.wav,4,4,4\nu1.wav,4,4,4\n")
    labels = _labels(tmp_path)
    args = [a.format(labels=labels, tmp=tmp_path) for a in args]
    env = {"HARNESS_CACHE": str(tmp_path / "cache")}
    text = _one_line_error(runner.invoke(app, ["score", str(path), *args], env=env))
    assert expected in text
    assert not (tmp_path / "cache" / "demo").exists()


def test_validate_and_data_demo_check_their_values(tmp_path):
    env = {"HARNESS_CACHE": str(tmp_path / "cache")}
    sub = tmp_path / "sub.csv"
    sub.write_text("FileName,EmoClass\na.wav,A\n")
    text = _one_line_error(
        runner.invoke(app, ["validate", str(sub), "corpus=demo", "seed=-2"], env=env)
    )
    assert "seed=-2 is not accepted" in text and "fix: pass seed=0" in text
    text = _one_line_error(runner.invoke(app, ["data", "demo", "n=abc"], env=env))
    assert "harness data demo: n=abc is not accepted" in text
    assert not (tmp_path / "cache" / "demo").exists()


def test_score_takes_the_challenge_of_the_corpus(demo_corpus_es_small, tmp_path):
    """A Spanish-demo submission scored against its corpus, without challenge=, is scored as an
    EmoSpeech one (it used to be read as an Odyssey file and refused)."""
    manifest = demo_corpus_es_small.manifest
    test = manifest[manifest["split"] == "Test"]
    sub = tmp_path / "sub.csv"
    pd.DataFrame({"id": test["id"], "label": test["label"]}).to_csv(sub, index=False)
    cache = demo_corpus_es_small.root.parent.parent  # <cache>/demo/es-n120-s0
    n = 120  # conftest's SMALL_N_ES
    result = runner.invoke(
        app,
        [
            "score",
            str(sub),
            "corpus=demo",
            "lang=es",
            f"n={n}",
            "seed=0",
            f"cache_dir={cache}",
            "bootstrap=0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "macro_f1 = 1.0000" in result.output


def test_scoring_a_runs_development_predictions_against_the_corpus_finds_their_split(
    demo_corpus_es_small, tmp_path
):
    """A run's predictions/categorical/Development.csv scored with corpus= (no split=) was
    scored against Test and refused for "labelled ids with no prediction"; the split that holds
    every predicted id is scored, and an incomplete file names the split it was checked on."""
    manifest = demo_corpus_es_small.manifest
    development = manifest[manifest["split"] == "Development"]
    sub = tmp_path / "dev.csv"
    pd.DataFrame({"id": development["id"], "label": development["label"]}).to_csv(sub, index=False)
    cache = demo_corpus_es_small.root.parent.parent
    args = ["corpus=demo", "lang=es", "n=120", "seed=0", f"cache_dir={cache}", "bootstrap=0"]
    result = runner.invoke(app, ["score", str(sub), *args])
    assert result.exit_code == 0, result.output
    assert "macro_f1 = 1.0000" in result.output and "split Development" in result.output
    pd.DataFrame({"id": development["id"][1:], "label": development["label"][1:]}).to_csv(
        sub, index=False
    )
    text = _one_line_error(runner.invoke(app, ["score", str(sub), *args]))
    assert "1 labelled ids of split Development have no prediction" in text


def test_messages_are_printed_without_emoji_codes(tmp_path):
    """``{hidden_layers:-1}`` (no space after the colon) is a YAML key ``hidden_layers:-1``;
    rich turned its ``:-1:`` into a thumbs-down emoji in the error line."""
    result, _ = _run(tmp_path, "system=multimodal_attnpool", "ensemble=[{hidden_layers:-1}]")
    text = _one_line_error(result)
    assert "hidden_layers:-1: null" in text and "\N{THUMBS UP SIGN}" not in text
    assert "\N{THUMBS DOWN SIGN}" not in text


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["transcribe", "n=abc"], "harness transcribe: n=abc is not accepted"),
        (["transcribe", "seed=-1"], "harness transcribe: seed=-1 is not accepted"),
        (["transcribe", "beam_size=0"], "asr_params.beam_size=0 is not accepted"),
        (
            ["transcribe", "corpus=emospeech", "corpus_path=x", "corpus_options.check_audio=maybe"],
            "corpus_options.check_audio=maybe is not accepted",
        ),
        (["leaderboard", "all=maybe"], "all=maybe is not accepted (all takes true or false)"),
        (["leaderboard", "format=xml"], "format=xml is not accepted"),
    ],
)
def test_transcribe_and_leaderboard_options_are_one_line(tmp_path, args, expected):
    """n=abc and seed=-1 were tracebacks in transcribe; all=maybe was taken as true."""
    env = {"HARNESS_CACHE": str(tmp_path / "cache")}
    text = _one_line_error(runner.invoke(app, args, env=env))
    assert expected in text
    assert not (tmp_path / "cache" / "demo").exists()


def test_params_as_a_mapping_is_the_same_as_its_keys():
    """params={C: 2} used to be taken as a parameter named 'params'."""
    from harness.config import resolve

    config = resolve({"system": "text_tfidf", "params": {"C": 2}})
    assert config["params"]["C"] == 2 and config["label"] == "text_tfidf(C=2)"
    assert resolve({"system": "text_tfidf", "C": 2})["label"] == config["label"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["system=text_tfidf", "params=5"], "params=5 is not a mapping of parameters"),
        (["system=text_tfidf", "params={C: -2}"], "text_tfidf: C=-2 is not accepted"),
        (
            ["system=fusion_lr", "profile=light", "member_params.text_tfidf=5"],
            "member_params.text_tfidf=5 is not a mapping of parameters",
        ),
    ],
)
def test_mappings_of_parameters_are_checked_as_mappings(tmp_path, args, expected):
    """member_params.text_tfidf=5 was a TypeError traceback."""
    result, cache = _run(tmp_path, *args)
    assert expected in _one_line_error(result)
    assert not (cache / "demo").exists()


def test_a_name_or_path_that_looks_like_a_number_stays_a_string():
    from harness.config import parse_overrides

    parsed = parse_overrides(
        [
            "corpus_path=2024",
            "corpus_options.audio_dir=16000",
            "corpus_options.test_labels_csv=false",
            "member_params.text_llm.backbone=7",
            "seed=2024",
            "C=0.5",
        ]
    )
    assert parsed == {
        "corpus_path": "2024",
        "corpus_options.audio_dir": "16000",
        "corpus_options.test_labels_csv": False,
        "member_params.text_llm.backbone": "7",
        "seed": 2024,
        "C": 0.5,
    }


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("system=[a]", "unknown system ['a']"),
        ("profile=[x]", "profile=['x'] is not a profile name"),
        ("corpus=[x]", "unknown corpus ['x']"),
        ("challenge=[x]", "unknown challenge ['x']"),
        ("output_dir=[x]", "output_dir=['x'] is not a folder"),
    ],
)
def test_run_keys_of_the_wrong_type_are_one_line(tmp_path, arg, expected):
    """Each was a TypeError traceback (a list is not hashable, nor a path)."""
    args = ([] if arg.startswith("system=") else ["system=text_tfidf"]) + [arg]
    result = runner.invoke(app, ["run", *args], env={"HARNESS_CACHE": str(tmp_path / "c")})
    assert expected in _one_line_error(result)


def test_a_corpus_in_a_folder_named_like_a_number_runs(tmp_path, monkeypatch):
    """corpus_path=2024 reached the reader as the integer 2024: a TypeError traceback."""
    corpus = tmp_path / "2024"
    corpus.mkdir()
    codes = ["anger", "disgust", "fear", "joy", "neutral", "sadness"]
    words = {c: f"{c} {c} palabra" for c in codes}
    train = [f"u{i}.mp3,{codes[i % 6]},{words[codes[i % 6]]} {i}" for i in range(96)]
    (corpus / "train.csv").write_text("id,label,transcription\n" + "\n".join(train) + "\n")
    test = [f"u{i}.mp3,{words[codes[i % 6]]} {i}" for i in range(96, 108)]
    (corpus / "test.csv").write_text("id,transcription\n" + "\n".join(test) + "\n")
    monkeypatch.chdir(tmp_path)
    result, _ = _run(
        tmp_path, "system=text_tfidf", "corpus=emospeech", "corpus_path=2024", "bootstrap=0"
    )
    assert result.exit_code == 0, result.output
    assert "emospeech2024_task1_Test.csv" in " ".join(result.output.split()).replace(" ", "")
