#!/usr/bin/env bash
# librispeech_100: LibriSpeech train-clean-100 (README.md says what to download and where), two
# targets on one dump, each an SSL checkpoint fine-tuned with a CTC head (conf/train_asr.yaml:
# WavLM Large, the fast-inference paper's baseline; README.md lists its fast-inference systems):
#   asr  the transcripts, CTC over characters                    (WER on test-clean, test-other)
#   phn  eSpeak NG's phonemes of each transcript (text.phn), CTC over phonemes; its WER is
#        the PER (phoneme recognition as SUPERB's PR, with other phones: README.md)
# Every option of ssl_ft.sh can be given here (./run.sh --help lists them); stages 1-4 run once
# (with the first target) and are shared by the other. --targets (first option) runs a subset,
# e.g. another checkpoint (conf/tuning/ has WavLM Large, HuBERT Base and wav2vec 2.0 Base):
#   ./run.sh --targets phn --stage 10 --train_config conf/tuning/train_asr_hf_hubert_base_ctc.yaml
set -euo pipefail

targets="asr phn"
[ "${1:-}" = --targets ] && { targets=$2; shift 2; }
if [[ " $* " =~ \ (--help|-h)\  ]]; then  # the help once, not once per target
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; echo; exec ./ssl_ft.sh --help
fi
# The data file and token type of each target's transcripts
declare -A transcripts=([asr]="text char" [phn]="text.phn word")
for target in ${targets}; do  # check them all before running any
    [ -n "${transcripts[${target}]:-}" ] || { echo "$0: unknown target '${target}' (asr, phn)" >&2; exit 2; }
done
# ESPnet's librispeech_100 sets (dev = dev-clean + dev-other) and its 30 s length limit
sets=(--train_set train_clean_100 --valid_set dev --test_sets "test_clean test_other" --max_wav_duration 30)
prepared=false  # stages 1-4 are shared: the first target runs them
for target in ${targets}; do
    read -r text_name token_type <<< "${transcripts[${target}]}"
    ./ssl_ft.sh "${sets[@]}" --task asr --target "${target}" --text_name "${text_name}" --token_type "${token_type}" \
        --train_config conf/train_asr.yaml --inference_config conf/decode_asr.yaml --skip_data_prep "${prepared}" "$@"
    prepared=true
done
