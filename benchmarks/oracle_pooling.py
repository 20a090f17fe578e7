"""Do a stack's members hold a better combination at all? The best pooling, weighted on Test.

Why: when a stack does not beat its best member, either the meta-learner failed to find a better
combination or there is none to find. This script tells the two apart on a demo corpus. It reads
the evaluation predictions of finished runs (``predictions/categorical/<split>.csv``, the scored
variant, as a fusion receives them) and searches the convex log-linear poolings of them, one
weight per run on a 0.1 grid, for the one with the highest macro-F1 on the evaluation split's own
labels. That pooling is a diagnosis, never an output: its weights are chosen on the very labels
it is scored on, so it is optimistic, and a figure close to the best member's says that no
meta-learner fit on Train or Dev_bal can be expected to gain. It is not a bound on a logistic
regression stack, whose per-class weights and biases can do what pooling cannot.

The runs given first are the base set; each ``--plus`` run is added to it in turn, to ask which
further member would bring evidence the others lack. Usage::

    python benchmarks/oracle_pooling.py runs/A-text_tfidf runs/B-text_embed runs/C-text_embed \\
        --plus runs/D-text_llm runs/E-text_embed
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np


def oracle_pooling(
    posteriors: list[np.ndarray], score: Callable[[np.ndarray], float], step: float = 0.1
) -> tuple[float, tuple[float, ...]]:
    """The best ``score`` over convex log-linear poolings of ``posteriors`` (weights on a grid of
    ``step``, summing to 1), and its weights."""
    from systems.fusion import weight_grid

    logs = [np.log(np.clip(p, 1e-12, None)) for p in posteriors]
    best: tuple[float, tuple[float, ...]] = (-np.inf, ())
    for weights in weight_grid(len(logs), step):
        value = score(sum(w * x for w, x in zip(weights, logs)))
        if value > best[0]:
            best = (value, tuple(float(w) for w in weights))
    return best


def main() -> None:
    from demo_text_ceiling import demo_generator, read_demo_run  # a sibling script

    from scoring import macro_f1

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories of the base set of members")
    parser.add_argument("--plus", nargs="*", default=[], help="runs to add to the base, in turn")
    args = parser.parse_args()

    runs = [read_demo_run(r) for r in [*args.runs, *args.plus]]
    labels = [run.label for run in runs]
    if len(set(labels)) != len(labels):
        raise SystemExit(f"two runs have the same label: {labels}; give each system once")
    corpora = {run.corpus for run in runs}
    if len(corpora) != 1:
        raise SystemExit(f"the runs are on different demo corpora: {sorted(corpora)}")
    (corpus,) = corpora
    _, scored = demo_generator(*corpus)
    truth = scored.set_index("id")["label"]
    classes = list(runs[0].predictions.columns)
    posteriors = {}
    for run in runs:
        frame = run.predictions
        if set(frame.columns) != set(classes) or not truth.index.isin(frame.index).all():
            raise SystemExit(f"{run.label}: its predictions do not cover the evaluation rows")
        posteriors[run.label] = frame.loc[truth.index, classes].to_numpy(dtype=float)

    def score(values: np.ndarray) -> float:
        predicted = np.asarray(classes)[values.argmax(axis=1)]
        return float(macro_f1(truth.to_numpy(), predicted, labels=classes))

    print(f"demo corpus {corpus}, {runs[0].split}: macro-F1")
    for label, values in posteriors.items():
        print(f"  {label}: {score(values):.4f}")
    base = labels[: len(args.runs)]
    for extra in [None, *labels[len(args.runs) :]]:
        names = base + ([extra] if extra else [])
        best, weights = oracle_pooling([posteriors[n] for n in names], score)
        members = ", ".join(f"{n} {w:.1f}" for n, w in zip(names, weights))
        print(f"oracle pooling of {len(names)}: {best:.4f} ({members})")


if __name__ == "__main__":
    main()
