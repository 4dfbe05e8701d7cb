#!/usr/bin/env bash
# slue_voxpopuli: SLUE-VoxPopuli (European Parliament speech; README.md says what to download and
# where), two targets on one dump, each an SSL checkpoint fine-tuned with CTC over characters:
#   asr  normalized transcripts                                              (SLUE ASR: WER)
#   ner  the same words with "TAG FILL words SEP" spans of the 7 combined tags (SLUE NER: F1, label-F1)
# Every option of ssl_ft.sh can be given here (./run.sh --help lists them); stages 1-4 run once
# (with the first target) and are shared by the other. --targets (first option) runs a subset,
# e.g. another system (conf/tuning/ has HuBERT Base, wav2vec 2.0 Base and WavLM Large per target):
#   ./run.sh --targets ner --stage 10 --train_config conf/tuning/train_ner_hf_wavlm_large_ctc.yaml
# NER is decoded and scored on devel only: the blind test TSV has no NER labels. With the test
# labels (README.md) in place before stage 1, test can be scored too:
#   ./run.sh --targets ner --stage 12 --test_sets "devel test"
set -euo pipefail

targets="asr ner"
if [ "${1:-}" = --targets ]; then targets=$2; shift 2; fi
for arg in "$@"; do  # the help once, not once per target
    case "${arg}" in -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; echo; exec ./ssl_ft.sh --help ;; esac
done
# Segments up to 30 s are kept, as ESPnet's SLUE-VoxPopuli recipe does (ssl_ft.sh's default is 20 s).
common=(--train_set train --valid_set devel --max_wav_duration 30 --task asr --token_type char
        --inference_config conf/decode_asr.yaml)
prepared=false   # stages 1-4 are shared: only the first target runs them

options() {  # options of ssl_ft.sh for one target
    case "$1" in
        asr) opts=(--test_sets "devel test" --text_name text --train_config conf/train_asr.yaml) ;;
        ner) opts=(--test_sets devel --text_name text.ner --nlsyms_txt conf/nlsyms.txt
                   --local_score_opts "--metric ner" --train_config conf/train_ner.yaml) ;;
        *) echo "$0: unknown target '$1' (asr, ner)" >&2; exit 2 ;;
    esac
}
for target in ${targets}; do options "${target}"; done   # check them all before running any
for target in ${targets}; do
    options "${target}"
    ./ssl_ft.sh "${common[@]}" --skip_data_prep "${prepared}" --target "${target}" "${opts[@]}" "$@"
    prepared=true
done
