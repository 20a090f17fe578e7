"""The splits a run works on: Train, Development, Dev_bal and the evaluation splits.

Kept apart from corpus loading because every consumer (member fitting, fusion, scoring) needs the
same split objects, and Dev_bal must be drawn once per run so that members and fusion agree on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from harness.data.corpus import Corpus
from harness.errors import HarnessError

DEV_BAL = "Dev_bal"


@dataclass
class Splits:
    train: pd.DataFrame
    development: pd.DataFrame
    dev_bal: pd.DataFrame
    evaluation: dict[str, pd.DataFrame]
    eval_prior: str | tuple[float, ...] = "uniform"
    """Class distribution of the evaluation splits (what ``target_prior=auto`` corrects to): the
    corpus's own where it declares one (the demo's tests are balanced by construction), else the
    challenge's."""

    def predicted(self) -> pd.DataFrame:
        """Every row a member must predict: Development (which holds Dev_bal) and the eval splits."""
        return pd.concat([self.development, *self.evaluation.values()], ignore_index=True)

    def scored(self) -> dict[str, pd.DataFrame]:
        return {DEV_BAL: self.dev_bal, "Development": self.development, **self.evaluation}


def make_splits(corpus: Corpus, challenge, devbal_n: int, seed: int) -> Splits:
    from harness.data.devbal import build_dev_bal

    manifest = corpus.manifest
    train = manifest[manifest["split"] == "Train"].reset_index(drop=True)
    development = manifest[manifest["split"] == "Development"].reset_index(drop=True)
    if train.empty:
        raise HarnessError(
            f"corpus {corpus.name} has no Train split",
            fix="check the split column of the labels file",
        )
    if development.empty:
        raise HarnessError(
            f"corpus {corpus.name} has no Development split (Dev_bal is drawn from it)",
            # The reader knows how its layout gets one (carved from Train, or a labels column).
            fix=corpus.info.get("development_fix", "give the corpus a Development split"),
        )
    dev_bal = build_dev_bal(development, challenge.classes, n=devbal_n, seed=seed)
    evaluation = {
        name: manifest[manifest["split"] == name].reset_index(drop=True)
        for name in challenge.eval_splits
        if (manifest["split"] == name).any()
    }
    eval_prior = corpus.info.get("eval_prior") or challenge.eval_prior
    return Splits(train, development, dev_bal, evaluation, eval_prior)
