#!/usr/bin/env bash
# Kaldi data dirs data/{train,devel,test} from SLUE-VoxCeleb as downloaded (the extracted
# slue-voxceleb_v0.2_blind.zip at ${SLUE_VOXCELEB}, db.sh; see README.md), its flac files read in place.
# With VoxCeleb1's wav/ at ${VOXCELEB1} (optional), utt2rec ranks all the utterances of each video and
# data/<set>/neighbours/ holds VoxCeleb1's utterances next to the set's (README.md, 1.5).
set -euo pipefail
trim=false  # true: cut each utterance to [start_second, end_second] (a segments file), as slue-toolkit does
. "$(dirname "$(readlink -f "$0")")/../../../TEMPLATE/asr1/parse_options.sh"
[ $# -eq 0 ] || { echo "usage: $0 [--trim true|false] (the corpus is \${SLUE_VOXCELEB} of db.sh)" >&2; exit 2; }
. ./db.sh
[ -f "${SLUE_VOXCELEB}/slue-voxceleb_fine-tune.tsv" ] || {
    echo "$0: SLUE-VoxCeleb not found at ${SLUE_VOXCELEB} (set SLUE_VOXCELEB=...; see README.md)" >&2; exit 1; }
release=()
if [ -n "${VOXCELEB1:-}" ] && [ -d "${VOXCELEB1}/wav" ]; then
    release=(--voxceleb1_dir "${VOXCELEB1}")
elif [ -n "${VOXCELEB1:-}" ]; then
    echo "$0: warning: no wav/ in VOXCELEB1=${VOXCELEB1}: no neighbours/ from VoxCeleb1" >&2
fi
python3 -m espnet2_ext.corpora.slue_voxceleb --corpus_dir "${SLUE_VOXCELEB}" --outdir data --trim "${trim}" \
    ${release[@]+"${release[@]}"}
