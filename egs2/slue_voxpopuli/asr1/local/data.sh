#!/usr/bin/env bash
# Kaldi data dirs data/{train,devel,test} from SLUE-VoxPopuli as downloaded (the extracted
# slue-voxpopuli_v0.2_blind.zip at ${SLUE_VOXPOPULI}, db.sh; see README.md), its ogg files read in place.
set -euo pipefail
[ $# -eq 0 ] || { echo "usage: $0 (no options: the corpus is \${SLUE_VOXPOPULI} of db.sh)" >&2; exit 2; }
. ./db.sh
[ -f "${SLUE_VOXPOPULI}/slue-voxpopuli_fine-tune.tsv" ] || {
    echo "$0: SLUE-VoxPopuli not found at ${SLUE_VOXPOPULI} (set SLUE_VOXPOPULI=...; see README.md)" >&2; exit 1; }
python3 -m espnet2_ext.corpora.slue_voxpopuli --corpus_dir "${SLUE_VOXPOPULI}" --outdir data
