#!/usr/bin/env bash
# SCORE tuning of the project's default upstream (../ssl1/pretrained/upstream.pth) on the speech of
# mini_slue's ASR training set, used without its labels; the result, exp/score_train_score/upstream.pth,
# is an upstream for the asr1 recipe (frontend_conf.weights); local/evaluate.sh compares it with the
# starting upstream on query-by-example search in the test set (RESULTS.md). Options of tune_upstream.sh
# can be given here, e.g. the paper's HuBERT Base setting on a GPU: --train_config conf/tuning/train_score_hubert_base.yaml
set -euo pipefail

./tune_upstream.sh --method score --train_set train --valid_set dev --test_sets test --train_config conf/train_score.yaml "$@"
