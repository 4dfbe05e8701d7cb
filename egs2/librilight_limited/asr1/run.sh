#!/usr/bin/env bash
# librilight_limited: Libri-light's limited supervision sets (10 h, 1 h, 10 min of LibriSpeech
# training speech) for training, LibriSpeech's dev and test sets for validation and scoring
# (README.md says what to download and where); one target, asr: an SSL checkpoint fine-tuned with
# a linear CTC head over characters (conf/train_asr.yaml: HuBERT Base, fairseq's 10 h schedule).
# Every option of ssl_ft.sh can be given here (./run.sh --help lists them), e.g. another checkpoint
# (conf/tuning/ has HuBERT Base, wav2vec 2.0 Base and WavLM Large):
#   ./run.sh --stage 10 --train_config conf/tuning/train_asr_hf_wav2vec2_base_ctc.yaml
# Stage 1 prepares data/train_10h, train_1h and train_10min; README.md gives the commands for the
# smaller two (--train_set train_1h --target asr_1h, with fairseq's 1 h schedule).
set -euo pipefail

if [[ " $* " =~ \ (--help|-h)\  ]]; then
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; echo; exec ./ssl_ft.sh --help
fi
# ESPnet's librilight_limited data (dev = dev-clean + dev-other; its run.sh validates on dev_clean,
# here on dev as in librispeech_100: --valid_set dev_clean for ESPnet's) and its 30 s length limit
./ssl_ft.sh --train_set train_10h --valid_set dev --test_sets "test_clean test_other" --max_wav_duration 30 \
    --task asr --target asr --text_name text --token_type char \
    --train_config conf/train_asr.yaml --inference_config conf/decode_asr.yaml "$@"
