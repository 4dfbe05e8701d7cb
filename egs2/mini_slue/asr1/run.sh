#!/usr/bin/env bash
# mini_slue: a synthetic SLUE-style corpus (eSpeak NG), three targets on one dump:
#   asr        transcripts, CTC over characters                     (SLUE ASR)
#   ner        transcripts with "TAG FILL words SEP" entity spans   (SLUE-VoxPopuli NER)
#   sentiment  one label per segment, utterance classifier          (SLUE-VoxCeleb sentiment)
# Every option of ssl_ft.sh can be given here (e.g. --stage 11 --stop_stage 13 --ngpu 1);
# stages 1-4 run once (with the asr target) and are shared by the other two.
set -euo pipefail

sets=(--train_set train --valid_set dev --test_sets test)   # add dev for more decoding (the demo budget decodes test only)

./ssl_ft.sh "${sets[@]}" --task asr --target asr --text_name text --token_type char \
    --train_config conf/train_asr.yaml --inference_config conf/decode_asr.yaml "$@"

./ssl_ft.sh "${sets[@]}" --skip_data_prep true --task asr --target ner --text_name text.ner \
    --token_type char --nlsyms_txt conf/nlsyms.txt --local_score_opts "--metric ner" \
    --train_config conf/train_ner.yaml --inference_config conf/decode_asr.yaml "$@"

./ssl_ft.sh "${sets[@]}" --skip_data_prep true --task cls --target sentiment \
    --text_name text.sentiment --local_score_opts "--metric sentiment" \
    --inference_model valid.acc.ave.pth --train_config conf/train_sentiment.yaml "$@"
