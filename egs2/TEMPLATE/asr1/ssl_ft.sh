#!/usr/bin/env bash
# Fine-tune an SSL speech encoder with ESPnet2: the stage pipeline shared by every recipe.
#
# Stage numbers follow ESPnet's egs2/TEMPLATE/asr1/asr.sh; option names are those of ESPnet's
# one-model templates (tts.sh, svs.sh, codec.sh): --train_config, --train_args, --tag, --inference_*.
# Every helper that the pip package lacks (Kaldi utils, sclite, spm_train, run.pl...) is a tested
# Python module of espnet2_ext.recipe, so the pipeline needs nothing beyond `pip install`.
#   1 local/data.sh            5 token list           10 collect stats     13 scoring + RESULTS.md
#   2 speed perturbation       6-8 (asr.sh's neural   11 training          14 packing
#   3 format audio -> dump/        LM: not built)     12 decoding          15 Hugging Face upload
#   4 filter length/empty text 9 word n-gram LM          (+RTF, MACs)         (asr.sh's 16; opt-in)
# The script is one { ...; exit; } block, which bash parses whole before running it: editing this
# file while a recipe runs (hours of training) cannot make the running bash read new text.
{
set -euo pipefail

log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${0##*/}) $*" >&2; }
min() { local a=$1; for b in "$@"; do [ "$b" -lt "$a" ] && a=$b; done; echo "$a"; }
SECONDS=0

# General
stage=1                 # Processes starts from the specified stage.
stop_stage=10000        # Processes is stopped at the specified stage.
skip_data_prep=false    # Skip stages 1-4 (shared by every target of a corpus).
skip_train=false        # Skip stages 5-11.
skip_eval=false         # Skip stages 12-13.
ngpu=auto               # GPUs for training (auto: 1 if CUDA is available, else 0).
num_nodes=1             # Nodes for distributed training (with a slurm/ssh --cmd).
train_nthreads=         # Torch threads of the training process (default: all CPUs if ngpu=0, else 1).
nj=2                    # Parallel jobs for data preparation and statistics.
inference_nj=2          # Parallel jobs for decoding.
gpu_inference=false     # Decode on GPU.
dumpdir=dump            # Where formatted audio goes.
expdir=exp              # Where experiments go.
python=python3          # Python (e.g. "coverage run --append").

# Data
local_data_opts=""      # Options for local/data.sh.
speed_perturb_factors="" # e.g. "0.9 1.0 1.1".
audio_format=flac       # flac or wav.
fs=16k                  # Sampling rate of the formatted audio.
min_wav_duration=0.1    # Shorter utterances are removed (seconds).
max_wav_duration=20     # Longer utterances are removed (seconds).

# Target
task=asr                # ESPnet task: asr (CTC/attention), cls (utterance classification), or, for
                        # stages 10-11 only: hubert (pretraining; TEMPLATE/ssl1/ssl_pt.sh drives it),
                        # score and rewire (tuning an upstream on speech alone; TEMPLATE/tune1/tune_upstream.sh).
target=asr              # Name of the target (asr, ner, sentiment...): part of the exp dir name.
text_name=text          # Data file holding the target (text, text.ner, text.sentiment...).
token_type=char         # char, word, bpe, or label (classification).
nbpe=100                # BPE vocabulary size.
bpemode=unigram         # unigram or bpe.
nlsyms_txt=none         # Non-linguistic symbols (one per line), kept as single tokens.
ngram_num=4             # Order of stage 9's word n-gram LM, ${expdir}/ngram/<target>/<n>gram.arpa.

# Training and decoding
tag=                    # Suffix of the exp dir (default: the config's name).
train_config=           # Training config (ESPnet YAML).
train_args=             # Extra training options (override the config).
seed=                   # Training seed (overrides the config's); the exp dir gets _seed<N>.
pretrained_model=       # --init_param value(s).
ignore_init_mismatch=false
inference_config=       # Decoding config.
inference_args=         # Extra decoding options.
inference_tag=          # Name of the decoding dir.
inference_model=valid.loss.ave.pth  # Checkpoint to decode with.
local_score_opts=       # Options for local/score.sh.
macs_num_utts=20        # Stage 12 counts the encoder's MACs on the first N utterances of each test set.
results_opts=           # Options of the RESULTS.md sections that plugins add (stage 13), e.g. fast
                        # inference's "--baseline asr_asr_train_asr --compute_systems *_fastinf_*".

# Upload (stage 15)
skip_upload_hf=true     # Skip stage 15 (a model repository on the Hugging Face hub).
hf_repo=                # Hub id <org>/<name> of the repository (stage 15 needs it).
hf_dry_run=true         # Stage 15 only builds and lists exp/<name>/hf_upload (false: uploads it too).
                        # The upload is the only network use of the stages.
hf_license=cc-by-4.0    # Model card licence (ESPnet's default; better the data's, e.g. FSDD's cc-by-sa-4.0).
lang=en                 # Language of the corpus (the model card's front matter).

# Sets
train_set=
valid_set=
test_sets=

help_message=$(sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//')
. "$(dirname "$(readlink -f "$0")")/parse_options.sh"
[ $# -eq 0 ] || { log "unexpected argument '$1' (options are --name value; see --help)"; exit 2; }
. ./path.sh
. ./cmd.sh

[ -n "${train_set}" ] && [ -n "${valid_set}" ] && [ -n "${test_sets}" ] \
    || { log "--train_set, --valid_set and --test_sets are required"; exit 2; }
[ -n "${train_config}" ] || { log "--train_config is required"; exit 2; }
case "${task}" in asr|cls|hubert|score|rewire) ;; *) log "--task must be asr, cls, hubert, score or rewire: ${task}"; exit 2 ;; esac
speech_only=false  # a task that tunes an upstream on speech alone: no target text
case "${task}" in score|rewire) speech_only=true ;; esac
[ "${task}" = cls ] && token_type=label
fs_hz=$(${python} -c "import humanfriendly as h; print(h.parse_size('${fs}'))")

# Derived names
data_feats="${dumpdir}/raw"
[ -n "${speed_perturb_factors}" ] && train_set_sp="${train_set}_sp" || train_set_sp="${train_set}"
case "${token_type}" in
    bpe) token_dir="data/token_list/${target}_bpe_${bpemode}${nbpe}" ;;
    *) token_dir="data/token_list/${target}_${token_type}" ;;
esac
token_list="${token_dir}/tokens.txt"
bpemodel="${token_dir}/bpe.model"
token_opts=(--token_type "${token_type}" --token_list "${token_list}")
[ "${token_type}" = bpe ] && token_opts+=(--bpemodel "${bpemodel}")
# ESPnet's preprocessor must keep non-linguistic symbols (e.g. NER tags) as single tokens.
[ "${nlsyms_txt}" != none ] && token_opts+=(--non_linguistic_symbols "${nlsyms_txt}")
# ESPnet's CLS task reads labels as single words.
[ "${task}" = cls ] && token_opts=(--token_type word --token_list "${token_list}")
nlsyms_opt=()
[ "${nlsyms_txt}" != none ] && nlsyms_opt=(--nlsyms "$(paste -sd, "${nlsyms_txt}")")
[ -n "${seed}" ] && train_args+=" --seed ${seed}"
[ -z "${tag}" ] && tag="${target}_$(basename "${train_config}" .yaml)${seed:+_seed${seed}}"
exp="${expdir}/${task}_${tag}"
stats_dir="${expdir}/${task}_stats_${target}_${token_type}"
if [ -z "${inference_tag}" ]; then
    _conf=decode
    [ -n "${inference_config}" ] && _conf=$(basename "${inference_config}" .yaml)
    inference_tag="${_conf}_${task}_model_${inference_model%.*}"
fi
# The data-name of the target in ESPnet's data loader.
[ "${task}" = cls ] && target_key=label || target_key=text
if [ "${skip_data_prep}" = true ]; then stage=$((stage > 5 ? stage : 5)); fi
if [ "${skip_train}" = true ]; then stop_stage_train=4; else stop_stage_train=11; fi

run_stage() {  # run_stage N: is stage N selected?
    [ "${stage}" -le "$1" ] && [ "${stop_stage}" -ge "$1" ]
}
recipe() { ${python} -m "espnet2_ext.recipe.$1" "${@:2}"; }
# A data dir's sub-directory of segments that are only neighbours of its utterances (from a corpus's
# full release; espnet2_ext.kaldi_files.NEIGHBOUR_DIR): stages 2-4 carry it along, stage 10 reads it.
neighbour_dir=neighbours
# The training config as ESPnet resolves it (YAML + --train_args) is what the data tools read: the
# effective config before training, the config.yaml that training saved after it.
effective_config="${exp}/config.yaml"
if run_stage 10 || run_stage 11; then
    effective_config="${exp}/config.effective.yaml"
    # shellcheck disable=SC2086
    ${python} -m espnet2_ext.bin.effective_config --task "${task}" --out "${effective_config}" \
        -- --config "${train_config}" ${train_args}
    # A system whose speech input is other audio (e.g. context injection's) gets its own statistics.
    stats_dir+=$(recipe data_inputs --config "${effective_config}" --stats_suffix)
    # A system that normalises its frontend's features with global statistics (ESPnet's global_mvn,
    # as asr.sh does for filterbanks) keeps them in a statistics dir of its own frontend.
    # Stage 10 computes them (without normalising), stage 11 normalises with them.
    global_mvn=false
    if grep -q '^normalize: global_mvn$' "${effective_config}"; then
        global_mvn=true
        stats_dir+="_$(sed -n 's/^frontend: //p' "${effective_config}")_mvn"
    fi
fi
# Stages 10-11's target data: text file, shapes and fold length (none for a task on speech alone).
target_train=(--train_data_path_and_name_and_type "${data_feats}/${train_set_sp}/${text_name},${target_key},text")
target_valid=(--valid_data_path_and_name_and_type "${data_feats}/${valid_set}/${text_name},${target_key},text")
target_shapes=(--train_shape_file "${stats_dir}/train/${target_key}_shape.${token_type}"
    --valid_shape_file "${stats_dir}/valid/${target_key}_shape.${token_type}" --fold_length 150)
if [ "${speech_only}" = true ]; then target_train=(); target_valid=(); target_shapes=(); token_opts=(); fi
# speech_inputs ARRAY DATA_DIR OPTION [--training] [--write]: ARRAY=(ESPnet data options of the
# speech side): DATA_DIR/wav.scp, or what a method's plugin reads for this config (e.g. the
# neighbours' audio), written with --write (stage 10 for train/valid, stage 12 for test sets).
speech_inputs() {
    local -n _inputs=$1; local _out
    _out=$(recipe data_inputs --config "${effective_config}" --data_dir "$2" --option "$3" "${@:4}")
    mapfile -t _inputs <<< "${_out}"
}

if run_stage 1 && [ "${skip_data_prep}" = false ]; then
    log "Stage 1: data preparation (local/data.sh ${local_data_opts})"
    # shellcheck disable=SC2086
    local/data.sh ${local_data_opts}
    for dset in "${train_set}" "${valid_set}" ${test_sets}; do
        recipe datadir validate "data/${dset}"
    done
fi

if run_stage 2 && [ "${skip_data_prep}" = false ] && [ -n "${speed_perturb_factors}" ]; then
    log "Stage 2: speed perturbation (${speed_perturb_factors}) of data/${train_set}"
    recipe speed_perturb --factors "${speed_perturb_factors}" --nj "${nj}" \
        --audio_dir "${dumpdir}/speed_perturb/${train_set}" \
        "data/${train_set}" "data/${train_set_sp}"
    # Segments that are only neighbours (a corpus's full release) are perturbed alike, so that a
    # perturbed utterance's neighbours are perturbed segments of the same recording.
    rm -rf "data/${train_set_sp}/${neighbour_dir}"
    if [ -d "data/${train_set}/${neighbour_dir}" ]; then
        recipe speed_perturb --factors "${speed_perturb_factors}" --nj "${nj}" \
            --audio_dir "${dumpdir}/speed_perturb/${train_set}/${neighbour_dir}" \
            "data/${train_set}/${neighbour_dir}" "data/${train_set_sp}/${neighbour_dir}"
    fi
fi

# format_data_dir SRC OUT: SRC's audio (wav.scp, or its segments) formatted into OUT, with its metadata.
format_data_dir() {
    local src=$1 out=$2 scp _nj n parts part
    local seg_opt=()
    recipe datadir validate "${src}"
    rm -rf "${out}"; mkdir -p "${out}/logdir"
    scp="${src}/wav.scp"
    if [ -f "${src}/segments" ]; then
        scp="${src}/segments"; seg_opt=(--segments "${out}/logdir/part.JOB")
    fi
    _nj=$(min "${nj}" "$(wc -l < "${scp}")")
    parts=(); for n in $(seq "${_nj}"); do parts+=("${out}/logdir/part.${n}"); done
    recipe split "${scp}" "${parts[@]}"
    part="${out}/logdir/part.JOB"; [ ${#seg_opt[@]} -gt 0 ] && part="${src}/wav.scp"
    ${train_cmd} JOB=1:"${_nj}" "${out}/logdir/format.JOB.log" \
        ${python} -m espnet2_ext.recipe.format_audio --fs "${fs_hz}" \
        --audio_format "${audio_format}" "${seg_opt[@]}" "${part}" "${out}/logdir/format.JOB"
    recipe format_audio merge "${out}" "${out}"/logdir/format.*[0-9]
    recipe format_audio copy-meta "${src}" "${out}"
}

if run_stage 3 && [ "${skip_data_prep}" = false ]; then
    log "Stage 3: format audio (${fs}, ${audio_format}) into ${data_feats}"
    for dset in "${train_set_sp}" "${valid_set}" ${test_sets}; do
        if [ "${dset}" = "${train_set_sp}" ] || [ "${dset}" = "${valid_set}" ]; then
            out="${data_feats}/org/${dset}"
        else
            out="${data_feats}/${dset}"
        fi
        format_data_dir "data/${dset}" "${out}"
        if [ -d "data/${dset}/${neighbour_dir}" ]; then  # context-aware fine-tuning's extra neighbours
            format_data_dir "data/${dset}/${neighbour_dir}" "${out}/${neighbour_dir}"
        fi
    done
fi

if run_stage 4 && [ "${skip_data_prep}" = false ]; then
    log "Stage 4: remove utterances outside ${min_wav_duration}-${max_wav_duration} s or with empty text"
    for dset in "${train_set_sp}" "${valid_set}"; do
        recipe filter_data --fs "${fs_hz}" --min_wav_duration "${min_wav_duration}" \
            --max_wav_duration "${max_wav_duration}" \
            "${data_feats}/org/${dset}" "${data_feats}/${dset}"
    done
fi

if run_stage 5 && [ "${stop_stage_train}" -ge 5 ]; then
    log "Stage 5: ${token_type} token list for '${target}' -> ${token_list}"
    _opts=(--text "${data_feats}/${train_set_sp}/${text_name}" --outdir "${token_dir}")
    case "${token_type}" in
        label) _opts+=(--label_list) ;;
        bpe) _opts+=(--token_type bpe --nbpe "${nbpe}" --bpemode "${bpemode}") ;;
        *) _opts+=(--token_type "${token_type}") ;;
    esac
    recipe tokens "${_opts[@]}" "${nlsyms_opt[@]}"
fi

if run_stage 6 && [ "${stop_stage_train}" -ge 6 ]; then
    log "Stages 6-8 (asr.sh's neural language model): not built here"
fi

# A word n-gram LM of the training transcripts, as asr.sh's stage 9 builds with KenLM's lmplz, for
# CTC decoding with an LM (espnet2_ext.bin.asr_inference --ctc_lm, e.g. conf/decode_asr_lm.yaml).
# Read from data/: the dump's training set repeats each transcript per speed-perturbation factor.
# Non-linguistic symbols stay words of the LM (NER's tags: the search scores them as the text has them).
if run_stage 9 && [ "${stop_stage_train}" -ge 9 ] && [ "${task}" = asr ]; then
    ngram_arpa="${expdir}/ngram/${target}/${ngram_num}gram.arpa"  # per target: its own text
    log "Stage 9: word ${ngram_num}-gram LM of data/${train_set}/${text_name} -> ${ngram_arpa}"
    recipe ngram --text "data/${train_set}/${text_name}" --order "${ngram_num}" --out "${ngram_arpa}"
fi

if run_stage 10 && [ "${stop_stage_train}" -ge 10 ]; then
    log "Stage 10: collect statistics -> ${stats_dir}"
    rm -rf "${stats_dir}"; mkdir -p "${stats_dir}/logdir"
    _nj=$(min "${nj}" "$(wc -l < "${data_feats}/${valid_set}/wav.scp")")
    for dset in train valid; do
        [ "${dset}" = train ] && src="${data_feats}/${train_set_sp}" || src="${data_feats}/${valid_set}"
        parts=(); for n in $(seq "${_nj}"); do parts+=("${stats_dir}/logdir/${dset}.${n}.scp"); done
        recipe split "${src}/wav.scp" "${parts[@]}"
    done
    # ESPnet's CLS model has no extract_feats_in_collect_stats option and would run the SSL
    # upstream over all the data; shapes need no model (ESPnet then skips building it).
    stats_opts=()
    [ "${task}" = cls ] && stats_opts=(--model_conf extract_feats_in_collect_stats=false)
    [ "${global_mvn}" = true ] && stats_opts+=(--normalize none)
    speech_inputs train_inputs "${data_feats}/${train_set_sp}" train_data_path_and_name_and_type --training --write
    speech_inputs valid_inputs "${data_feats}/${valid_set}" valid_data_path_and_name_and_type --write
    ${train_cmd} JOB=1:"${_nj}" "${stats_dir}/logdir/stats.JOB.log" \
        ${python} -m "espnet2_ext.bin.${task}_train" --collect_stats true --use_preprocessor true \
        "${token_opts[@]}" "${stats_opts[@]}" "${train_inputs[@]}" "${valid_inputs[@]}" \
        "${target_train[@]}" "${target_valid[@]}" --train_shape_file "${stats_dir}/logdir/train.JOB.scp" \
        --valid_shape_file "${stats_dir}/logdir/valid.JOB.scp" \
        --output_dir "${stats_dir}/logdir/stats.JOB" --config "${train_config}" ${train_args}
    _dirs=(); for n in $(seq "${_nj}"); do _dirs+=(--input_dir "${stats_dir}/logdir/stats.${n}"); done
    ${python} -m espnet2.bin.aggregate_stats_dirs "${_dirs[@]}" --output_dir "${stats_dir}"
    # Append the vocabulary size to the target's shape, as ESPnet's batch folding expects (a
    # speech-only task has no target).
    if [ "${speech_only}" = false ]; then
        vocab=$(wc -l < "${token_list}")
        for dset in train valid; do
            awk -v v="${vocab}" '{ print $0 "," v }' "${stats_dir}/${dset}/${target_key}_shape" \
                > "${stats_dir}/${dset}/${target_key}_shape.${token_type}"
        done
    fi
fi

if run_stage 11 && [ "${stop_stage_train}" -ge 11 ]; then
    if [ "${ngpu}" = auto ]; then  # here, not above: importing torch takes seconds
        ngpu=$(${python} -c "import torch; print(int(torch.cuda.is_available()))")
    fi
    log "Stage 11: training -> ${exp} (ngpu=${ngpu}; log: ${exp}/train.log)"
    mkdir -p "${exp}"
    if [ -f "${exp}/train.log" ]; then  # a resumed run keeps the earlier log as train.log.<n>
        n=1; while [ -e "${exp}/train.log.${n}" ]; do n=$((n + 1)); done
        mv "${exp}/train.log" "${exp}/train.log.${n}"
    fi
    init_opts=()
    if [ -n "${pretrained_model}" ]; then
        [ -f "${pretrained_model%%:*}" ] || { log "Error: --pretrained_model: ${pretrained_model%%:*}: no such file (train that model first)"; exit 1; }
        init_opts=(--init_param "${pretrained_model}" --ignore_init_mismatch "${ignore_init_mismatch}")
    fi
    [ "${global_mvn}" = true ] && init_opts+=(--normalize_conf "stats_file=${stats_dir}/train/feats_stats.npz")
    speech_inputs train_inputs "${data_feats}/${train_set_sp}" train_data_path_and_name_and_type --training
    speech_inputs valid_inputs "${data_feats}/${valid_set}" valid_data_path_and_name_and_type
    # To resume from here: ${exp}/run.sh (ESPnet habit: every heavy stage leaves its command).
    train_command=(${python} -m espnet2.bin.launch --cmd "${cuda_cmd} --name ${exp##*/}"
        --log "${exp}/train.log" --ngpu "${ngpu}" --num_nodes "${num_nodes}"
        --init_file_prefix "${exp}/.dist_init_" --multiprocessing_distributed true --
        ${python} -m "espnet2_ext.bin.${task}_train" --use_preprocessor true --resume true
        "${token_opts[@]}" "${train_inputs[@]}" "${valid_inputs[@]}" "${target_train[@]}" "${target_valid[@]}"
        --train_shape_file "${stats_dir}/train/speech_shape" --valid_shape_file "${stats_dir}/valid/speech_shape"
        --fold_length 80000 "${target_shapes[@]}"
        --output_dir "${exp}" --config "${train_config}" "${init_opts[@]}")
    # shellcheck disable=SC2206
    train_command+=(${train_args})
    # One CPU training process may use every core (path.sh keeps other jobs at 1 thread each).
    # (nproc itself obeys OMP_NUM_THREADS, which path.sh sets to 1.)
    [ -n "${train_nthreads}" ] || { [ "${ngpu}" = 0 ] && train_nthreads=$(env -u OMP_NUM_THREADS nproc) || train_nthreads=1; }
    train_command=(env OMP_NUM_THREADS="${train_nthreads}" "${train_command[@]}")
    printf '%q ' "${train_command[@]}" > "${exp}/run.sh"; echo >> "${exp}/run.sh"
    "${train_command[@]}"
fi

if [ "${task}" = asr ]; then
    inference_module=asr_inference
    model_opts=(--asr_train_config "${exp}/config.yaml" --asr_model_file "${exp}/${inference_model}")
    result_dir=1best_recog
else
    inference_module=cls_inference
    model_opts=(--classification_train_config "${exp}/config.yaml"
        --classification_model_file "${exp}/${inference_model}")
    result_dir=prediction
fi

if run_stage 12 && [ "${skip_eval}" = false ]; then
    log "Stage 12: decoding ${test_sets} -> ${exp}/${inference_tag}"
    [ "${gpu_inference}" = true ] && _ngpu=1 || _ngpu=0
    [ "${gpu_inference}" = true ] && _cmd="${cuda_cmd} --gpu 1" || _cmd="${decode_cmd}"
    conf_opt=(); [ -n "${inference_config}" ] && conf_opt=(--config "${inference_config}")
    for dset in ${test_sets}; do
        dir="${exp}/${inference_tag}/${dset}"; logdir="${dir}/logdir"
        _nj=$(min "${inference_nj}" "$(wc -l < "${data_feats}/${dset}/wav.scp")")
        speech_inputs test_inputs "${data_feats}/${dset}" data_path_and_name_and_type --write
        # shellcheck disable=SC2206
        decode=(${python} -m "espnet2_ext.bin.${inference_module}" --ngpu "${_ngpu}" --batch_size 1
            "${test_inputs[@]}" --key_file "${logdir}/keys.JOB.scp" --output_dir "${logdir}/output.JOB"
            "${model_opts[@]}" "${conf_opt[@]}" ${inference_args})
        # A re-run decodes only the shards that did not finish, unless what decoding depends on
        # changed (model, configs, options, keys, shard count): then it starts over.
        todo=$(recipe decode_shards prepare --nj "${_nj}" --result_dir "${result_dir}" \
            "${dir}" "${data_feats}/${dset}/wav.scp" -- "${decode[@]}")
        log "Shards of ${dset} to decode (of ${_nj}): ${todo:-none, all finished in an earlier run}"
        pids=()  # one job runner per shard, all at once
        for n in ${todo}; do
            ${_cmd} JOB="${n}:${n}" "${logdir}/${inference_module}.JOB.log" "${decode[@]}" & pids+=($!)
        done
        failed=false; for pid in "${pids[@]}"; do wait "${pid}" || failed=true; done
        [ "${failed}" = false ] || exit 1
        recipe decode_shards merge --result_dir "${result_dir}" "${dir}"  # text, token, score...
        recipe rtf "${dir}"
        if [ "${task}" = asr ]; then  # MACs per audio second of what decoding ran -> ${dir}/macs.json
            ${python} -m espnet2_ext.bin.asr_macs "${exp}" "${dir}" "${test_inputs[@]}" \
                --model_file "${inference_model}" --num_utts "${macs_num_utts}"
        fi
    done
fi

if run_stage 13 && [ "${skip_eval}" = false ]; then
    log "Stage 13: scoring -> ${exp}/${inference_tag}/<set>/score_*"
    for dset in ${test_sets}; do
        dir="${exp}/${inference_tag}/${dset}"
        ref="${data_feats}/${dset}/${text_name}"
        if [ "${task}" = asr ]; then
            # WER/CER of the words: non-linguistic symbols (e.g. NER tags) are removed first.
            _rm=(); [ ${#nlsyms_opt[@]} -gt 0 ] && _rm=("${nlsyms_opt[@]}" --remove_nlsyms)
            recipe score --ref "${ref}" --hyp "${dir}/text" --unit word --outdir "${dir}/score_wer" "${_rm[@]}"
            recipe score --ref "${ref}" --hyp "${dir}/text" --unit char --outdir "${dir}/score_cer" "${_rm[@]}"
            if [ "${token_type}" = bpe ]; then
                recipe score --ref "${ref}" --hyp "${dir}/text" --unit token --bpemodel "${bpemodel}" \
                    --outdir "${dir}/score_ter" "${nlsyms_opt[@]}"
            fi
        fi
        if [ -x local/score.sh ]; then
            # shellcheck disable=SC2086
            local/score.sh ${local_score_opts} "${ref}" "${dir}"
        fi
    done
    # RESULTS.md reports exp/; another experiment root (e.g. --expdir exp_topic0.7, a variant of the
    # corpus) gets RESULTS.<root>.md, so that no run replaces another root's report. The files that
    # results_opts name RESULTS.* (plots) are renamed alike. A recipe's local/<report>.head.md (how
    # to reproduce each system) heads its report.
    _root=${expdir%/}; _root=${_root##*/}
    _report=RESULTS; [ "${_root}" = exp ] || _report="RESULTS.${_root}"
    _head=(); [ -f "local/${_report}.head.md" ] && _head=(--preamble "local/${_report}.head.md")
    # split, no globbing: patterns stay
    read -r -d "" -a _results_opts <<< "${results_opts//RESULTS./${_report}.}" || true
    recipe results "${expdir}" --out "${_report}.md" --curves "${_report}.curves.png" "${_head[@]}" \
        "${_results_opts[@]}"
    recipe results "${exp}" --out "${exp}/RESULTS.md"
    log "Results: $(pwd)/${_report}.md"
fi

packed_model="${exp}/${exp##*/}_${inference_model%.*}.zip"
if run_stage 14 && [ "${skip_eval}" = false ]; then
    log "Stage 14: pack ${exp} -> ${packed_model}"
    [ "${task}" = asr ] && pack_task=asr || pack_task=cls
    # A local upstream checkpoint travels in the zip, with a config that names the copy; so do
    # global_mvn statistics (asr.sh packs its feats_stats.npz the same way).
    mapfile -t packed < <(${python} -m espnet2_ext.upstream.pack "${exp}/config.yaml" "${exp}/pack")
    [ "${#packed[@]}" -gt 0 ] || exit 1  # its error line is above (set -e misses a <(...) failure)
    pack_opts=("${model_opts[@]}"); pack_opts[1]="${packed[0]}"  # [1]: the train config
    for extra in "${packed[@]:1}"; do pack_opts+=(--option "${extra}"); done
    [ -d "${exp}/images" ] && pack_opts+=(--option "${exp}/images")  # the training curves, as asr.sh
    ${python} -m espnet2.bin.pack "${pack_task}" "${pack_opts[@]}" \
        --option "${exp}/RESULTS.md" --option "${token_dir}" \
        --outpath "${packed_model}"
fi

# ESPnet's asr.sh numbers this stage 16 (its 15 uploads to Zenodo, not built here). Where asr.sh
# clones the hub repository and pushes it with git-lfs, huggingface_hub's create_repo and
# upload_folder do the same from the tree (a project choice: no git-lfs to install).
if run_stage 15 && [ "${skip_upload_hf}" = false ]; then
    [ -n "${hf_repo}" ] || { log "Error: stage 15 needs --hf_repo <org>/<name>"; exit 2; }
    hf_dir="${exp}/hf_upload"
    upload_opts=(); _mode="dry run: no upload"
    if [ "${hf_dry_run}" = false ]; then upload_opts=(--upload); _mode=upload; fi  # only if asked
    log "Stage 15: ${packed_model} -> ${hf_dir} -> ${hf_repo} (${_mode})"
    recipe upload --exp "${exp}" --packed "${packed_model}" --out "${hf_dir}" --hf_repo "${hf_repo}" \
        --target "${target}" --license "${hf_license}" --lang "${lang}" "${upload_opts[@]}"
fi

log "Successfully finished stages ${stage}-$(min "${stop_stage}" 15) in ${SECONDS} s"
exit
}
