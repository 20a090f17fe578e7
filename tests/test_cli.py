"""The command line: fast start-up without heavy imports, one-line errors, validate exit codes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from harness.cli import app

runner = CliRunner()


def test_help_and_ls_do_not_import_torch_transformers_or_peft():
    code = (
        "import sys\n"
        "from harness.cli import app\n"
        "for argv in (['--help'], ['ls'], ['run', '--help']):\n"
        "    try:\n"
        "        app(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'sklearn', 'pandas') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ("leaderboard", ["[out=FILE]", "[all=true]", "[paired=true", "[bootstrap=1000]]"]),
        ("score", ["[split=Test3]"]),
        ("validate", ["[ids=FILE"]),
        ("compare", ["[task=...]", "[split=...]", "[bootstrap=1000]", "[seed=0]"]),
        ("transcribe", ["[corpus_path=...]", "[model=...]"]),
    ],
)
def test_help_keeps_the_optional_keys_in_square_brackets(command, shown):
    """Help read as rich markup took ``[all=true]`` for a style tag and printed nothing."""
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    for text in shown:
        assert text in result.output, (text, result.output)


def test_run_help_names_every_configuration_key():
    from harness.config import defaults

    result = runner.invoke(app, ["run", "--help"])
    assert result.exit_code == 0, result.output
    missing = [
        key
        for key in defaults()
        if f"{key}=" not in result.output and f"{key}." not in result.output
    ]
    assert not missing, missing


def test_ls_lists_every_kind():
    result = runner.invoke(app, ["ls"])
    assert result.exit_code == 0
    for name in (
        "fusion_lr",
        "audio_w2vbert",
        "text_llm",
        "odyssey2024",
        "emospeech2024",
        "msp_podcast",
        "whisper",
    ):
        assert name in result.output


def _one_line_error(result) -> str:
    text = result.output.strip()
    assert result.exit_code == 2, text
    assert "Traceback" not in text
    assert text.startswith("error:")
    return text


def test_real_corpus_without_path_says_what_to_pass():
    text = _one_line_error(runner.invoke(app, ["run", "system=text_tfidf", "corpus=msp_podcast"]))
    assert "corpus_path=" in text


def test_unknown_system_lists_the_registered_ones():
    text = _one_line_error(runner.invoke(app, ["run", "system=nope"]))
    assert "fusion_lr" in text


def test_unknown_system_parameter_is_one_line(tmp_path):
    text = _one_line_error(
        runner.invoke(
            app,
            ["run", "system=text_tfidf", "no_such_param=1", f"cache_dir={tmp_path}", "demo.n=80"],
        )
    )
    assert "no_such_param" in text


def test_validate_exit_codes_and_problem_lines(tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("a.wav\nb.wav\nc.wav\n")
    good = tmp_path / "good.csv"
    good.write_text("FileName,EmoClass\na.wav,A\nb.wav,N\nc.wav,S\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("FileName,EmoClass\na.wav,A\na.wav,N\nc.wav,Z\n")
    ok = runner.invoke(
        app, ["validate", str(good), "challenge=odyssey2024", "task=categorical", f"ids={ids}"]
    )
    assert ok.exit_code == 0, ok.output
    result = runner.invoke(
        app, ["validate", str(bad), "challenge=odyssey2024", "task=categorical", f"ids={ids}"]
    )
    assert result.exit_code == 1
    output = result.output.replace("\n", " ")
    assert "line 3" in output and "duplicate" in output
    assert "line 4" in output and "'Z'" in output
    assert "b.wav" in output and "missing" in output


def test_validate_and_score_read_the_challenge_and_task_from_the_header(tmp_path):
    """Without challenge= or task=, a submission's header says which it is: an EmoSpeech
    ``id,label`` file is checked as EmoSpeech's (it was refused as a bad Odyssey file), and an
    Odyssey ``FileName,EmoAct,EmoVal,EmoDom`` file is scored on the attributes."""
    emo = tmp_path / "emospeech2024_task1_Test.csv"
    emo.write_text("id,label\na.mp3,joy\nb.mp3,anger\n")
    result = runner.invoke(app, ["validate", str(emo)])
    assert result.exit_code == 0, result.output
    assert "emospeech2024 categorical" in result.output.replace("\n", " ")
    attributes = tmp_path / "task2.csv"
    attributes.write_text("FileName,EmoAct,EmoVal,EmoDom\na.wav,3.0,4.0,5.0\nb.wav,5.0,2.0,3.0\n")
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "FileName,EmoClass,EmoAct,EmoVal,EmoDom\na.wav,A,3.0,4.0,5.0\nb.wav,S,5.0,2.0,3.0\n"
    )
    scored = runner.invoke(app, ["score", str(attributes), f"labels={labels}", "bootstrap=0"])
    assert scored.exit_code == 0, scored.output
    assert "ccc_mean = 1.0000" in scored.output
    reordered = tmp_path / "reordered.csv"  # the attributes' columns, in the wrong order
    reordered.write_text("FileName,EmoAct,EmoDom,EmoVal\na.wav,3.0,4.0,5.0\n")
    checked = runner.invoke(app, ["validate", str(reordered)])
    assert checked.exit_code == 1 and "expected 'FileName,EmoAct,EmoVal,EmoDom'" in checked.output
    odd = tmp_path / "odd.csv"  # a header of no challenge: Odyssey's checks say what is wrong
    odd.write_text("id,anger\na.wav,1\n")
    refused = runner.invoke(app, ["validate", str(odd)])
    assert refused.exit_code == 1 and "FileName,EmoClass" in refused.output


def test_validate_attributes_rejects_nan(tmp_path):
    bad = tmp_path / "task2.csv"
    bad.write_text("FileName,EmoAct,EmoVal,EmoDom\na.wav,3.0,nan,4.0\n")
    result = runner.invoke(app, ["validate", str(bad), "challenge=odyssey2024", "task=attributes"])
    assert result.exit_code == 1
    assert "line 2" in result.output and "EmoVal" in result.output


def test_a_log_gets_no_transformers_loading_bar(tmp_path):
    """Off a terminal, the harness's logging keeps transformers' own tqdm bar ("Loading
    weights") out of the log; loading a model then writes nothing to standard error."""
    pytest.importorskip("transformers")
    script = (
        "from harness.cli import _setup_logging\n"
        "_setup_logging(False)\n"
        "from systems.components.local_weights import local_model\n"
        "from transformers import AutoModel\n"
        "AutoModel.from_pretrained(local_model('minilm', 'backbone'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "Loading weights" not in result.stderr


def test_a_forgotten_file_is_named_as_such():
    """``harness validate challenge=emospeech2024`` (no file) says the file is missing, where it
    reported the option as a file not found and a bad Odyssey submission."""
    for command in ("validate", "score"):
        result = runner.invoke(app, [command, "challenge=emospeech2024", "task=categorical"])
        text = " ".join(result.output.split())
        assert result.exit_code == 2, result.output
        assert "no file given" in text and f"harness {command} FILE challenge=emospeech2024" in text


def test_the_commands_bars_write_nothing_off_a_terminal(capfd):
    """The bars of harness run / transcribe / data demo draw nothing into a log file; each
    left a blank line there."""
    from harness.cli import _Bar

    bar = _Bar("building the demo corpus")
    for done in range(4):
        bar(done, 3)
    assert capfd.readouterr() == ("", "")


def test_validate_reads_an_id_list_with_a_header_in_any_separator(tmp_path):
    """ids=FILE may be a labels file: FileName or id column, commas, tabs or semicolons."""
    good = tmp_path / "good.csv"
    good.write_text("FileName,EmoClass\na.wav,A\nb.wav,N\n")
    for name, text in (
        ("comma.csv", "FileName,EmoClass\na.wav,A\nb.wav,N\n"),
        ("tabs.tsv", "id\tlabel\na.wav\tA\nb.wav\tN\n"),
        ("semicolons.csv", "\ufeffFileName;EmoClass\na.wav;A\nb.wav;N\n"),
    ):
        ids = tmp_path / name
        ids.write_text(text, encoding="utf-8")
        result = runner.invoke(app, ["validate", str(good), "challenge=odyssey2024", f"ids={ids}"])
        assert result.exit_code == 0, (name, result.output)
        assert "against 2 expected ids" in result.output.replace("\n", " ")


def test_printed_paths_keep_their_square_brackets(tmp_path):
    """A path is printed as it is: rich markup read ``/data/run[2]`` as ``/data/run``."""
    cache = tmp_path / "cache[2]"
    result = runner.invoke(app, ["data", "demo", "n=48", f"cache_dir={cache}"])
    assert result.exit_code == 0, result.output
    assert str(cache / "demo" / "en-n48-s0") in result.output


@pytest.mark.parametrize(
    ("argv", "pasted"),
    [
        (["run", "sytem=text_tfidf"], "harness run system=text_tfidf"),
        (["run", "system=text_tfidf", "corpus_pth=/data/MSP"], "pass corpus_path=/data/MSP "),
        (["run", "system=text_tfidf", "profle=light"], "pass profile=light "),
        (
            ["run", "system=fusion_lr", "membres=[text_tfidf,audio_egemaps]"],
            "pass members=[text_tfidf,audio_egemaps] ",
        ),
        (
            ["run", "system=text_tfidf", "min_dff=2", "max_feature=100"],
            "pass max_features=100 min_df=2 ",
        ),
        (
            ["run", "system=fusion_lr", "profile=light", "member_params.text_tfidf.min_dff=2"],
            "pass member_params.text_tfidf.min_df=2 ",
        ),
        (["run", "system=text_tfidf", "demo.lagn=es"], "pass demo.lang=es "),
        (
            [
                "run",
                "system=text_tfidf",
                "corpus=emospeech",
                "corpus_path=/x",
                "corpus_options.check_audoi=false",
            ],
            "pass corpus_options.check_audio=false ",
        ),
        (["leaderboard", "formt=markdown"], "pass format=markdown "),
        (["compare", "a", "b", "bootsrap=200"], "pass bootstrap=200 "),
    ],
)
def test_a_mistyped_key_gets_the_key_it_meant_with_its_value(argv, pasted):
    """A slip of a run key went to the system's parameters, and the fix listed only those."""
    text = _one_line_error(runner.invoke(app, argv))
    assert pasted in text, text


def test_the_pasted_fix_for_a_slip_gets_past_the_key_check(tmp_path):
    missing = tmp_path / "MSP"
    first = _one_line_error(
        runner.invoke(
            app, ["run", "system=text_tfidf", "corpus=msp_podcast", f"corpus_pth={missing}"]
        )
    )
    fixed = first.split("(fix: pass ", 1)[1].split(" instead of ", 1)[0]
    second = _one_line_error(
        runner.invoke(app, ["run", "system=text_tfidf", "corpus=msp_podcast", fixed])
    )
    assert "has no parameter" not in second and str(missing) in second, second


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "system=text_tfidf", "zzz=1"],
        ["run", "system=text_tfidf", "corpus_pth=/x", "zzz=1"],  # one slip, one unknown: no guess
        ["run", "system=text_tfidf", "demo.zz=es"],
        ["leaderboard", "zzz=1"],
    ],
)
def test_an_unknown_key_that_is_no_slip_lists_the_valid_keys(argv):
    text = _one_line_error(runner.invoke(app, argv))
    assert "instead of" not in text and ("valid" in text or "takes" in text), text


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["run", "system=text_tfdf"], "did you mean 'text_tfidf'?"),
        (
            ["run", "system=fusion_lr", "members=[text_tfdf,audio_egemaps]"],
            "did you mean 'text_tfidf'?",
        ),
        (["run", "system=text_tfidf", "corpus=emospeach"], "did you mean 'emospeech'?"),
        (["run", "system=fusion_lr", "profile=ofline"], "(fix: pass profile=offline "),
    ],
)
def test_a_mistyped_name_is_named(argv, said):
    text = _one_line_error(runner.invoke(app, argv))
    assert said in text, text


def _summarised_run(run, split: str, submissions: dict[str, str], capsys) -> str:
    """What the run summary prints for a hand-written run directory ``run``."""
    import json

    from harness.views import print_run_summary

    run.mkdir(parents=True)
    result = {
        "task": "categorical",
        "split": split,
        "variant": "prior",
        "metrics": {"macro_f1": 0.4},
    }
    metrics = {
        "system": run.name.split("-", 2)[-1],
        "corpus": {"name": "msp-podcast", "challenge": "odyssey2024"},
        "primary": {"categorical": {"split": split, "metric": "macro_f1"}},
        "results": [{**result, "ci": {"macro_f1": [0.3, 0.5]}}],
        "submissions": submissions,
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    print_run_summary(run)
    return capsys.readouterr().out


def test_run_summary_prints_each_path_on_one_line(tmp_path, capsys):
    """The run directory and submission paths were broken with newlines at the terminal's width,
    so a path copied from the summary named no file."""
    run = tmp_path / ("a-long-folder-name-" * 4) / "20261205-201850-fusion_lr"
    submission = "submissions/odyssey2024_categorical_Test3.csv"
    lines = _summarised_run(run, "Test3", {"categorical": submission}, capsys).splitlines()
    assert f"run directory: {run}" in lines
    assert f"submission (categorical): {run / submission}" in lines


WIDE = {"COLUMNS": "400"}


def test_ls_systems_says_what_each_system_is_from_its_yaml():
    from harness import registry
    from harness.config import system_defaults

    result = runner.invoke(app, ["ls", "systems"], env=WIDE)
    assert result.exit_code == 0, result.output
    for name in registry.names("systems"):
        assert f"{name}: {system_defaults(name)['description']}" in result.output
    assert "text_tfidf: " in result.output and "reads: text\n" in result.output


def test_ls_system_lists_every_parameter_with_the_value_a_run_uses():
    from harness.config import resolve
    from harness.params import override

    result = runner.invoke(app, ["ls", "fusion_lr"], env=WIDE)
    assert result.exit_code == 0, result.output
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in result.output.splitlines()
        if line.count("│") == 4
    }
    from harness import registry

    params = resolve({"system": "fusion_lr", "profile": "none"})["params"]
    assert set(registry.get("systems", "fusion_lr").param_names()) <= set(rows)
    for name, value in params.items():
        assert rows[name] == override("", value)[1:], (name, rows[name], value)


def test_ls_system_profiles_are_overrides_that_resolve_as_the_profile_does():
    from harness.config import parse_overrides, resolve

    result = runner.invoke(app, ["ls", "fusion_lr"], env=WIDE)
    line = next(x for x in result.output.splitlines() if x.startswith("profile=offline: "))
    words = parse_overrides(line.split(": ", 1)[1].split())
    pasted = resolve({"system": "fusion_lr", "profile": "none", **words})
    profile = resolve({"system": "fusion_lr", "profile": "offline"})
    assert pasted["members"] == profile["members"] and pasted["params"] == profile["params"]


def test_ls_unknown_name_is_one_line():
    text = _one_line_error(runner.invoke(app, ["ls", "fusion_l"]))
    assert "did you mean 'fusion_lr'?" in text


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["check", "system=text_tfidf", "corpus=msp_podcast"], "corpus_path="),
        (["check", "system=text_tfidf", "C=-1"], "C=-1 is not accepted"),
        (["check", "system=text_tfidf", "corpus_pth=/x"], "pass corpus_path=/x "),
    ],
)
def test_check_refuses_what_run_refuses_in_one_line(argv, said):
    check = _one_line_error(runner.invoke(app, argv))
    run = _one_line_error(runner.invoke(app, ["run", *argv[1:]]))
    assert said in check and check == run


def test_ls_system_under_a_profile_shows_the_values_that_profile_runs_with():
    from harness.config import resolve
    from harness.params import override

    result = runner.invoke(app, ["ls", "fusion_lr", "profile=offline"], env=WIDE)
    assert result.exit_code == 0, result.output
    profile = resolve({"system": "fusion_lr", "profile": "offline"})
    assert "reads: text\n" in result.output
    assert f"members: {override('members', profile['members'])}" in result.output
    assert "│ stacking        │ oof " in result.output
    text = _one_line_error(runner.invoke(app, ["ls", "text_embed", "profile=usm3"]))
    assert "pass profile=usem3" in text


def test_run_summary_says_when_no_submission_was_written(tmp_path, capsys):
    """A run on a corpus without the ranked split (MSP-Podcast without its Test3 audio) ended
    with its scores and nothing to say that no file was written for the challenge."""
    out = _summarised_run(tmp_path / "20261205-201850-text_tfidf", "Test2", {}, capsys)
    assert "no submission: the corpus has no rows of the split the challenge ranks" in out
