#!/usr/bin/env bash
# fsdd_digits: connected-digit ASR on real recorded speech (Free Spoken Digit Dataset, 4 speakers),
# speaker-independent: one whole speaker is held out for test. Options go to ssl_ft.sh.
set -euo pipefail

./ssl_ft.sh --train_set train --valid_set dev --test_sets "dev test" \
    --task asr --target asr --text_name text --token_type char \
    --train_config conf/train_asr.yaml --inference_config conf/decode_asr.yaml \
    --compute_baseline asr_asr_train_asr_ssl_tiny_pretrained_ctc --compute_systems '*_fastinf_*' --compute_metric "wer cer" "$@"
