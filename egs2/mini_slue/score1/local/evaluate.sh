#!/usr/bin/env bash
# Query-by-example spoken term detection on mini_slue's test set, on every layer of an upstream
# (SUPERB's QbE as s3prl scores it; no training): keywords of the test transcripts spoken by eSpeak
# NG voices that no test document uses, found in the test utterances.
#   local/evaluate.sh <starting upstream> <tuned upstream> <outdir>  -> <outdir>/qbe_{start,tuned}.json
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 <starting upstream> <tuned upstream> <outdir>" >&2; exit 2; }
qbe=dump/qbe_test
# 100 of the 114 keywords that qualify: the more queries, the tighter the bootstrap interval.
python3 -m espnet2_ext.corpora.mini_slue_qbe --data_dir dump/raw/test --spk2voice data/test/spk2voice \
    --num_queries 100 --outdir "${qbe}"
mkdir -p "$3"
python3 -m espnet2_ext.score.qbe_eval --upstream "$1" --qbe_dir "${qbe}" --out "$3/qbe_start.json"
python3 -m espnet2_ext.score.qbe_eval --upstream "$2" --qbe_dir "${qbe}" --out "$3/qbe_tuned.json"
