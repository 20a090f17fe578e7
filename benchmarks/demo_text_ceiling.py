"""The best any text-only system can do on a demo corpus: the Bayes classifier of its generator.

Why: on the demo, an utterance's words come from one sentence pool (its class's own, its word
group's, or the neutral one) and an optional opener, drawn with the probabilities in
:mod:`harness.data.demo.spec`. Those two are everything the text says about the class; the slot
fillers and the choice of template inside a pool say nothing. So the classifier that knows the
generator, ``argmax_c P(pool, opener | c)`` under the evaluation split's uniform prior, is the
ceiling of every text model, however it is built. A text system, or a stack of text systems, can
come close to it but can beat it only by sampling luck (:mod:`harness.data.demo.ceiling`).
This script recovers each evaluation utterance's pool and opener from ``generator.csv`` (the
pool by matching the text against the templates of ``sentences/<lang>.yaml``) and prints, per
demo corpus:

- the ceiling's macro-F1 and accuracy on that corpus's evaluation split (the sample the
  leaderboard scores), and
- its expected accuracy over the generator (no sampling noise), which no text system can beat on
  average. Macro-F1 has no such bound: the argmax is the accuracy-optimal rule, and a rule that
  trades accuracy for macro-F1 can score a little above the ceiling's macro-F1.

With ``--runs``, it also reads the evaluation predictions of finished runs on demo corpora (their
``predictions/categorical/<split>.csv``, the scored and submitted variant) and prints, per system
label and over all the runs given, the accuracy on each kind of sentence next to the ceiling's:
where a text system, or a stack of them, loses against what the words allow.

With ``--learnable SEED ...``, it fits a logistic regression on the two hidden facts alone (the
pool and the opener, one-hot) on the plan's Train rows and scores it on the evaluation split,
prior-corrected to uniform, for each seed: whether the evidence the ceiling uses can be learnt
from a Train of that size at all, or whether a gap to the ceiling is the sample's fault. Usage::

    python benchmarks/demo_text_ceiling.py [--lang es] [--n 1000 3000] [--seed 0]
    python benchmarks/demo_text_ceiling.py --runs runs/*-text_tfidf runs/*-fusion_lr
    python benchmarks/demo_text_ceiling.py --learnable 0 1 2 3 4 [--lang es] [--n 1000]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple


def demo_generator(lang: str, n: int, seed: int):
    """The corpus and the evaluation rows of its ``generator.csv`` (built if not cached)."""
    import pandas as pd

    from harness.data.demo import LANGUAGES, load_demo_corpus

    corpus = load_demo_corpus(lang=lang, n=n, seed=seed)
    generator = pd.read_csv(Path(corpus.root) / "generator.csv", keep_default_na=False)
    scored = generator[generator["split"] == LANGUAGES[lang].eval_split]
    return corpus, scored.reset_index(drop=True)


def corpus_table(lang: str, sizes: list[int], seed: int) -> None:
    from sklearn.metrics import accuracy_score, f1_score

    from harness.data.demo import LANGUAGES
    from harness.data.demo.ceiling import ceiling_predictions, expected_accuracy

    spec = LANGUAGES[lang]
    codes = [c.code for c in spec.classes]
    print(f"expected accuracy of the text ceiling ({lang}): {expected_accuracy(spec):.4f}")
    print("corpus | split | n | ceiling macro-F1 | ceiling accuracy")
    for n in sizes:
        corpus, scored = demo_generator(lang, n, seed)
        predictions, _ = ceiling_predictions(spec, scored["text"], scored["cue"])
        labels = scored["label"].to_numpy()
        f1 = f1_score(labels, predictions, labels=codes, average="macro")
        print(
            f"{corpus.name} | {spec.eval_split} | {len(scored)} | {f1:.4f} | "
            f"{accuracy_score(labels, predictions):.4f}"
        )


class DemoRun(NamedTuple):
    """What a finished run on a demo corpus says about its evaluation split."""

    label: str
    corpus: tuple[str, int, int]  # (lang, n, seed), the arguments of :func:`demo_generator`
    split: str
    predictions: object  # DataFrame indexed by id, one column per class


def read_demo_run(run: str | Path) -> DemoRun:
    """The label, demo corpus and evaluation predictions (the scored variant) of a run."""
    import json

    import pandas as pd
    import yaml

    from harness.data.demo import LANGUAGES

    run = Path(run)
    demo = yaml.safe_load((run / "config.yaml").read_text()).get("demo")
    if not demo:
        raise SystemExit(f"{run}: not a run on a demo corpus (its Test labels are not known here)")
    key = (demo["lang"], int(demo["n"]), int(demo["seed"]))
    split = LANGUAGES[key[0]].eval_split
    label = json.loads((run / "metrics.json").read_text())["label"]
    predictions = pd.read_csv(run / "predictions" / "categorical" / f"{split}.csv")
    return DemoRun(label, key, split, predictions.set_index("id"))


def runs_table(run_dirs: list[str]) -> None:
    """Accuracy by evidence kind for the ceiling and each system label, pooled over the runs."""
    import pandas as pd

    from harness.data.demo import LANGUAGES
    from harness.data.demo.ceiling import EVIDENCE, ceiling_predictions

    ceiling_label = "ceiling (Bayes rule)"
    rows, corpora_seen = [], {}  # corpus key -> (its evaluation rows, the ceiling's frame)
    for run in map(Path, run_dirs):
        label, key, _, predictions = read_demo_run(run)
        spec = LANGUAGES[key[0]]
        if key not in corpora_seen:  # each corpus is read and its ceiling computed once
            _, scored = demo_generator(*key)
            ceiling, kinds = ceiling_predictions(spec, scored["text"], scored["cue"])
            frame = pd.DataFrame({"label": scored["label"], "kind": kinds, "corpus": str(key)})
            corpora_seen[key] = (scored, frame)
            rows.append(frame.assign(system=ceiling_label, prediction=ceiling))
        scored, frame = corpora_seen[key]
        predicted = predictions.idxmax(axis=1).reindex(scored["id"])
        if predicted.isna().any():
            raise SystemExit(f"{run}: its predictions do not cover the demo's {spec.eval_split}")
        rows.append(frame.assign(system=label, prediction=predicted.to_numpy()))
    table = pd.concat(rows)
    table["correct"] = table["prediction"] == table["label"]
    corpora = table.groupby("system")["corpus"].nunique()
    accuracy = table.pivot_table(index="system", columns="kind", values="correct", aggfunc="mean")
    share = table[table["system"] == ceiling_label]["kind"].value_counts(normalize=True)
    print("accuracy by kind of sentence, pooled over " + ", ".join(sorted(map(str, corpora_seen))))
    heads = " | ".join(f"{EVIDENCE[k]} ({share.get(k, 0):.0%})" for k in EVIDENCE)
    print(f"system | corpora | {heads}")
    for system, row in accuracy.sort_values("opener", ascending=False).iterrows():
        cells = " | ".join(f"{row.get(k, float('nan')):.3f}" for k in EVIDENCE)
        print(f"{system} | {corpora[system]} | {cells}")


def learnable_table(lang: str, n: int, seeds: list[int]) -> None:
    """LR on one-hot (pool, opener) from the plan's Train rows, scored like a system."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    from harness.data.demo import LANGUAGES, plan_corpus
    from harness.data.demo.ceiling import EVIDENCE, ceiling_predictions, find_pool

    spec = LANGUAGES[lang]
    codes = [c.code for c in spec.classes]
    print(f"LR on (pool, opener), {lang} n={n}: seed | Train rows | macro-F1 | ceiling macro-F1 | ")
    print("  accuracy by kind: " + " | ".join(EVIDENCE))
    scores = []
    for seed in seeds:
        plan = [u for u in plan_corpus(lang, n, seed) if u.label in codes]
        pools = [find_pool(u.text, lang) for u in plan]
        facts = pd.get_dummies(pd.DataFrame({"pool": pools, "cue": [u.cue or "-" for u in plan]}))
        train = np.array([u.split == "Train" for u in plan])
        evaluated = np.array([u.split == spec.eval_split for u in plan])
        labels = np.array([u.label for u in plan])
        model = LogisticRegression(C=10.0, max_iter=5000).fit(facts[train], labels[train])
        prior = pd.Series(labels[train]).value_counts(normalize=True).reindex(model.classes_)
        posterior = model.predict_proba(facts[evaluated]) / prior.to_numpy()
        predicted = model.classes_[posterior.argmax(axis=1)]
        truth = labels[evaluated]
        scored = [u for u, keep in zip(plan, evaluated) if keep]
        ceiling, kinds = ceiling_predictions(
            spec, [u.text for u in scored], [u.cue for u in scored]
        )
        kinds = np.array(kinds)
        f1 = f1_score(truth, predicted, labels=codes, average="macro")
        scores.append(f1)
        by_kind = " | ".join(
            f"{(predicted[kinds == k] == truth[kinds == k]).mean():.3f}" for k in EVIDENCE
        )
        print(
            f"{seed} | {int(train.sum())} | {f1:.4f} | "
            f"{f1_score(truth, ceiling, labels=codes, average='macro'):.4f} | {by_kind}"
        )
    print(f"mean macro-F1 over {len(seeds)} seeds: {np.mean(scores):.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", default="es", choices=["en", "es"])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 3000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", nargs="+", help="run directories to compare with the ceiling")
    parser.add_argument(
        "--learnable", type=int, nargs="+", metavar="SEED", help="fit an LR on (pool, opener)"
    )
    args = parser.parse_args()
    if args.runs:
        runs_table(args.runs)
    elif args.learnable:
        learnable_table(args.lang, args.n[0], args.learnable)
    else:
        corpus_table(args.lang, args.n, args.seed)


if __name__ == "__main__":
    main()
