#!/usr/bin/env bash
# Self-supervised rewiring of the project's default upstream (../ssl1/pretrained/upstream.pth) on the
# speech of mini_slue's ASR training set (its transcripts only for the neutral TTS positives); the
# result, exp/rewire_train_rewire/upstream.pth, is an upstream for the asr1 recipe
# (frontend_conf.weights); local/evaluate.sh measures the isotropy of the starting and the rewired
# upstream on the test set (RESULTS.md). Options of tune_upstream.sh can be given here.
set -euo pipefail

./tune_upstream.sh --method rewire --train_set train --valid_set dev --test_sets test \
    --train_config conf/train_rewire.yaml "$@"
