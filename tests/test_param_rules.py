"""Every system parameter's value is checked before a corpus is built, and the fix pastes."""

from __future__ import annotations

import copy

import pytest
from typer.testing import CliRunner

from harness import registry
from harness.cli import app
from harness.config import parse_overrides, resolve, system_defaults
from harness.errors import HarnessError
from harness.members import check_params
from harness.params import (
    check_param_values,
    choice,
    either,
    flag,
    integer,
    items,
    mapping,
    number,
    optional,
    override,
    pasteable,
    text,
)
from systems.components.params import PROFILE_KEYS

SYSTEMS = registry.names("systems")


def _accepts(rule, value) -> bool:
    return rule.problem(value)[1] is None


@pytest.mark.parametrize("name", SYSTEMS)
def test_every_parameter_has_a_rule_and_every_rule_a_parameter(name):
    system_cls = registry.get("systems", name)
    assert set(system_cls.param_rules) == set(system_cls.param_names())


@pytest.mark.parametrize("name", SYSTEMS)
def test_the_yaml_values_and_every_profile_pass_their_rules(name):
    """The rules never refuse what the system ships with."""
    system_cls = registry.get("systems", name)
    own = system_defaults(name)
    base = own.get("params") or {}
    configs = {"params": base}
    for profile, values in (own.get("profiles") or {}).items():
        values = {k: v for k, v in copy.deepcopy(values).items() if k not in PROFILE_KEYS}
        configs[profile] = {**base, **values}
    for where, params in configs.items():
        assert set(params) <= set(system_cls.param_names()), (name, where)
        for key, value in params.items():
            assert _accepts(system_cls.param_rules[key], value), (name, where, key, value)


def test_numbers_and_integers_keep_their_bounds_and_types():
    assert _accepts(number(gt=0), 1) and _accepts(number(gt=0), 0.5)
    for bad in (0, -1, "1", True, None, [1]):
        assert not _accepts(number(gt=0), bad), bad
    assert _accepts(number(ge=0, le=1), 0) and _accepts(number(ge=0, le=1), 1)
    assert not _accepts(number(ge=0, le=1), 1.5)
    assert not _accepts(number(ge=0, lt=1), 1)
    assert _accepts(integer(ge=1), 3)
    for bad in (0, 2.5, True, "3"):
        assert not _accepts(integer(ge=1), bad), bad


def test_choices_flags_text_and_optional():
    rule = choice("devbal", "oof")
    assert _accepts(rule, "oof") and not _accepts(rule, "OOF") and not _accepts(rule, False)
    assert _accepts(choice(None, "balanced"), None)
    assert not _accepts(choice(1, 2), True)  # True == 1, but it is not the integer 1
    assert _accepts(flag(), False) and not _accepts(flag(), "false") and not _accepts(flag(), 0)
    assert _accepts(text(), "org/model") and not _accepts(text(), " ") and not _accepts(text(), 3)
    assert _accepts(optional(integer(ge=1)), None) and not _accepts(optional(integer(ge=1)), 0)
    assert _accepts(either(number(gt=0), items(number(gt=0))), [0.1, 1])
    assert not _accepts(either(number(gt=0), items(number(gt=0))), [0.1, -1])


def test_lists_check_length_items_and_order():
    pair = items(integer(ge=1), length=2, ordered=True)
    assert _accepts(pair, [1, 2]) and _accepts(pair, (2, 2))
    for bad in ([2, 1], [1], [1, 2, 3], [0, 1], "12", [1, "2"]):
        assert not _accepts(pair, bad), bad
    assert not _accepts(items(text()), [])
    assert _accepts(items(text(), min_length=0), [])


def test_a_mapping_names_the_key_at_fault():
    rule = mapping(hidden=integer(ge=1), lr=number(gt=0))
    assert rule.problem({"hidden": 8}) == ("", None)
    assert rule.problem({"hidden": 0, "lr": 1}) == ("hidden", "an integer >= 1")
    assert rule.problem({"hiden": 8}) == ("hiden", "")  # a key it does not have
    assert not _accepts(rule, [8])


def _fix(error: HarnessError) -> dict:
    """The override a ``fix: pass key=value`` line stands for, parsed as the CLI parses it."""
    assert error.fix and error.fix.startswith("pass "), error.fix
    return parse_overrides([error.fix.removeprefix("pass ")])


def test_the_fix_is_the_yaml_value_and_it_pastes():
    rules = {"C": number(gt=0), "ngrams": items(integer(ge=1), length=2, ordered=True)}
    defaults = {"C": 4.0, "ngrams": [1, 2]}
    with pytest.raises(HarnessError) as caught:
        check_param_values("text_tfidf", rules, {"C": -1, "ngrams": [1, 2]}, defaults)
    assert str(caught.value).startswith("text_tfidf: C=-1 is not accepted (C takes a number > 0)")
    assert _fix(caught.value) == {"C": 4.0}
    with pytest.raises(HarnessError) as caught:
        check_param_values("x", rules, {"ngrams": [3, 1]}, defaults, prefix="member_params.x.")
    assert _fix(caught.value) == {"member_params.x.ngrams": [1, 2]}
    assert " " not in error_fix_value(caught.value)


def error_fix_value(error: HarnessError) -> str:
    return error.fix.partition("=")[2]


def test_a_nested_key_gets_a_dotted_fix():
    rules = {"attention": mapping(hidden=integer(ge=1), lr=number(gt=0))}
    defaults = {"attention": {"hidden": 128, "lr": 0.001}}
    with pytest.raises(HarnessError) as caught:
        check_param_values("s", rules, {"attention": {"hidden": 0, "lr": 0.1}}, defaults)
    assert "attention.hidden=0 is not accepted" in str(caught.value)
    assert _fix(caught.value) == {"attention.hidden": 128}
    with pytest.raises(HarnessError, match="has no key 'hiden'"):
        check_param_values("s", rules, {"attention": {"hiden": 8}}, defaults)


def test_pasteable_values_are_one_shell_word_that_parses_back():
    for value in (4.0, None, True, "lda_lr", [1, 2], [0.01, 0.1], ["q_proj", "v_proj"]):
        shown = pasteable(value)
        assert " " not in shown
        assert parse_overrides([f"k={shown}"])["k"] == value


@pytest.mark.parametrize(
    "value",
    [4.0, [1, 2], {"hidden": 128, "lr": 0.001}, [{"hidden_layers": 2, "weight_decay": 0.01}]],
)
def test_an_override_survives_the_shell(value):
    """A mapping's flow YAML needs a space after each colon, so the fix is quoted for the shell;
    what the shell hands the CLI parses back to the value."""
    import shlex

    words = shlex.split(override("member_params.x.k", value))
    assert len(words) == 1
    assert parse_overrides(words) == {"member_params.x.k": value}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"system": "text_tfidf", "C": -1}, "C=-1 is not accepted"),
        ({"system": "text_tfidf", "class_weight": "balance"}, "class_weight=balance"),
        ({"system": "audio_egemaps", "n_jobs": 0}, "n_jobs=0 is not accepted"),
        ({"system": "text_embed", "C": [0.1, -1]}, "C=[0.1,-1] is not accepted"),
        ({"system": "fusion_interp", "step": 0}, "step=0 is not accepted"),
        (
            {
                "system": "fusion_lr",
                "profile": "light",
                "member_params": {"text_tfidf": {"C": "abc"}},
            },
            "member_params.text_tfidf.C=abc is not accepted",
        ),
    ],
)
def test_a_resolved_config_with_a_bad_value_is_refused(overrides, expected):
    overrides = dict(overrides)
    member_params = overrides.pop("member_params", None)
    config = resolve(overrides)
    if member_params:
        config["member_params"] = member_params
    with pytest.raises(HarnessError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        check_params(config)


@pytest.mark.parametrize("name", SYSTEMS)
def test_each_system_as_shipped_passes_the_check(name):
    check_params(resolve({"system": name}))


def test_the_cli_refuses_a_bad_value_in_one_line_before_any_corpus(tmp_path):
    cache, runs = tmp_path / "cache", tmp_path / "runs"
    result = CliRunner().invoke(
        app,
        ["run", "system=text_tfidf", "C=-1", f"output_dir={runs}", "progress=false"],
        env={"HARNESS_CACHE": str(cache)},
    )
    text = result.output.strip()
    assert result.exit_code == 2, text
    assert "Traceback" not in text
    assert " ".join(text.split()).startswith(
        "error: text_tfidf: C=-1 is not accepted (C takes a number > 0) (fix: pass C=4.0)"
    )
    assert not (cache / "demo").exists()
    assert not runs.exists() or not list(runs.iterdir())


# -- corpus_options: the readers' keyword options ---------------------------------------------
CORPORA = registry.names("corpora")


@pytest.mark.parametrize("corpus", CORPORA)
def test_every_reader_option_has_a_rule_that_accepts_its_default(corpus):
    import inspect

    from harness.checks import reader_options

    loader = registry.get("corpora", corpus)
    rules = getattr(loader, "option_rules", {})
    assert set(rules) == reader_options(corpus)
    defaults = inspect.signature(loader).parameters
    for name, rule in rules.items():
        assert _accepts(rule, defaults[name].default), (corpus, name)


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("corpus_options.dev_fraction=abc", "corpus_options.dev_fraction=abc is not accepted"),
        ("corpus_options.dev_fraction=1", "fix: pass corpus_options.dev_fraction=0.2"),
        ("corpus_options.check_audio=maybe", "check_audio takes true or false"),
        ("corpus_options.train_csv=[a]", "corpus_options.train_csv=[a] is not accepted"),
        ("corpus_options.test_labels_csv=true", "test_labels_csv takes one of null, false or"),
    ],
)
def test_a_bad_corpus_option_is_one_line_before_the_corpus_is_read(tmp_path, option, expected):
    """These reached the reader as a TypeError traceback, or were taken as true."""
    from harness.checks import check_run_config

    config = resolve({"system": "text_tfidf", "corpus": "emospeech", "corpus_path": "x"})
    config["corpus_options"] = parse_overrides([option.removeprefix("corpus_options.")])
    with pytest.raises(HarnessError) as caught:
        check_run_config(config)
    assert expected in str(caught.value)


def test_an_audio_dir_that_does_not_exist_is_an_error_not_a_fallback(tmp_path):
    from harness.data.readers import read_emospeech

    (tmp_path / "train.csv").write_text("id,label,transcription\na.mp3,neutral,hola\n")
    (tmp_path / "audios").mkdir()
    with pytest.raises(HarnessError, match="audio folder not found") as caught:
        read_emospeech(tmp_path, test_csv=None, audio_dir="audio", check_audio=False)
    assert "corpus_options.audio_dir=" in caught.value.fix
    assert str(tmp_path / "audio") in str(caught.value)


# -- asr_params: the ASR back-ends' settings --------------------------------------------------
@pytest.mark.parametrize("asr", registry.names("asr"))
def test_every_asr_setting_has_a_rule_that_accepts_its_default(asr):
    import inspect

    cls = registry.get("asr", asr)
    signature = {k: v for k, v in inspect.signature(cls.__init__).parameters.items() if k != "self"}
    assert set(cls.param_rules) == set(signature)
    for name, parameter in signature.items():
        assert _accepts(cls.param_rules[name], parameter.default), (asr, name)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["asr_params.beam_size=0"], "asr_params.beam_size=0 is not accepted"),
        (["asr=whisper", "asr_params.compute_type=int4"], "compute_type=int4 is not accepted"),
        (["asr=canary", "asr_params.batch_size=x"], "asr_params.batch_size=x is not accepted"),
        (["asr_params=5"], "asr_params=5 is not a mapping"),
    ],
)
def test_a_bad_asr_setting_is_one_line_before_the_corpus(tmp_path, args, expected):
    cache, runs = tmp_path / "cache", tmp_path / "runs"
    result = CliRunner().invoke(
        app,
        ["run", "system=text_tfidf", *args, f"output_dir={runs}", "progress=false"],
        env={"HARNESS_CACHE": str(cache)},
    )
    text = " ".join(result.output.split())
    assert result.exit_code == 2, text
    assert text.startswith("error:") and expected in text
    assert not (cache / "demo").exists()


@pytest.mark.parametrize("name", SYSTEMS)
def test_every_parameters_fix_pastes_back_into_a_run_that_passes(name):
    """For each parameter given a value no rule takes, the ``fix:`` pasted as a shell word
    gives a config that passes the check."""
    import shlex

    for key in system_defaults(name).get("params") or {}:
        with pytest.raises(HarnessError) as caught:
            check_params(resolve({"system": name, f"params.{key}": [[[]]]}))
        fix = caught.value.fix
        assert fix.startswith("pass "), (key, fix)
        override_ = parse_overrides(shlex.split(fix.removeprefix("pass ")))
        check_params(resolve({"system": name, **override_}))
