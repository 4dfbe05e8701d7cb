"""The pretraining recipe's data option: mini_slue's training set plus fsdd_digits' training
utterances as more varied unlabelled speech (data/train_fsdd), never fsdd's test speaker."""

from pathlib import Path

import pytest
from helpers import copy_recipes, run

from espnet2_ext.recipe import datadir

FSDD_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"


@pytest.mark.skipif(not (FSDD_DIR / "recordings").is_dir(), reason="FSDD not found")
def test_train_fsdd_is_mini_slue_train_plus_the_fsdd_training_speakers(tmp_path):
    egs2, env = copy_recipes(tmp_path)
    path = egs2 / "mini_slue" / "ssl1"
    options = ["--train_recordings", "2", "--dev_recordings", "1", "--test_recordings", "1", "--fsdd_train", "true"]
    for _ in range(2):  # re-running the stage is safe
        run(["local/data.sh", "--size", "tiny", *options], path, {**env, "FSDD": str(FSDD_DIR)})
    mini_slue, fsdd = (datadir.load_datadir(path / "data" / d) for d in ("train", "fsdd/train"))
    combined = datadir.load_datadir(path / "data/train_fsdd")
    assert set(combined["utt2spk"].values) == set(mini_slue["utt2spk"].values) | set(fsdd["utt2spk"].values)
    assert set(fsdd["utt2spk"].values.values()) == {"george", "jackson", "lucas"}  # not nicolas (test)
    for utt in fsdd["utt2spk"].values:  # each digit utterance one whole-file segment
        assert combined["segments"].values[utt].startswith(f"{utt} 0.000 ")
    assert datadir.validate(path / "data/train_fsdd")["utterances"] == len(combined["utt2spk"].values)
