#!/usr/bin/env bash
# Pretrain a HuBERT-style upstream with ESPnet's hubert task and export it for fine-tuning.
#
# Like ESPnet's egs2/TEMPLATE/ssl1/hubert.sh, iteration 1 predicts k-means clusters of MFCCs and
# iteration i > 1 clusters a transformer layer of iteration i-1. Data and training reuse the
# fine-tuning template (ssl_ft.sh) so both pipelines share one implementation.
#   1-4 data preparation, audio formatting, filtering   (ssl_ft.sh stages 1-4)
#   5   k-means labels (iteration 1)                     7 pretraining (hubert_train; resumable)
#   6   collect statistics                               8 export the upstream + summary
#   9-12 the same for iteration 2, 13-16 for iteration 3, ...
#   5 + 4 n_iter: the last iteration's upstream as a transformers directory -> its exp dir's
#       hf_upload, listed (dry run) or uploaded (only with --hf_repo; upload with --hf_dry_run false)
# The script is one { ...; exit; } block, which bash parses whole before running it: editing this
# file while a recipe runs (hours of training) cannot make the running bash read new text.
{
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${0##*/}) $*"; }

stage=1
stop_stage=10000
n_iter=1                  # HuBERT iterations.
n_clusters=100            # k-means clusters (targets) per iteration.
feature_layer=3           # Layer of iteration i-1 clustered for iteration i > 1 (1-based).
km_portion=0.3            # Fraction of the training utterances k-means is fitted on (iteration > 1).
warm_start=false          # Iteration i > 1 starts from iteration i-1's encoder (HuBERT: from scratch).
init_upstream=            # Iteration 1 starts from this exported upstream's encoder (pretraining longer
                          # than one run, in steps; the MFCC targets get a fresh projection).
train_configs=            # One hubert_train config per iteration (space separated).
train_args=               # Extra training options of every iteration (override the configs).
iter_train_args=          # Extra training options per iteration, ';'-separated: "--max_epoch 7;--max_epoch 20".
train_set=
valid_set=
local_data_opts=
nj=2
ngpu=auto
train_nthreads=
dumpdir=dump
expdir=exp
python=python3
hf_repo=                  # Last stage: hub id org/name of the upstream (stage skipped without it).
hf_dry_run=true           # Last stage: list what would be uploaded; false uploads.

help_message=$(sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//')
. "$(dirname "$(readlink -f "$0")")/../asr1/parse_options.sh"
[ $# -eq 0 ] || { log "unexpected argument '$1' (options are --name value; see --help)"; exit 2; }
. ./path.sh

read -r -a configs <<< "${train_configs}"
IFS=';' read -r -a iter_args <<< "${iter_train_args}"
[ -n "${train_set}" ] && [ -n "${valid_set}" ] || { log "--train_set and --valid_set are required"; exit 2; }
[ "${#configs[@]}" -eq "${n_iter}" ] || { log "--train_configs needs ${n_iter} configs"; exit 2; }
data_feats="${dumpdir}/raw"
# Options that ssl_ft.sh shares with this script.
common=(--train_set "${train_set}" --valid_set "${valid_set}" --test_sets "${valid_set}"
        --nj "${nj}" --ngpu "${ngpu}" --dumpdir "${dumpdir}" --expdir "${expdir}" --python "${python}")
[ -n "${train_nthreads}" ] && common+=(--train_nthreads "${train_nthreads}")

if [ "${stage}" -le 4 ]; then
    ./ssl_ft.sh "${common[@]}" --stage "${stage}" --stop_stage "$((stop_stage < 4 ? stop_stage : 4))" \
        --local_data_opts "${local_data_opts}" --train_config "${configs[0]}"
fi

labels() { ${python} -m espnet2_ext.ssl.labels "$@"; }
selected() {  # selected K: is stage first_stage + K of the current iteration selected?
    [ "${stage}" -le $((first_stage + $1)) ] && [ "${stop_stage}" -ge $((first_stage + $1)) ]
}
for iter in $(seq "${n_iter}"); do
    target="km${n_clusters}_it${iter}"
    exp="${expdir}/hubert_${target}"
    km_dir="${expdir}/kmeans_${target}"
    if [ "${iter}" -eq 1 ]; then
        feature=mfcc; portion=1.0
    else
        feature="${expdir}/hubert_km${n_clusters}_it$((iter - 1))/upstream.pth:${feature_layer}"
        portion=${km_portion}
    fi
    first_stage=$((5 + 4 * (iter - 1)))  # this iteration's stages: first_stage .. first_stage + 3
    if selected 0; then
        log "Stage ${first_stage}: k-means on ${feature} -> ${data_feats}/*/text.${target}"
        labels fit --feature "${feature}" --n_clusters "${n_clusters}" --portion "${portion}" \
            "${data_feats}/${train_set}/wav.scp" "${km_dir}/kmeans.pkl"
        for dset in "${train_set}" "${valid_set}"; do
            labels apply --feature "${feature}" "${km_dir}/kmeans.pkl" \
                "${data_feats}/${dset}/wav.scp" "${data_feats}/${dset}/text.${target}"
        done
        labels tokens --n_clusters "${n_clusters}" "data/token_list/${target}_word/tokens.txt"
    fi
    warm_from=
    if [ "${iter}" -eq 1 ]; then
        warm_from=${init_upstream}
    elif [ "${warm_start}" = true ]; then
        warm_from=${feature%:*}
    fi
    init_opts=()
    [ -z "${warm_from}" ] || init_opts=(--pretrained_model "${exp}/init.pth")
    # Statistics and pretraining (stages first_stage + 1, + 2) are ssl_ft.sh's stages 10 and 11,
    # run by one call when both are selected (one config resolution, which imports ESPnet).
    steps=(); for step in 1 2; do selected "${step}" && steps+=("$((9 + step))"); done
    if [ ${#steps[@]} -gt 0 ]; then
        if selected 2 && [ ${#init_opts[@]} -gt 0 ]; then
            ${python} -m espnet2_ext.ssl.warm_start "${warm_from}" "${exp}/init.pth"
        fi
        from=$((first_stage + steps[0] - 9)); to=$((first_stage + steps[-1] - 9))
        log "Stage ${from}$([ "${from}" = "${to}" ] || echo "-${to}"): ssl_ft.sh stage ${steps[*]} (hubert task) -> ${exp}"
        ./ssl_ft.sh "${common[@]}" --stage "${steps[0]}" --stop_stage "${steps[-1]}" \
            --task hubert --target "${target}" --text_name "text.${target}" --token_type word \
            --train_config "${configs[$((iter - 1))]}" --tag "${target}" "${init_opts[@]}" \
            --train_args "--num_classes ${n_clusters} ${train_args} ${iter_args[$((iter - 1))]:-}"
    fi
    if selected 3; then
        log "Stage $((first_stage + 3)): export -> ${exp}/upstream.pth"
        ${python} -m espnet2_ext.ssl.export "${exp}" --out "${exp}/upstream.pth"
    fi
done
final="${expdir}/hubert_km${n_clusters}_it${n_iter}/upstream.pth"
upload_stage=$((5 + 4 * n_iter))
if [ "${stage}" -le "${upload_stage}" ] && [ "${stop_stage}" -ge "${upload_stage}" ] && [ -n "${hf_repo}" ]; then
    upload=(); [ "${hf_dry_run}" = false ] && upload=(--upload)  # only if asked
    log "Stage ${upload_stage}: ${final} -> ${final%/*}/hf_upload -> ${hf_repo} (${upload[*]:-dry run})"
    rm -rf "${final%/*}/hf_upload"  # a re-run exports the upstream again
    ${python} -m espnet2_ext.upstream.hf_export "${final}" --out "${final%/*}/hf_upload" \
        --hf_repo "${hf_repo}" "${upload[@]}"
fi
if [ -f "${final}" ]; then log "Finished: the upstream is ${final}"; else log "Finished stages ${stage}-${stop_stage}"; fi
exit
}
