#!/usr/bin/env bash
# Task metrics after the stock WER/CER scoring: local/score.sh --metric ner|sentiment <ref> <decode_dir>
#   ner:       SLUE NER micro F1 and label-F1 (the stock WER/CER already drop the tags)
#   sentiment: macro-F1 / macro-recall over Negative, Neutral, Positive
set -euo pipefail
metric=
. "$(dirname "$(readlink -f "$0")")/../../../TEMPLATE/asr1/parse_options.sh"
[ $# -eq 2 ] || { echo "usage: $0 --metric ner|sentiment <ref_text> <decode_dir>" >&2; exit 2; }
ref=$1; dir=$2
case "${metric}" in
    ner)
        python3 -m espnet2_ext.corpora.slue_metrics ner --ref "${ref}" --hyp "${dir}/text" \
            --outdir "${dir}/score_ner" ;;
    sentiment)
        python3 -m espnet2_ext.corpora.slue_metrics sentiment --ref "${ref}" --hyp "${dir}/text" \
            --outdir "${dir}/score_sentiment" ;;
    "") ;;
    *) echo "$0: unknown --metric ${metric}" >&2; exit 2 ;;
esac
