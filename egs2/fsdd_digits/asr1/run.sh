#!/usr/bin/env bash
# fsdd_digits: connected-digit ASR on real recorded speech (Free Spoken Digit Dataset, 4 speakers),
# speaker-independent: one whole speaker is held out for test. Options go to ssl_ft.sh.
# Other systems: a config, possibly with ESPnet overrides and a --tag naming exp/<task>_<tag>
# (local/RESULTS.head.md has every system's command), e.g. downsampling x3:
#   ./run.sh --stage 11 --train_config conf/tuning/train_asr_fastinf_sd_ctc.yaml \
#     --train_args "--frontend_conf downsample_factor=3" --tag asr_train_asr_fastinf_sd3_ctc
# Decoding: stage 9's word 4-gram LM (conf/decode_asr_lm.yaml; best path: --inference_config
# conf/decode_asr.yaml); local/RESULTS.head.md compares the two on the held-out speaker.
set -euo pipefail

./ssl_ft.sh --train_set train --valid_set dev --test_sets "dev test" \
    --task asr --target asr --text_name text --token_type char \
    --train_config conf/train_asr.yaml --inference_config conf/decode_asr_lm.yaml \
    --results_opts "--baseline asr_asr_train_asr_ssl_tiny_pretrained_ctc --compute_systems *_fastinf_*
                    --compute_metric wer cer --pareto RESULTS.pareto.png --exit_curve RESULTS.exit_curve.png
                    --baseline_tag decode_asr_lm_asr_model_valid.loss.ave" "$@"
