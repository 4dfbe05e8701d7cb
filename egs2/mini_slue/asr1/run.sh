#!/usr/bin/env bash
# mini_slue: a synthetic SLUE-style corpus (eSpeak NG), four targets on one dump:
#   asr        transcripts, CTC over characters                     (SLUE ASR)
#   ner        transcripts with "TAG FILL words SEP" entity spans   (SLUE-VoxPopuli NER)
#   sentiment  one label per segment, utterance classifier          (SLUE-VoxCeleb sentiment)
#   phn        eSpeak NG's phonemes, CTC over phonemes; its WER is the PER (SUPERB PR; not in the demo)
# Every option of ssl_ft.sh can be given here (e.g. --stage 11 --stop_stage 13 --ngpu 1);
# stages 1-4 run once (with the first target) and are shared by the others.
# --targets "asr" (first option) runs a subset, e.g. another system for one target (see RESULTS.md):
#   ./run.sh --targets asr --stage 10 --train_config conf/tuning/train_asr_ssl_tiny_pretrained_ctc.yaml \
#       --train_args "--frontend_conf weights=random --frontend_conf arch=tiny" --tag asr_train_asr_ssl_tiny_random_ctc
# A variant of a config is that config plus ESPnet overrides, named by --tag (exp/<task>_<tag>);
# local/RESULTS.head.md has every system's command, e.g. downsampling x3:
#   ./run.sh --targets asr --stage 11 --train_config conf/tuning/train_asr_fastinf_sd_ctc.yaml \
#     --train_args "--frontend_conf downsample_factor=3 --postencoder ctc_upsample --postencoder_conf factor=2" \
#     --tag asr_train_asr_fastinf_sd3_ctc
set -euo pipefail

targets="asr ner sentiment"
if [ "${1:-}" = --targets ]; then targets=$2; shift 2; fi
sets=(--train_set train --valid_set dev --test_sets test)   # add dev for more decoding (the demo budget decodes test only)
# RESULTS.md compares the fast-inference strategies with the ASR default (error rates, MACs, CPU time,
# Pareto plot). CER first: with the LM, WER also measures the word LM's corrections, CER less so.
results=(--results_opts "--baseline asr_asr_train_asr --compute_systems *_fastinf_* --compute_metric cer wer
                        --pareto RESULTS.pareto.png --exit_curve RESULTS.exit_curve.png")
prepared=false   # stages 1-4 are shared: only the first target runs them
# NER and sentiment start from the ASR model (its upstream, and for NER its head but the output
# layer): the ASR target trains first. Left behind: the step counter, so that the NER head warms up
# on a frozen upstream again (freeze_steps), and for sentiment the ASR's layer weights (its
# classifier reads the top layer).
asr_model=exp/asr_asr_train_asr/valid.loss.ave.pth

options() {  # options of ssl_ft.sh for one target
    case "$1" in
        # ASR and NER decode with stage 9's word 4-gram LM of their training text (local/RESULTS.head.md:
        # ASR test WER 78.0 -> 36.4, NER test F1 0.0 -> 21.7); --inference_config conf/decode_asr.yaml
        # decodes by best path, without it.
        asr) opts=(--task asr --text_name text --token_type char
                   --train_config conf/train_asr.yaml --inference_config conf/decode_asr_lm.yaml) ;;
        ner) opts=(--task asr --text_name text.ner --token_type char --nlsyms_txt conf/nlsyms.txt
                   --local_score_opts "--metric ner"
                   --pretrained_model "${asr_model}:::ctc.ctc_lo,frontend.num_updates"
                   --train_args "--max_epoch 3"   # from the ASR model: a shorter budget
                   --train_config conf/train_ner.yaml --inference_config conf/decode_ner_lm.yaml) ;;
        sentiment) opts=(--task cls --text_name text.sentiment --local_score_opts "--metric sentiment"
                         --pretrained_model "${asr_model}:frontend:frontend:frontend.num_updates,frontend.layer_weights"
                         --inference_model valid.acc.ave.pth --train_config conf/train_sentiment.yaml) ;;
        phn) opts=(--task asr --text_name text.phn --token_type word
                   --train_config conf/train_asr.yaml --inference_config conf/decode_asr.yaml) ;;
        *) echo "$0: unknown target '$1' (asr, ner, sentiment, phn)" >&2; exit 2 ;;
    esac
}
for target in ${targets}; do options "${target}"; done   # check them all before running any
# Stage 15 builds each model's hub repository as a dry run (exp/<name>/hf_upload: what an upload
# would send); to upload: --hf_dry_run false, with HF_ORG set to your hub user or organisation.
for target in ${targets}; do
    options "${target}"
    hub=(--skip_upload_hf false --hf_repo "${HF_ORG:-your-hf-org}/mini_slue_${target}")
    ./ssl_ft.sh "${sets[@]}" --skip_data_prep "${prepared}" --target "${target}" "${opts[@]}" "${results[@]}" \
        "${hub[@]}" "$@"
    prepared=true
done
