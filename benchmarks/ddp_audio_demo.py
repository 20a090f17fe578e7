"""Two-process CPU DDP of the audio_w2vbert demo configuration must match one process.

Why: multi-GPU training goes through ``accelerate launch``, and the training loop divides the
gradient accumulation by the process count so that the *effective* batch, and therefore the
result, does not depend on it. This script checks that claim end to end on the CPU:

1. takes a small subset of the demo corpus (or a synthetic pitch-coded corpus if the demo corpus
   cannot be built) and writes it as a CSV manifest;
2. trains the demo configuration once in one process and once with
   ``accelerate launch --multi_gpu --num_processes 2`` (``Accelerator(cpu=True)`` in the code;
   ``--cpu --num_processes 2`` would silently run ONE process), with the same effective batch;
3. compares per-epoch training loss, Test3 macro-F1 and the posteriors, and exits non-zero when a
   difference is outside the stated tolerance, or when the DDP run did not have two processes.

Remaining legitimate differences: BatchNorm running statistics are broadcast from rank 0 (which
saw half of the batches) and gradients are summed in a different order. Dropout is switched off
so that per-process random streams cannot add noise.

Usage::

    python benchmarks/ddp_audio_demo.py [--out DIR] [--quick]

Tolerances (absolute): per-epoch training loss 0.005, macro-F1 0.05, mean |posterior difference|
0.02.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("A", "S", "H", "U", "F", "D", "C", "N")
TOLERANCE = {"loss": 0.005, "macro_f1": 0.05, "posterior": 0.02}


def demo_params(epochs: int) -> dict:
    """The demo profile, without dropout, with a micro-batch of 8 and an effective batch of 16."""
    from systems.components.params import yaml_params

    params = yaml_params("audio_w2vbert", "demo")
    params["scratch_config"] = {**params["scratch_config"], "conformer_conv_dropout": 0.0}
    params.update(
        epochs=epochs,
        batch_size=8,
        effective_batch=16,
        extra_backends=[],
        cpu=True,
        progress=False,
        seed=0,
    )
    return params


# -- orchestrator ----------------------------------------------------------------------------
def make_subset(out: Path, quick: bool) -> Path:
    """A class-stratified subset whose train size is a multiple of 2 processes x 8."""
    sizes = (96, 40, 80) if quick else (320, 80, 160)
    try:
        from harness.data.demo import load_demo_corpus

        manifest = load_demo_corpus().manifest
        source = "demo corpus"
    except Exception as exc:  # building needs eSpeak; fall back to synthetic audio
        from systems.components.synthetic_speech import synthetic_corpus

        print(f"demo corpus unavailable ({exc}); using a synthetic corpus")
        manifest = synthetic_corpus(out / "audio", n_per_class=40)
        source = "synthetic corpus"
    parts = []
    for split, size in zip(("Train", "Development", "Test3"), sizes):
        rows = manifest[manifest["split"] == split].sample(frac=1.0, random_state=0)
        parts.append(rows.head(size))
    subset = pd.concat(parts, ignore_index=True)
    path = out / "manifest.csv"
    subset.to_csv(path, index=False)
    print(
        f"{source}: {', '.join(f'{s} {n}' for s, n in zip(('Train', 'Development', 'Test3'), sizes))}"
    )
    return path


def run_both(script: Path, manifest: Path, out: Path, epochs: int) -> dict[str, dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    worker = [str(script), "--worker", "--manifest", str(manifest), "--epochs", str(epochs)]
    commands = {
        "single": [sys.executable, *worker, "--result", str(out / "single.json"), "--expect", "1"],
        "ddp": [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            *worker,
            "--result",
            str(out / "ddp.json"),
            "--expect",
            "2",
        ],
    }
    results = {}
    for name, command in commands.items():
        started = time.perf_counter()
        completed = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
        if completed.returncode != 0:
            print(completed.stdout[-4000:], completed.stderr[-4000:], sep="\n")
            raise SystemExit(f"{name} run failed with exit status {completed.returncode}")
        results[name] = json.loads((out / f"{name}.json").read_text())
        results[name]["wall_s"] = round(time.perf_counter() - started, 1)
    return results


def compare(results: dict[str, dict]) -> list[str]:
    single, ddp = results["single"], results["ddp"]
    problems = []
    if ddp["num_processes"] != 2:
        problems.append(f"DDP run had {ddp['num_processes']} processes, expected 2")
    loss_gap = float(np.max(np.abs(np.subtract(single["loss"], ddp["loss"]))))
    f1_gap = abs(single["macro_f1"] - ddp["macro_f1"])
    posterior_gap = float(np.mean(np.abs(np.subtract(single["posteriors"], ddp["posteriors"]))))
    for name, gap in (("loss", loss_gap), ("macro_f1", f1_gap), ("posterior", posterior_gap)):
        status = "ok" if gap <= TOLERANCE[name] else "OUT OF TOLERANCE"
        print(f"  {name:10s} difference {gap:.4f} (tolerance {TOLERANCE[name]}) {status}")
        if gap > TOLERANCE[name]:
            problems.append(f"{name} differs by {gap:.4f} > {TOLERANCE[name]}")
    return problems


def main_orchestrator(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="ddp_audio_"))
    out.mkdir(parents=True, exist_ok=True)
    epochs = 2 if args.quick else 4
    manifest = make_subset(out, args.quick)
    results = run_both(Path(__file__).resolve(), manifest, out, epochs)
    for name, result in results.items():
        print(
            f"{name:6s}: num_processes={result['num_processes']} accumulation={result['accumulation_steps']} "
            f"steps={result['steps']} loss={[round(v, 4) for v in result['loss']]} "
            f"macro_f1={result['macro_f1']:.4f} softmax_f1={result['softmax_f1']:.4f} "
            f"wall={result['wall_s']}s"
        )
    problems = compare(results)
    (out / "comparison.json").write_text(
        json.dumps({"results": results, "tolerance": TOLERANCE, "problems": problems}, indent=2)
    )
    if problems:
        print("FAIL: " + "; ".join(problems))
        return 1
    print("OK: two-process DDP matches one process within tolerance")
    return 0


# -- worker (runs once, or once per process under accelerate launch) -----------------------------
def main_worker(args: argparse.Namespace) -> int:
    import torch
    from sklearn.metrics import f1_score

    from harness.data.manifest import make_manifest
    from systems.audio_w2vbert import AudioW2VBert

    torch.set_num_threads(1)
    manifest = make_manifest(pd.read_csv(args.manifest, dtype={"id": str}), args.manifest)
    train, dev, test = (
        manifest[manifest["split"] == s].reset_index(drop=True)
        for s in ("Train", "Development", "Test3")
    )
    system = AudioW2VBert(**demo_params(args.epochs)).fit(
        train, dev, task="categorical", classes=CLASSES
    )
    history = system.history_[0]
    assert history["num_processes"] == args.expect, (
        f"expected {args.expect} processes, the accelerator had {history['num_processes']}"
    )
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    _, variants = system.predict_with_variants(test)

    def macro_f1(frame: pd.DataFrame) -> float:
        predicted = np.asarray(frame.columns)[frame.to_numpy().argmax(axis=1)]
        return float(
            f1_score(
                test["label"], predicted, labels=list(CLASSES), average="macro", zero_division=0
            )
        )

    result = {
        "num_processes": history["num_processes"],
        "accumulation_steps": history["accumulation_steps"],
        "steps": history["steps"],
        "loss": history["loss"],
        "dev": history["dev"],
        "macro_f1": macro_f1(variants["lda_lr"]),
        "softmax_f1": macro_f1(variants["softmax"]),
        "posteriors": variants["softmax"].to_numpy().round(6).tolist(),
    }
    Path(args.result).write_text(json.dumps(result))
    return 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="directory for the subset, results and comparison.json")
    parser.add_argument(
        "--quick", action="store_true", help="smaller subset and 2 epochs (the test)"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--manifest", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=4, help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, default=1, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    arguments = parse()
    sys.exit(main_worker(arguments) if arguments.worker else main_orchestrator(arguments))
