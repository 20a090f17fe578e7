"""Dev_bal: N per scored class, seeded, O/X and unlabelled rows excluded, one shortfall warning."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from harness.data.devbal import build_dev_bal
from harness.errors import HarnessError

CLASSES = ("A", "S", "H", "N")


def _dev(counts: dict[str | None, int]) -> pd.DataFrame:
    rows = []
    for label, count in counts.items():
        for k in range(count):
            rows.append(
                {"id": f"{label or 'none'}_{k:03d}.wav", "label": label, "split": "Development"}
            )
    return pd.DataFrame(rows)


def test_n_per_class_sorted_and_only_scored_classes():
    dev = _dev({"A": 20, "S": 15, "H": 30, "N": 50, "O": 10, "X": 10, None: 5})
    bal = build_dev_bal(dev, CLASSES, n=10, seed=0)
    assert bal["label"].value_counts().to_dict() == {c: 10 for c in CLASSES}
    assert list(bal["id"]) == sorted(bal["id"])
    assert not bal["label"].isin(["O", "X"]).any() and bal["label"].notna().all()
    assert bal.attrs["dev_bal_short"] == {}


def test_seeded_and_independent_of_row_order():
    dev = _dev({"A": 20, "S": 20, "H": 20, "N": 20})
    first = build_dev_bal(dev, CLASSES, n=5, seed=3)
    again = build_dev_bal(dev.sample(frac=1.0, random_state=1), CLASSES, n=5, seed=3)
    other = build_dev_bal(dev, CLASSES, n=5, seed=4)
    assert first["id"].tolist() == again["id"].tolist()
    assert first["id"].tolist() != other["id"].tolist()


def test_short_classes_are_taken_whole_with_one_warning(caplog):
    dev = _dev({"A": 3, "S": 20, "H": 1, "N": 20})
    with caplog.at_level(logging.WARNING, logger="harness.data.devbal"):
        bal = build_dev_bal(dev, CLASSES, n=10, seed=0)
    assert bal["label"].value_counts().to_dict() == {"A": 3, "S": 10, "H": 1, "N": 10}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "A (3)" in message and "H (1)" in message and "S (" not in message
    assert bal.attrs["dev_bal_short"] == {"A": 3, "H": 1}


def test_missing_class_counts_as_short(caplog):
    dev = _dev({"A": 5, "S": 5, "H": 5})
    with caplog.at_level(logging.WARNING, logger="harness.data.devbal"):
        bal = build_dev_bal(dev, CLASSES, n=5, seed=0)
    assert len(bal) == 15 and bal.attrs["dev_bal_short"] == {"N": 0}
    assert "N (0)" in caplog.records[-1].getMessage()


def test_bad_n_is_a_harness_error():
    with pytest.raises(HarnessError, match="devbal_n"):
        build_dev_bal(_dev({"A": 3}), CLASSES, n=0)


def test_on_the_demo_corpus(demo_corpus_small):
    m = demo_corpus_small.manifest
    dev = m[m["split"] == "Development"]
    bal = build_dev_bal(dev, ("A", "S", "H", "U", "F", "D", "C", "N"), n=3, seed=0)
    assert len(bal) == 24 and set(bal["split"]) == {"Development"}
