#!/usr/bin/env bash
# Reproduce the README's demo leaderboard: every system on the default demo corpus, then the table.
#   bash benchmarks/demo_leaderboard.sh [runs_dir]
# Members are cached, so the single-system runs after the fusions only re-score.
set -euo pipefail
runs="${1:-runs}"
run() { echo "+ harness run $*"; /usr/bin/time -f "  %e s wall, %M KiB peak RSS" harness run "$@" output_dir="$runs" progress=false >/dev/null; }
run system=fusion_lr profile=light
run system=fusion_interp profile=light
run system=text_tfidf
run system=audio_egemaps
run system=fusion_lr
run system=fusion_interp
run system=audio_w2vbert
run system=text_llm
run system=text_tfidf demo.lang=es      # EmoSpeech 2024 Task 1 on the Spanish demo
run system=text_roberta demo.lang=es
harness leaderboard runs="$runs" format=markdown
