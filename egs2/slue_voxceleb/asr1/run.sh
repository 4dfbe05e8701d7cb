#!/usr/bin/env bash
# slue_voxceleb: SLUE-VoxCeleb (interviews from VoxCeleb1's YouTube videos; README.md says what to
# download and where), two targets on one dump, each an SSL checkpoint fine-tuned on its own:
#   asr        normalized transcripts, CTC over characters                    (SLUE ASR: WER)
#   sentiment  one label per utterance (Negative, Neutral, Positive), mean
#              pooling and a linear layer (ESPnet's cls task)      (SLUE sentiment: macro-F1)
# Every option of ssl_ft.sh can be given here (./run.sh --help lists them); stages 1-4 run once
# (with the first target) and are shared by the other. --targets (first option) runs a subset,
# e.g. another system (conf/tuning/ has HuBERT Base, wav2vec 2.0 Base and WavLM Large per target):
#   ./run.sh --targets sentiment --stage 10 --train_config conf/tuning/train_sentiment_hf_wavlm_large_meanpool.yaml
# The audio is ESPnet's, each utterance untrimmed; slue-toolkit's, cut to [start_second, end_second]:
#   ./run.sh --local_data_opts "--trim true"     (stages 1-4 again; README.md: keep its exp/ apart)
# Both targets are decoded and scored on devel: the blind test TSV has no transcripts or labels.
set -euo pipefail

targets="asr sentiment"
if [ "${1:-}" = --targets ]; then targets=$2; shift 2; fi
case " $* " in *" --help "*|*" -h "*)  # the help once, not once per target
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; echo; exec ./ssl_ft.sh --help ;;
esac
# Utterances up to 30 s are kept, as ESPnet's SLUE-VoxCeleb recipe does (ssl_ft.sh's default is 20 s).
common=(--train_set train --valid_set devel --test_sets devel --max_wav_duration 30)
# ssl_ft.sh's options per target
asr=(--task asr --text_name text --token_type char --inference_config conf/decode_asr.yaml
     --train_config conf/train_asr.yaml)
sentiment=(--task cls --text_name text.sentiment --local_score_opts "--metric sentiment"
           --inference_model valid.acc.ave.pth --train_config conf/train_sentiment.yaml)

fine_tune() {  # fine_tune TARGET OPTION...: ssl_ft.sh for one target
    local -n target_opts=$1
    ./ssl_ft.sh "${common[@]}" --target "$1" "${target_opts[@]}" "${@:2}"
}
for target in ${targets}; do  # check them all before running any
    case "${target}" in asr|sentiment) ;; *) echo "$0: unknown target '${target}' (asr, sentiment)" >&2; exit 2 ;; esac
done
skip_prep=false  # stages 1-4 are shared: the first target runs them, the others skip them
for target in ${targets}; do
    fine_tune "${target}" --skip_data_prep "${skip_prep}" "$@"
    skip_prep=true
done
