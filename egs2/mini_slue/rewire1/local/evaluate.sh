#!/usr/bin/env bash
# The starting and the rewired upstream on mini_slue's test set (no training): the isotropy of their
# utterance vectors (espnet2_ext/rewire/isotropy.py), then query-by-example search on every layer,
# as the SCORE recipe evaluates (../score1/local/evaluate.sh): what the frames keep of the words.
#   local/evaluate.sh <starting upstream> <tuned upstream> <outdir>
#     -> <outdir>/isotropy_{start,tuned}.json, <outdir>/qbe_{start,tuned}.json
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 <starting upstream> <tuned upstream> <outdir>" >&2; exit 2; }
mkdir -p "$3"
python3 -m espnet2_ext.rewire.isotropy --upstream "$1" --data_dir dump/raw/test --out "$3/isotropy_start.json"
python3 -m espnet2_ext.rewire.isotropy --upstream "$2" --data_dir dump/raw/test --out "$3/isotropy_tuned.json"
"$(dirname "$0")/../../score1/local/evaluate.sh" "$@"
