"""End-to-end figures for the README: CLI start-up, a cold demo run, and the same run cached.

    python benchmarks/e2e_demo_run.py [--system fusion_lr] [--repeat-help 10] [extra key=value ...]

Each ``harness`` invocation is a fresh subprocess with its own empty cache directory, so the cold
run includes building the demo corpus and training every member; the warm run re-uses the
members' cached predictions. Peak memory is the maximum resident set size of the child process
(``resource.getrusage(RUSAGE_CHILDREN)``), which covers the whole run.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB of this child) for one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss is the max over all children so far; report it only when this child raised it.
    return seconds, max(peak, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--system", default="fusion_lr")
    parser.add_argument("--repeat-help", type=int, default=10)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()

    harness = [sys.executable, "-m", "harness.cli"]
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as runs:
        env = {**os.environ, "HARNESS_CACHE": cache, "HF_HUB_OFFLINE": "1"}
        help_times = []
        for _ in range(args.repeat_help):
            started = time.perf_counter()
            subprocess.run([*harness, "--help"], check=True, env=env, stdout=subprocess.DEVNULL)
            help_times.append(time.perf_counter() - started)
        print(
            f"harness --help: median {statistics.median(help_times):.3f} s over {args.repeat_help} runs"
        )

        command = [*harness, "run", f"system={args.system}", f"output_dir={runs}", *args.overrides]
        cold, cold_peak = timed(command, env)
        print(
            f"cold `harness run system={args.system}` (demo build + members + fusion): {cold:.1f} s, "
            f"peak RSS {cold_peak:.0f} MiB"
        )
        warm, _ = timed(command, env)
        print(f"warm re-run (members cached): {warm:.1f} s")


if __name__ == "__main__":
    main()
