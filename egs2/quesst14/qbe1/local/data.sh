#!/usr/bin/env bash
# QbE dirs data/{dev,eval} (documents in data/docs) from QUESST 2014 as downloaded (the extracted
# quesst14Database.tgz at ${QUESST14}, db.sh; see README.md), its 8 kHz wav files read in place.
#   local/data.sh [--language nnenglish|all|<language>]   (default nnenglish: SUPERB's English subset)
set -euo pipefail
[ $# -eq 0 ] || { [ $# -eq 2 ] && [ "$1" = --language ]; } || {
    echo "usage: $0 [--language nnenglish|all|<language>] (the corpus is \${QUESST14} of db.sh)" >&2; exit 2; }
. ./db.sh
[ -f "${QUESST14}/scoring/language_key_utterances.lst" ] || {
    echo "$0: QUESST 2014 not found at ${QUESST14} (set QUESST14=...; see README.md)" >&2; exit 1; }
python3 -m espnet2_ext.corpora.quesst14 --corpus_dir "${QUESST14}" --outdir data "$@"
