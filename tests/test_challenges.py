"""Submission writer and validator (harness/challenges/base.py) for both challenges.

A team had three submissions per task, so every rule here is one the organisers' portal would
apply: the exact header, every expected id exactly once, known class codes, finite in-range
attribute values. Every problem must name the file and the line to fix.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.challenges.base import Challenge
from harness.challenges.emospeech2024 import CHALLENGE as EMOSPEECH
from harness.challenges.odyssey2024 import CHALLENGE as ODYSSEY
from harness.errors import HarnessError

IDS = [f"MSP-PODCAST_{i:04d}_0001.wav" for i in range(1, 9)]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def task1_lines(codes: list[str] | None = None, ids: list[str] = IDS) -> list[str]:
    codes = codes or list(ODYSSEY.classes)
    return ["FileName,EmoClass", *(f"{i},{c}" for i, c in zip(ids, codes))]


def task2_lines(rows: list[tuple[str, str, str]] | None = None, ids: list[str] = IDS) -> list[str]:
    rows = rows or [("1", "4.25", "7.0")] * len(ids)
    return [
        "FileName,EmoAct,EmoVal,EmoDom",
        *(f"{i},{a},{v},{d}" for i, (a, v, d) in zip(ids, rows)),
    ]


def assert_one_problem_at(problems: list[str], path: Path, line: int, *fragments: str) -> str:
    assert len(problems) == 1, problems
    problem = problems[0]
    assert problem.startswith(f"{path}: line {line}: "), problem
    for fragment in fragments:
        assert fragment in problem, (fragment, problem)
    return problem


def posteriors(ids: list[str], winners: list[str], classes=ODYSSEY.classes) -> pd.DataFrame:
    """Posteriors whose argmax is ``winners`` (soft, like a real system's output)."""
    table = np.full((len(ids), len(classes)), 0.5 / (len(classes) - 1))
    for row, winner in enumerate(winners):
        table[row, list(classes).index(winner)] = 0.5
    return pd.DataFrame(table, index=pd.Index(ids, name="id"), columns=list(classes))


def attributes_frame(ids: list[str], values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        values, index=pd.Index(ids, name="id"), columns=["arousal", "valence", "dominance"]
    )


# -- valid files ---------------------------------------------------------------------------------
def test_valid_task1_file_passes(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "task1.csv", task1_lines())
    assert ODYSSEY.validate_submission(path, "categorical", expected_ids=IDS) == []
    assert ODYSSEY.validate_submission(path, "categorical") == []


def test_valid_task2_file_passes_including_the_range_limits(tmp_path: Path) -> None:
    rows = [("1", "7", "4"), ("1.0", "7.000000", "3.5"), ("6.999", "1.001", "2")] + [
        ("4", "4", "4")
    ] * 5
    path = write_lines(tmp_path / "task2.csv", task2_lines(rows))
    assert ODYSSEY.validate_submission(path, "attributes", expected_ids=IDS) == []


def test_submission_columns_are_the_official_ones() -> None:
    assert ODYSSEY.submission_columns("categorical") == ["FileName", "EmoClass"]
    assert ODYSSEY.submission_columns("attributes") == ["FileName", "EmoAct", "EmoVal", "EmoDom"]
    assert EMOSPEECH.submission_columns("categorical") == ["id", "label"]
    with pytest.raises(HarnessError, match="no task 'attributes'"):
        EMOSPEECH.submission_columns("attributes")


# -- header ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("task", "header"),
    [
        ("categorical", "filename,emoclass"),
        ("categorical", "EmoClass,FileName"),
        ("categorical", "FileName;EmoClass"),
        ("categorical", "FileName,EmoClass,Confidence"),
        ("categorical", "FileName"),
        ("categorical", "id,label"),
        ("categorical", "FileName,EmoAct,EmoVal,EmoDom"),
        ("attributes", "FileName,EmoAct,EmoDom,EmoVal"),
        ("attributes", "FileName,arousal,valence,dominance"),
        ("attributes", "FileName,EmoClass"),
    ],
)
def test_wrong_header_is_one_problem_on_line_1(tmp_path: Path, task: str, header: str) -> None:
    lines = task1_lines() if task == "categorical" else task2_lines()
    path = write_lines(tmp_path / "sub.csv", [header, *lines[1:]])
    expected = ",".join(ODYSSEY.submission_columns(task))
    assert_one_problem_at(
        ODYSSEY.validate_submission(path, task, expected_ids=IDS), path, 1, repr(expected)
    )


def test_header_with_spaces_is_not_exact(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "sub.csv", [" FileName , EmoClass ", *task1_lines()[1:]])
    assert ODYSSEY.validate_submission(path, "categorical") != []


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    (problem,) = ODYSSEY.validate_submission(empty, "categorical")
    assert problem.startswith(f"{empty}: empty file") and "FileName,EmoClass" in problem
    missing = tmp_path / "nope.csv"
    (problem,) = ODYSSEY.validate_submission(missing, "categorical")
    assert problem == f"{missing}: file not found"


# -- ids ------------------------------------------------------------------------------------------
def test_missing_ids_name_the_file_and_the_ids(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "sub.csv", task1_lines()[:-2])  # the last two ids are absent
    (problem,) = ODYSSEY.validate_submission(path, "categorical", expected_ids=IDS)
    # An absent id has no line of its own; the problem names the file, the count and the ids.
    assert problem.startswith(f"{path}: 2 expected ids are missing: ")
    assert f"{IDS[-2]}, {IDS[-1]}" in problem and "Test3" in problem


def test_many_missing_ids_are_summarised(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "sub.csv", task1_lines())
    expected = IDS + [f"extra_{i}.wav" for i in range(7)]
    (problem,) = ODYSSEY.validate_submission(path, "categorical", expected_ids=expected)
    assert "7 expected ids are missing" in problem and problem.count("extra_") == 5
    assert "..." in problem


def test_extra_id_names_its_line(tmp_path: Path) -> None:
    lines = task1_lines()
    lines.insert(3, "not_in_test3.wav,N")  # becomes line 4 of the file
    path = write_lines(tmp_path / "sub.csv", lines)
    assert_one_problem_at(
        ODYSSEY.validate_submission(path, "categorical", expected_ids=IDS),
        path,
        4,
        "'not_in_test3.wav' is not in the Test3 split",
    )


def test_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    lines = task1_lines()
    lines.append(f"{IDS[2]},N")  # line 10 repeats the id on line 4
    path = write_lines(tmp_path / "sub.csv", lines)
    assert_one_problem_at(
        ODYSSEY.validate_submission(path, "categorical", expected_ids=IDS),
        path,
        10,
        f"duplicate id {IDS[2]!r}",
        "first at line 4",
    )


def test_empty_id_is_a_problem_even_without_expected_ids(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "sub.csv", [*task1_lines(), ",N"])
    assert ODYSSEY.validate_submission(path, "categorical") != []


def test_empty_id_is_caught_with_expected_ids(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "sub.csv", [*task1_lines(), ",N"])
    assert_one_problem_at(
        ODYSSEY.validate_submission(path, "categorical", expected_ids=IDS), path, 10, "''"
    )


# -- Task 1 values ----------------------------------------------------------------------------------
@pytest.mark.parametrize("code", ["O", "X", "Z", "a", "neutral", "AN", ""])
def test_unknown_class_code_names_its_line(tmp_path: Path, code: str) -> None:
    codes = list(ODYSSEY.classes)
    codes[5] = code  # line 7
    path = write_lines(tmp_path / "sub.csv", task1_lines(codes))
    assert_one_problem_at(
        ODYSSEY.validate_submission(path, "categorical", expected_ids=IDS),
        path,
        7,
        f"unknown class {code!r}",
        IDS[5],
        "A,S,H,U,F,D,C,N",
    )


def test_wrong_field_count_and_empty_line(tmp_path: Path) -> None:
    lines = task1_lines()
    lines[2] = f"{IDS[1]},S,0.9"  # line 3: three fields
    lines.insert(5, "")  # line 6: blank
    path = write_lines(tmp_path / "sub.csv", lines)
    problems = ODYSSEY.validate_submission(path, "categorical")
    assert problems == [
        f"{path}: line 3: 3 fields, expected 2",
        f"{path}: line 6: empty line",
    ]


def test_every_problem_is_reported_in_file_order(tmp_path: Path) -> None:
    lines = task1_lines()
    lines[1] = f"{IDS[0]},O"  # line 2: unknown
    lines[4] = f"{IDS[0]},A"  # line 5: duplicate of line 2
    path = write_lines(tmp_path / "sub.csv", lines)
    problems = ODYSSEY.validate_submission(path, "categorical", expected_ids=IDS)
    assert [re.match(r".*?: (line \d+|\d+ expected)", p).group(1) for p in problems] == [
        "line 2",
        "line 5",
        "1 expected",
    ]
    assert all(p.startswith(str(path)) for p in problems)


def test_display_name_replaces_the_path(tmp_path: Path) -> None:
    path = write_lines(tmp_path / ".tmp123", task1_lines(["Z"] * 8))
    problems = ODYSSEY.validate_submission(path, "categorical", display_name="final.csv")
    assert len(problems) == 8
    assert all(p.startswith("final.csv: line ") for p in problems)


# -- Task 2 values ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cell", "fragment"),
    [
        ("nan", "EmoVal is nan"),
        ("NaN", "EmoVal is NaN"),
        ("inf", "EmoVal is inf"),
        ("", "EmoVal '' is not a number"),
        ("high", "EmoVal 'high' is not a number"),
    ],
)
def test_non_finite_or_non_numeric_value_names_its_line(
    tmp_path: Path, cell: str, fragment: str
) -> None:
    rows = [("4", "4", "4")] * 8
    rows[3] = ("4", cell, "4")  # line 5
    path = write_lines(tmp_path / "sub.csv", task2_lines(rows))
    assert_one_problem_at(
        ODYSSEY.validate_submission(path, "attributes", expected_ids=IDS), path, 5, fragment
    )


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        (("0.999", "4", "4"), "EmoAct=0.999 is outside [1, 7]"),
        (("4", "7.01", "4"), "EmoVal=7.01 is outside [1, 7]"),
        (("4", "4", "-3"), "EmoDom=-3.0 is outside [1, 7]"),
    ],
)
def test_out_of_range_value_names_its_line(tmp_path: Path, row: tuple, fragment: str) -> None:
    rows = [("4", "4", "4")] * 8
    rows[6] = row  # line 8
    path = write_lines(tmp_path / "sub.csv", task2_lines(rows))
    assert_one_problem_at(
        ODYSSEY.validate_submission(path, "attributes", expected_ids=IDS), path, 8, fragment
    )


# -- writer -----------------------------------------------------------------------------------------
def test_write_task1_sorts_by_filename_and_takes_the_argmax(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    order = rng.permutation(len(IDS))
    ids = [IDS[i] for i in order]
    winners = [ODYSSEY.classes[i] for i in order]  # IDS[k] should get classes[k]
    frame = posteriors(ids, winners)
    frame = frame[list(reversed(frame.columns))]  # column order must not matter
    path = ODYSSEY.write_submission(frame, "categorical", tmp_path / "t1.csv", expected_ids=IDS)
    assert path.read_text(encoding="utf-8").splitlines() == task1_lines()
    back = ODYSSEY.read_submission(path, "categorical")
    assert list(back.index) == IDS
    assert list(back["label"]) == list(ODYSSEY.classes)


def test_write_task2_sorts_and_clips_to_the_scale(tmp_path: Path) -> None:
    values = np.array(
        [[-3.0, 4.0, 9.5], [1.0, 7.0, 0.5], [2.123456789, 6.9999999, 7.0000001]]
        + [[4.0, 4.0, 4.0]] * 5
    )
    ids = list(reversed(IDS))
    path = ODYSSEY.write_submission(
        attributes_frame(ids, values), "attributes", tmp_path / "t2.csv", expected_ids=IDS
    )
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "FileName,EmoAct,EmoVal,EmoDom"
    assert [line.split(",")[0] for line in lines[1:]] == IDS
    back = ODYSSEY.read_submission(path, "attributes")
    assert list(back.columns) == ["arousal", "valence", "dominance"]
    expected = attributes_frame(ids, np.clip(values, 1, 7)).sort_index()
    np.testing.assert_allclose(back.to_numpy(), expected.to_numpy(), atol=1e-6)
    assert back.to_numpy().min() >= 1.0 and back.to_numpy().max() <= 7.0
    assert ODYSSEY.validate_submission(path, "attributes", expected_ids=IDS) == []


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_write_refuses_missing_ids_and_leaves_no_file(tmp_path: Path) -> None:
    frame = posteriors(IDS[:-1], list(ODYSSEY.classes)[:-1])
    target = tmp_path / "out" / "t1.csv"
    with pytest.raises(HarnessError, match="1 expected ids are missing") as info:
        ODYSSEY.write_submission(frame, "categorical", target, expected_ids=IDS)
    assert info.value.file == str(target)
    assert IDS[-1] in str(info.value)
    assert not target.exists()
    assert leftovers(target.parent) == []  # no temporary file either


def test_refused_write_keeps_the_previous_valid_file(tmp_path: Path) -> None:
    target = tmp_path / "t1.csv"
    ODYSSEY.write_submission(posteriors(IDS, list(ODYSSEY.classes)), "categorical", target, IDS)
    before = target.read_bytes()
    with pytest.raises(HarnessError):
        ODYSSEY.write_submission(posteriors(IDS[:3], ["A"] * 3), "categorical", target, IDS)
    assert target.read_bytes() == before
    assert leftovers(tmp_path) == ["t1.csv"]


def test_write_refuses_duplicate_ids(tmp_path: Path) -> None:
    frame = posteriors([*IDS, IDS[0]], [*ODYSSEY.classes, "A"])
    with pytest.raises(HarnessError, match="duplicate id"):
        ODYSSEY.write_submission(frame, "categorical", tmp_path / "t1.csv", expected_ids=IDS)
    assert leftovers(tmp_path) == []


def test_write_refuses_nan_attributes(tmp_path: Path) -> None:
    values = np.full((8, 3), 4.0)
    values[2, 1] = np.nan
    with pytest.raises(HarnessError, match="line 4: EmoVal"):
        ODYSSEY.write_submission(attributes_frame(IDS, values), "attributes", tmp_path / "t2.csv")
    assert leftovers(tmp_path) == []


def test_write_refuses_unscored_prediction_columns(tmp_path: Path) -> None:
    frame = posteriors(IDS, list(ODYSSEY.classes))
    frame["O"] = 0.0
    with pytest.raises(HarnessError, match=r"\['O'\] are not scored classes"):
        ODYSSEY.write_submission(frame, "categorical", tmp_path / "t1.csv")
    assert leftovers(tmp_path) == []


def test_write_refuses_nan_posteriors(tmp_path: Path) -> None:
    frame = posteriors(IDS, list(ODYSSEY.classes))
    frame.iloc[3] = np.nan
    with pytest.raises(HarnessError):
        ODYSSEY.write_submission(frame, "categorical", tmp_path / "t1.csv", expected_ids=IDS)


def test_unknown_task_is_a_harness_error(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="no task 'attributes'"):
        EMOSPEECH.validate_submission(tmp_path / "x.csv", "attributes")


# -- EmoSpeech ----------------------------------------------------------------------------------------
def test_emospeech_round_trip(tmp_path: Path) -> None:
    ids = ["0007.mp3", "0001.mp3", "0123.mp3", "0042.mp3", "0100.mp3", "0003.mp3"]
    winners = ["joy", "anger", "sadness", "neutral", "fear", "disgust"]
    frame = posteriors(ids, winners, classes=EMOSPEECH.classes)
    path = EMOSPEECH.write_submission(frame, "categorical", tmp_path / "emo.csv", expected_ids=ids)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,label"
    assert lines[1:] == [f"{i},{w}" for i, w in sorted(zip(ids, winners))]
    back = EMOSPEECH.read_submission(path, "categorical")
    assert list(back.index) == sorted(ids)  # leading zeros survive as strings
    assert dict(zip(back.index, back["label"])) == dict(zip(ids, winners))
    assert EMOSPEECH.validate_submission(path, "categorical", expected_ids=ids) == []


def test_emospeech_rejects_odyssey_codes_and_header(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "emo.csv", ["id,label", "a.mp3,joy", "b.mp3,H"])
    assert_one_problem_at(
        EMOSPEECH.validate_submission(path, "categorical"), path, 3, "unknown class 'H'"
    )
    path = write_lines(tmp_path / "emo2.csv", ["FileName,EmoClass", "a.mp3,joy"])
    assert_one_problem_at(EMOSPEECH.validate_submission(path, "categorical"), path, 1, "'id,label'")


def test_challenge_objects_are_consistent() -> None:
    """Cheap guards on the class sets the scorer and the leaderboards rely on."""
    for challenge in (ODYSSEY, EMOSPEECH):
        assert isinstance(challenge, Challenge)
        assert len(set(challenge.classes)) == len(challenge.classes)
        assert challenge.primary_metric("categorical") == "macro_f1"
        assert set(challenge.classes) <= set(challenge.class_names)
    assert ODYSSEY.primary_metric("attributes") == "ccc_mean"
    assert ODYSSEY.known_labels() == (*ODYSSEY.classes, "O", "X")
    assert ODYSSEY.corpora == ("msp_podcast",)
    assert EMOSPEECH.corpora == ("emospeech", "meacorpus")
    assert ODYSSEY.hidden_splits == ("Test3",) and EMOSPEECH.hidden_splits == ()
