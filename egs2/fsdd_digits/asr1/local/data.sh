#!/usr/bin/env bash
# Build connected-digit utterances (3-7 digits of one speaker, short pauses) from FSDD, read in
# place from ${FSDD} (db.sh), into data/{train,dev,test}; the test speaker is never trained on.
set -euo pipefail
size=default          # default or tiny (a few utterances, for tests)
test_speaker=nicolas  # held-out speaker
seed=0
. "$(dirname "$(readlink -f "$0")")/../../../TEMPLATE/asr1/parse_options.sh"
. ./db.sh
[ -d "${FSDD}/recordings" ] || { echo "$0: FSDD not found at ${FSDD} (set FSDD=...)" >&2; exit 1; }
python3 -m espnet2_ext.corpora.fsdd --fsdd_dir "${FSDD}" --outdir data --audio_dir downloads/audio \
    --test_speaker "${test_speaker}" --seed "${seed}" --size "${size}"
