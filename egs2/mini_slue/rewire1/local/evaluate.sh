#!/usr/bin/env bash
# Isotropy of the utterance vectors of the starting and the rewired upstream on mini_slue's test set
# (no training; espnet2_ext/rewire/isotropy.py).
#   local/evaluate.sh <starting upstream> <tuned upstream> <outdir>  -> <outdir>/isotropy_{start,tuned}.json
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 <starting upstream> <tuned upstream> <outdir>" >&2; exit 2; }
mkdir -p "$3"
python3 -m espnet2_ext.rewire.isotropy --upstream "$1" --data_dir dump/raw/test --out "$3/isotropy_start.json"
python3 -m espnet2_ext.rewire.isotropy --upstream "$2" --data_dir dump/raw/test --out "$3/isotropy_tuned.json"
