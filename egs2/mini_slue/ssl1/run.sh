#!/usr/bin/env bash
# Pretrain the project's default upstream: a tiny HuBERT (4.0 M parameters) on synthetic mini_slue
# speech, far more of it than the fine-tuning sets (the same generator and seed, so the asr1
# training recordings are the first 80 of these; dev is the same and test recordings are never
# generated here beyond one unused recording). Options of ssl_pt.sh can be given here.
set -euo pipefail

./ssl_pt.sh --train_set train --valid_set dev \
    --local_data_opts "--train_recordings 600 --dev_recordings 10 --test_recordings 1" \
    --n_iter 1 --n_clusters 100 --train_configs conf/pretrain_it1.yaml "$@"
