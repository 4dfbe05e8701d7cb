#!/usr/bin/env bash
# Kaldi data dirs data/{train_clean_100,dev_clean,dev_other,dev,test_clean,test_other} from LibriSpeech
# as downloaded (${LIBRISPEECH}/LibriSpeech/<split>/, db.sh; see README.md), its flac files read in
# place; dev = dev-clean + dev-other as in ESPnet's recipe; text.phn = eSpeak NG's phonemes (target phn).
set -euo pipefail
[ $# -eq 0 ] || { echo "usage: $0 (no options: the corpus is \${LIBRISPEECH}/LibriSpeech of db.sh)" >&2; exit 2; }
. ./db.sh
if [ ! -d "${LIBRISPEECH}/LibriSpeech/train-clean-100" ]; then
    echo "$0: LibriSpeech's train-clean-100 not found in ${LIBRISPEECH}/LibriSpeech (set LIBRISPEECH=...; see README.md)" >&2
    exit 1
fi
python3 -m espnet2_ext.corpora.librispeech --corpus_dir "${LIBRISPEECH}" --outdir data --phonemes true \
    --splits train-clean-100 dev-clean dev-other test-clean test-other
