"""Check that the demo corpus has the properties it is built for, with simple reference models.

On the English demo corpus (default n=1000, seed 0), trained on Train and scored on Test3:

(a) a TF-IDF text model and an eGeMAPS audio model each beat chance (1/8 macro-F1) but are far
    from perfect;
(b) prior correction (posteriors * uniform / train prior) raises both on the balanced Test3;
(c) a logistic-regression fusion of log-posteriors fit on Development, and a posterior
    interpolation with its weight chosen on Development, beat both members;
(d) for A/V/D (Ridge, CCC), a per-attribute interpolation chosen on Development beats each
    member's mean CCC; text is better for valence and audio for arousal.

Usage: ``python benchmarks/probe_demo_modalities.py [--n 1000] [--seed 0] [--cache DIR]``.
Needs the ``opensmile`` extra. Prints a table and exits non-zero when a property fails.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def ccc(pred: np.ndarray, true: np.ndarray) -> float:
    mp, mt = pred.mean(), true.mean()
    cov = ((pred - mp) * (true - mt)).mean()
    return float(2 * cov / (pred.var() + true.var() + (mp - mt) ** 2))


def egemaps(paths: list[str]) -> np.ndarray:
    import opensmile

    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.Functionals,
    )
    return np.vstack([smile.process_file(p).to_numpy()[0] for p in paths])


def cached_egemaps(corpus, split: dict, folder: str | None) -> dict:
    """eGeMAPS per split, cached by corpus name and generator version (extraction takes minutes)."""
    import tempfile
    from pathlib import Path

    version = corpus.info.get("demo", {}).get("version")
    base = Path(folder or Path(tempfile.gettempdir()) / "harness-probe")
    path = base / f"{corpus.name}-v{version}.npz"
    if path.exists():
        cached = np.load(path)
        return {s: cached[s] for s in split}
    t0 = time.time()
    features = {s: egemaps(list(f["path"])) for s, f in split.items()}
    print(f"eGeMAPS features in {time.time() - t0:.1f} s")
    base.mkdir(parents=True, exist_ok=True)
    np.savez(path, **features)
    return features


def main() -> int:
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import f1_score
    from sklearn.preprocessing import StandardScaler

    from harness.challenges.odyssey2024 import CHALLENGE
    from harness.data.demo import load_demo_corpus

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default=None, help="cache_dir of the demo corpus")
    parser.add_argument("--feature-cache", default=None, help="folder for eGeMAPS features")
    parser.add_argument("--c-text", type=float, default=4.0)
    parser.add_argument("--c-audio", type=float, default=1.0)
    parser.add_argument("--clip", type=float, default=0.0, help="clip standardised eGeMAPS")
    args = parser.parse_args()

    corpus = load_demo_corpus(n=args.n, seed=args.seed, cache_dir=args.cache)
    m = corpus.manifest
    classes = list(CHALLENGE.classes)
    split = {
        s: m[m["split"] == s].reset_index(drop=True) for s in ("Train", "Development", "Test3")
    }
    train_cls = split["Train"][split["Train"]["label"].isin(classes)].reset_index(drop=True)

    audio = cached_egemaps(corpus, split, args.feature_cache)
    scaler = StandardScaler().fit(audio["Train"])
    audio = {s: scaler.transform(x) for s, x in audio.items()}
    if args.clip:  # eGeMAPS *_stddevNorm features explode when their mean is near zero
        audio = {s: np.clip(x, -args.clip, args.clip) for s, x in audio.items()}
    word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
    texts = {s: list(f["text"].fillna("")) for s, f in split.items()}
    word.fit(texts["Train"])
    char.fit(texts["Train"])
    text = {s: hstack([word.transform(t), char.transform(t)]).tocsr() for s, t in texts.items()}

    is_cls = split["Train"]["label"].isin(classes).to_numpy()
    y_train = train_cls["label"].to_numpy()
    prior = np.array([(y_train == c).mean() for c in classes])
    y = {s: split[s]["label"].to_numpy() for s in ("Development", "Test3")}

    def posteriors(features: dict, c: float) -> dict:
        model = LogisticRegression(C=c, max_iter=5000).fit(features["Train"][is_cls], y_train)
        assert list(model.classes_) == sorted(classes)
        order = [list(model.classes_).index(k) for k in classes]
        return {s: model.predict_proba(features[s])[:, order] for s in ("Development", "Test3")}

    def f1(p: np.ndarray, s: str) -> float:
        return f1_score(y[s], np.asarray(classes)[p.argmax(1)], average="macro")

    def correct(p: np.ndarray) -> np.ndarray:
        q = p / prior
        return q / q.sum(1, keepdims=True)

    post = {"text": posteriors(text, args.c_text), "audio": posteriors(audio, args.c_audio)}
    ok = True
    report = {}
    for name, p in post.items():
        raw, cor = f1(p["Test3"], "Test3"), f1(correct(p["Test3"]), "Test3")
        report[name] = cor
        print(f"{name:6s} macro-F1 Test3: raw {raw:.3f}  prior-corrected {cor:.3f}")
        ok &= 0.125 + 0.1 < raw < 0.9 and cor > raw
    pc = {k: {s: correct(v[s]) for s in v} for k, v in post.items()}

    def logp(s: str) -> np.ndarray:
        return np.hstack([np.log(pc["text"][s] + 1e-9), np.log(pc["audio"][s] + 1e-9)])

    fuser = LogisticRegression(C=1.0, max_iter=5000).fit(logp("Development"), y["Development"])
    order = [list(fuser.classes_).index(k) for k in classes]
    fused = fuser.predict_proba(logp("Test3"))[:, order]
    weights = np.linspace(0, 1, 21)
    dev_scores = [
        f1(w * pc["text"]["Development"] + (1 - w) * pc["audio"]["Development"], "Development")
        for w in weights
    ]
    w = float(weights[int(np.argmax(dev_scores))])
    interp = w * pc["text"]["Test3"] + (1 - w) * pc["audio"]["Test3"]
    best = max(report.values())
    for name, p in (("fusion LR", fused), (f"interp w={w:.2f}", interp)):
        score = f1(p, "Test3")
        print(f"{name:14s} macro-F1 Test3: {score:.3f}  (best member {best:.3f})")
        ok &= score > best

    attributes = ("arousal", "valence", "dominance")
    has_att = split["Train"][list(attributes)].notna().all(axis=1).to_numpy()
    preds = {}
    for name, feats, alpha in (("text", text, 3.0), ("audio", audio, 10.0)):
        preds[name] = {}
        for a in attributes:
            target = split["Train"][a].to_numpy()[has_att]
            model = Ridge(alpha=alpha).fit(feats["Train"][has_att], target)
            preds[name][a] = {s: model.predict(feats[s]) for s in ("Development", "Test3")}
    true = {s: {a: split[s][a].to_numpy() for a in attributes} for s in ("Development", "Test3")}
    table = {}
    for name in ("text", "audio"):
        table[name] = {a: ccc(preds[name][a]["Test3"], true["Test3"][a]) for a in attributes}
    table["interp"] = {}
    for a in attributes:
        scores = [
            ccc(
                w * preds["text"][a]["Development"] + (1 - w) * preds["audio"][a]["Development"],
                true["Development"][a],
            )
            for w in weights
        ]
        w = float(weights[int(np.argmax(scores))])
        mix = w * preds["text"][a]["Test3"] + (1 - w) * preds["audio"][a]["Test3"]
        table["interp"][a] = ccc(mix, true["Test3"][a])
    for name, row in table.items():
        cells = "  ".join(f"{a[:3]} {row[a]:.3f}" for a in attributes)
        print(f"{name:6s} CCC Test3: {cells}  mean {np.mean(list(row.values())):.3f}")
    means = {k: np.mean(list(v.values())) for k, v in table.items()}
    ok &= means["interp"] > max(means["text"], means["audio"])
    ok &= table["text"]["valence"] > table["audio"]["valence"]
    ok &= table["audio"]["arousal"] > table["text"]["arousal"]
    print("all properties hold" if ok else "SOME PROPERTY FAILS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
