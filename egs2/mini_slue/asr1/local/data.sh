#!/usr/bin/env bash
# Generate (or reuse, when cached with the same options) the synthetic mini_slue corpus:
# eSpeak NG recordings of 5-15 sentences, one voice each, into data/{train,dev,test}.
# --fsdd_train true also writes data/train_fsdd: data/train plus the connected-digit training
# utterances of fsdd_digits (real voices of its three training speakers, never its test speaker),
# more varied unlabelled speech for pretraining (ssl1: run.sh --train_set train_fsdd).
set -euo pipefail
size=default   # default (~1.3 h of training audio) or tiny (a few recordings, for tests)
seed=0
nj=2
train_recordings=   # numbers of recordings per split (override --size); recording i of a split
dev_recordings=     # is the same for every size, so a larger train set contains the smaller ones
test_recordings=
topic_share=0 # share of noun and entity slots that take their recording's topic words
              # (espnet2_ext/corpora/topics.py; README.md: "Context in the corpus")
fsdd_train=false
. "$(dirname "$(readlink -f "$0")")/../../../TEMPLATE/asr1/parse_options.sh"
. ./db.sh
counts=()
for split in train dev test; do
    n_var="${split}_recordings"
    [ -n "${!n_var}" ] && counts+=("--${split}_recordings" "${!n_var}")
done
audio_dir="${MINI_SLUE}/audio"
[ "${topic_share}" = 0 ] || audio_dir+="_topic${topic_share}"  # both corpora stay cached
python3 -m espnet2_ext.corpora.mini_slue --outdir data --audio_dir "${audio_dir}" \
    --size "${size}" --seed "${seed}" --nj "${nj}" --topic_share "${topic_share}" "${counts[@]}"
if "${fsdd_train}"; then
    python3 -m espnet2_ext.corpora.fsdd --fsdd_dir "${FSDD}" --outdir data/fsdd --audio_dir downloads/fsdd_digits \
        --size "${size}"
    python3 -m espnet2_ext.recipe.datadir combine data/train_fsdd data/train data/fsdd/train
fi
