#!/usr/bin/env bash
# Kaldi data dirs data/{train_10h,train_1h,train_10min} from Libri-light's limited supervision sets
# (${LIBRILIGHT_LIMITED}/librispeech_finetuning/) and data/{dev_clean,dev_other,dev,test_clean,test_other}
# from LibriSpeech (${LIBRISPEECH}/LibriSpeech/), as downloaded (db.sh; see README.md), their flac
# files read in place; dev = dev-clean + dev-other as in ESPnet's recipe. With LibriSpeech's training
# splits there too, data/train_*/neighbours/ from them.
set -euo pipefail
[ $# -eq 0 ] || { echo "usage: $0 (no options: the corpora are \${LIBRILIGHT_LIMITED} and \${LIBRISPEECH} of db.sh)" >&2; exit 2; }
. ./db.sh
for dir in "${LIBRILIGHT_LIMITED}/librispeech_finetuning/9h" "${LIBRISPEECH}/LibriSpeech/test-clean"; do
    [ -d "${dir}" ] || { echo "$0: ${dir} not found (set LIBRILIGHT_LIMITED=... and LIBRISPEECH=...; see README.md)" >&2; exit 1; }
done
# The LibriSpeech training splits that are there give train_* their neighbours/ (see README.md).
neighbour_splits=()
for split in train-clean-100 train-clean-360 train-other-500; do
    if [ -d "${LIBRISPEECH}/LibriSpeech/${split}" ]; then
        neighbour_splits+=("${split}")
    fi
done
python3 -m espnet2_ext.corpora.librispeech --corpus_dir "${LIBRISPEECH}" --outdir data \
    --splits dev-clean dev-other test-clean test-other --librilight_dir "${LIBRILIGHT_LIMITED}" \
    ${neighbour_splits[@]+--neighbour_splits "${neighbour_splits[@]}"}
