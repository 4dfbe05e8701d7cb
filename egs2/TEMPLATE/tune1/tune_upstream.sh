#!/usr/bin/env bash
# Tune an upstream on unlabelled speech with one of the project's methods and export it for
# fine-tuning (frontend_conf.weights): SCORE (Meghanani & Hain 2024: original and speed+pitch
# perturbed speech made to correspond, soft-DTW) or self-supervised rewiring (Yang et al. 2022:
# contrastive, positives from a masked twin and/or neutral TTS). Data and training reuse
# ssl_ft.sh's stages; the method is the ESPnet task (espnet2_ext/<method>/), and its extra
# inputs come from its recipe plugin (espnet2_ext/recipe/plugins.py).
#   1-4 data preparation, audio formatting, filtering   (ssl_ft.sh stages 1-4)
#   5   statistics (shapes), after the method's inputs (rewire: TTS)  (ssl_ft.sh stage 10)
#   6   tuning (<method>_train; resumable)                (ssl_ft.sh stage 11)
#   7   export the tuned upstream + summary -> ${expdir}/<method>_<tag>/upstream.pth
#   8   the recipe's own evaluation of the starting and the tuned upstream (local/evaluate.sh), if any
#   9   RESULTS.md: every run's cost, validation loss and evaluation
#   10  the tuned upstream as a transformers directory -> ${expdir}/<method>_<tag>/hf_upload, listed
#       (dry run) or uploaded to the hub (only with --hf_repo; upload with --hf_dry_run false)
# The script is one { ...; exit; } block, which bash parses whole before running it: editing this
# file while a recipe runs (hours of training) cannot make the running bash read new text.
{
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${0##*/}) $*"; }

stage=1
stop_stage=10000
method=                   # score or rewire.
train_config=             # The method's config: the starting upstream (frontend_conf.weights), schedule.
train_args=               # Extra training options (override the config).
tag=                      # Suffix of the exp dir (default: the config's name).
train_set=
valid_set=
test_sets=                # Sets formatted for local/evaluate.sh (default: the valid set).
local_data_opts=
nj=2
ngpu=auto
train_nthreads=
dumpdir=dump
expdir=exp
python=python3
hf_repo=                  # Stage 10: hub id org/name of the tuned upstream (stage skipped without it).
hf_dry_run=true           # Stage 10: list what would be uploaded; false uploads.

help_message=$(sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//')
. "$(dirname "$(readlink -f "$0")")/../asr1/parse_options.sh"
[ $# -eq 0 ] || { log "unexpected argument '$1' (options are --name value; see --help)"; exit 2; }
. ./path.sh

case "${method}" in score|rewire) ;; *) log "--method must be score or rewire: '${method}'"; exit 2 ;; esac
[ -n "${train_set}" ] && [ -n "${valid_set}" ] || { log "--train_set and --valid_set are required"; exit 2; }
[ -n "${train_config}" ] || { log "--train_config is required"; exit 2; }
[ -n "${tag}" ] || tag=$(basename "${train_config}" .yaml)
exp="${expdir}/${method}_${tag}"
ft=(./ssl_ft.sh --train_set "${train_set}" --valid_set "${valid_set}" --test_sets "${test_sets:-${valid_set}}"
    --nj "${nj}" --ngpu "${ngpu}" --dumpdir "${dumpdir}" --expdir "${expdir}" --python "${python}"
    --train_config "${train_config}" --task "${method}" --target upstream --token_type speech --tag "${tag}")
[ -n "${train_nthreads}" ] && ft+=(--train_nthreads "${train_nthreads}")

if [ "${stage}" -le 4 ]; then
    "${ft[@]}" --stage "${stage}" --stop_stage "$((stop_stage < 4 ? stop_stage : 4))" \
        --local_data_opts "${local_data_opts}"
fi
# Stages 5-6 are ssl_ft.sh's 10 (statistics) and 11 (training): one call for those selected (one
# config resolution, which imports ESPnet).
first=$((stage > 5 ? stage : 5)); last=$((stop_stage < 6 ? stop_stage : 6))
if [ "${first}" -le "${last}" ]; then
    "${ft[@]}" --stage "$((first + 5))" --stop_stage "$((last + 5))" --train_args "${train_args}"
fi
if [ "${stage}" -le 7 ] && [ "${stop_stage}" -ge 7 ]; then
    log "Stage 7: export -> ${exp}/upstream.pth"
    ${python} -m espnet2_ext.ssl.tuned_export "${exp}" --out "${exp}/upstream.pth"
fi
if [ "${stage}" -le 8 ] && [ "${stop_stage}" -ge 8 ] && [ -x local/evaluate.sh ]; then
    start=$(${python} -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["frontend_conf"]["weights"])' \
        "${exp}/config.yaml")
    log "Stage 8: local/evaluate.sh ${start} ${exp}/upstream.pth -> ${exp}/eval"
    local/evaluate.sh "${start}" "${exp}/upstream.pth" "${exp}/eval"
fi
if [ "${stage}" -le 9 ] && [ "${stop_stage}" -ge 9 ]; then
    # As ssl_ft.sh's stage 13: an experiment root other than exp/ gets RESULTS.<root>.md.
    root=${expdir%/}; root=${root##*/}
    report=RESULTS.md; [ "${root}" = exp ] || report="RESULTS.${root}.md"
    log "Stage 9: ${report}"
    ${python} -m "espnet2_ext.${method}.report" "${expdir}" --out "${report}"
fi
if [ "${stage}" -le 10 ] && [ "${stop_stage}" -ge 10 ] && [ -n "${hf_repo}" ]; then
    upload=(); [ "${hf_dry_run}" = false ] && upload=(--upload)  # only if asked
    log "Stage 10: ${exp}/upstream.pth -> ${exp}/hf_upload -> ${hf_repo} (${upload[*]:-dry run})"
    rm -rf "${exp}/hf_upload"  # a re-run exports the upstream again
    ${python} -m espnet2_ext.upstream.hf_export "${exp}/upstream.pth" --out "${exp}/hf_upload" \
        --hf_repo "${hf_repo}" "${upload[@]}"
fi
log "Finished stages ${stage}-${stop_stage}"
exit
}
