#!/usr/bin/env bash
# Kaldi data dirs data/{train,devel,test} from SLUE-VoxPopuli as downloaded (the extracted
# slue-voxpopuli_v0.2_blind.zip at ${SLUE_VOXPOPULI}, db.sh; see README.md), its ogg files read in place.
# With VoxPopuli's English ASR release at ${VOXPOPULI} (optional), utt2rec ranks the true order of each
# session and data/<set>/neighbours/ holds the release's segments next to the set's (README.md, 1.5).
set -euo pipefail
[ $# -eq 0 ] || { echo "usage: $0 (no options: the corpus is \${SLUE_VOXPOPULI} of db.sh)" >&2; exit 2; }
. ./db.sh
[ -f "${SLUE_VOXPOPULI}/slue-voxpopuli_fine-tune.tsv" ] || {
    echo "$0: SLUE-VoxPopuli not found at ${SLUE_VOXPOPULI} (set SLUE_VOXPOPULI=...; see README.md)" >&2; exit 1; }
release=()
if [ -n "${VOXPOPULI:-}" ] && [ -f "${VOXPOPULI}/transcribed_data/en/asr_train.tsv" ]; then
    release=(--voxpopuli_dir "${VOXPOPULI}")
elif [ -n "${VOXPOPULI:-}" ]; then
    echo "$0: warning: no transcribed_data/en/asr_train.tsv in VOXPOPULI=${VOXPOPULI}: no neighbours/ from the release" >&2
fi
python3 -m espnet2_ext.corpora.slue_voxpopuli --corpus_dir "${SLUE_VOXPOPULI}" --outdir data ${release[@]+"${release[@]}"}
