#!/usr/bin/env bash
# quesst14: SUPERB's query-by-example task (s3prl quesst14_dtw, what SCORE reports) on QUESST 2014
# (README.md says what to download and where): every transformer layer of each upstream, no training.
#   1  QbE dirs data/{dev,eval} of the --language subset (English by default), audio read in place
#   2  audio resampled to 16 kHz (8 kHz in the corpus) -> dump/{docs,dev,eval}
#   3  per upstream and split, every layer scored (subsequence DTW, MAP/MTWV/ATWV) -> exp/qbe/<tag>/<split>.json
#   4  QUESST's own scorer (scoring/score-TWV-Cnxe.sh, needs perl and java) on each layer's stdlist,
#      when --scorer is official, or auto and the scorer is there; else the project's Python MTWV stands
#   5  RESULTS.md: a row per layer, and SUPERB's pick (best dev layer by MTWV, its eval MTWV)
# e.g. ./run.sh --upstreams "../../mini_slue/ssl1/pretrained/upstream.pth downloads/hubert-base-ls960" --ngpu 1
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${0##*/}) $*"; }

stage=1
stop_stage=5
language=nnenglish        # The subset: nnenglish (SUPERB's), all, or another language of the key lists.
upstreams=../../mini_slue/ssl1/pretrained/upstream.pth   # Space-separated: .pth exports, ESPnet checkpoints, transformers dirs.
scorer=auto               # auto, official (QUESST's score-TWV-Cnxe.sh) or python (the project's MTWV).
ngpu=0                    # 1: features on the GPU (cuda); DTW runs on the CPU either way.
qbe_conf=conf/qbe_dtw.conf  # Options of espnet2_ext.score.qbe_eval, one per line (SUPERB's DTW settings).
qbe_eval_args=            # Extra options of espnet2_ext.score.qbe_eval (e.g. "--method cosine --normalize_waveform").
dumpdir=dump
expdir=exp/qbe
python=python3

help_message=$(sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//')
. ../../TEMPLATE/asr1/parse_options.sh
[ $# -eq 0 ] || { log "unexpected argument '$1' (options are --name value; see --help)"; exit 2; }
. ./path.sh
. ./db.sh

official_usable() { [ -f "${QUESST14}/scoring/score-TWV-Cnxe.sh" ] && command -v perl > /dev/null && command -v java > /dev/null; }
case "${scorer}" in
    auto) if official_usable; then scorer=official; else scorer=python; fi ;;
    official) official_usable || { log "--scorer official needs ${QUESST14}/scoring/score-TWV-Cnxe.sh, perl and java"; exit 1; } ;;
    python) ;;
    *) log "--scorer must be auto, official or python: '${scorer}'"; exit 2 ;;
esac
if [ "${ngpu}" -gt 0 ]; then device=cuda; else device=cpu; fi

tag_of() {  # exp dir name of an upstream: its path without ../, ./, a leading /, hf: and .pth, '/' -> '_'
    local t=${1%/}; t=${t#hf:}; t=${t#/}
    while [[ ${t} == ../* || ${t} == ./* ]]; do t=${t#*/}; done
    t=${t%.pth}; echo "${t//\//_}"
}

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    log "Stage 1: QbE dirs data/{dev,eval} (${language}) from ${QUESST14}"
    local/data.sh --language "${language}"
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
    log "Stage 2: 16 kHz audio -> ${dumpdir}"
    for set in docs dev/queries eval/queries; do
        ${python} -m espnet2_ext.recipe.format_audio --fs 16000 --audio_format flac \
            "data/${set}/wav.scp" "${dumpdir}/${set}"
        ${python} -m espnet2_ext.recipe.format_audio copy-meta "data/${set}" "${dumpdir}/${set}"
    done
    for split in dev eval; do
        cp "data/${split}/truth" "${dumpdir}/${split}/truth"
        ln -sfn ../docs "${dumpdir}/${split}/docs"
    done
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
    [ -f "${qbe_conf}" ] || { log "--qbe_conf ${qbe_conf}: no such file"; exit 1; }
    mapfile -t conf_opts < <(grep -v -e '^#' -e '^[[:space:]]*$' "${qbe_conf}")
    for upstream in ${upstreams}; do
        exp=${expdir}/$(tag_of "${upstream}")
        for split in dev eval; do
            log "Stage 3: ${upstream} on ${split} -> ${exp}/${split}.json"
            stdlist=()  # the official scorer's input: one XML per layer, tens of MB each
            [ "${scorer}" = official ] && stdlist=(--stdlist_dir "${exp}/${split}")
            # shellcheck disable=SC2086
            ${python} -m espnet2_ext.score.qbe_eval --upstream "${upstream}" --qbe_dir "${dumpdir}/${split}" \
                --out "${exp}/${split}.json" --device "${device}" "${stdlist[@]}" "${conf_opts[@]}" ${qbe_eval_args}
        done
    done
fi

if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ] && [ "${scorer}" = official ]; then
    scoring_abs=$(cd "${QUESST14}/scoring" && pwd)
    for upstream in ${upstreams}; do
        exp=${expdir}/$(tag_of "${upstream}")
        for split in dev eval; do
            for layer_dir in "${exp}/${split}"/layer*/; do
                [ -f "${layer_dir}/benchmark.stdlist.xml" ] || { log "no stdlist in ${layer_dir}: rerun stage 3 with the scorer"; exit 1; }
                out=$(cd "${layer_dir}" && pwd)
                log "Stage 4: score-TWV-Cnxe.sh ${out} groundtruth_quesst14_${split} -10"
                # -10: the score of every trial missing from the stdlist (other languages), as SUPERB runs it
                (cd "${scoring_abs}" && bash score-TWV-Cnxe.sh "${out}" "groundtruth_quesst14_${split}" -10) \
                    > "${out}/scorer.log" 2>&1 || { log "the scorer failed: ${out}/scorer.log"; exit 1; }
            done
        done
    done
fi

if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
    log "Stage 5: RESULTS.md"
    ${python} -m espnet2_ext.corpora.quesst14 results "${expdir}" --out RESULTS.md
fi
