"""Kill and resume of the trainings that tune an upstream: HuBERT pretraining, SCORE and rewiring,
each with its recipe's config shrunk to a tiny random upstream. Each draws random perturbations
per update (HuBERT: masks, crops and layer drop; SCORE: speed and pitch and which view the student
sees; rewiring: twin spans and the coin between the twin and the neutral view), which a resumed run
must draw again as the uninterrupted run did: killed with SIGKILL in the middle of epoch 2 and run
again, each ends with the model of a run never interrupted, bit for bit (on CPU)."""

from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
import pytest
import yaml
from context_tiny import TINY_FRONTEND
from helpers import ROOT, write_lines
from killed_training import check_killed_run_resumes
from train_tiny import UTTS, data_options, run_options, tiny_data

from espnet2_ext.bin import hubert_train, rewire_train, score_train
from espnet2_ext.ssl.labels import cnn_frames, write_tokens
from espnet2_ext.upstream.checkpoints import REGULARISATION_KEYS

RECIPES = ROOT / "egs2/mini_slue"
UPDATES_PER_EPOCH = 2  # --num_iters_per_epoch, as the recipes count their epochs
CLUSTERS = 8
# Dropout on in the tuned upstream: one more random draw per update.
UPSTREAM = {**TINY_FRONTEND, "arch_conf": {**TINY_FRONTEND["arch_conf"], "encoder_dropout": 0.1}}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """tiny_data's recordings, with HuBERT's per-frame cluster labels and their token list."""
    data = tiny_data(tmp_path_factory.mktemp("tuning_resume"))
    rng = np.random.RandomState(0)
    lengths = dict(line.split() for line in (data / "speech_shape").read_text().splitlines())
    labels = {utt: rng.randint(CLUSTERS, size=cnn_frames(int(lengths[utt]))) for utt in UTTS}
    write_lines(data / "text.km", [f"{utt} {' '.join(map(str, labels[utt]))}" for utt in UTTS])
    write_lines(data / "text_shape.km", [f"{utt} {len(labels[utt])},{CLUSTERS + 1}" for utt in UTTS])
    write_tokens(CLUSTERS, data / "tokens.km.txt")
    return data


def recipe_config(name: str, **changes) -> dict:
    """A recipe's training config, top-level entries replaced by ``changes``."""
    return {**yaml.safe_load((RECIPES / name).read_text()), **changes}


def hubert_config() -> dict:
    """ssl1's first-iteration config, its encoder the tiny upstream's shape (regularisation kept)."""
    conf = recipe_config("ssl1/conf/pretrain_it1.yaml")
    shape = {k: v for k, v in TINY_FRONTEND["arch_conf"].items() if k not in REGULARISATION_KEYS}
    return {**conf, "encoder_conf": {**conf["encoder_conf"], **shape, "final_dim": 8, "mask_length": 2}}


def score_config() -> dict:
    conf = recipe_config("score1/conf/train_score.yaml")
    upstream = {**UPSTREAM, "arch_conf": {**UPSTREAM["arch_conf"], "encoder_num_layers": 2}}
    return {**conf, "frontend_conf": upstream,
            "model_conf": {**conf["model_conf"], "trainable_layers": 1, "projection_dim": 8}}


def rewire_config() -> dict:
    conf = recipe_config("rewire1/conf/train_rewire.yaml")
    return {**conf, "frontend_conf": UPSTREAM, "model_conf": {**conf["model_conf"], "positive": "mixed"}}


def speech(data: Path) -> List[str]:
    return [f"{data / 'wav.scp'},speech,sound"]


# Per method: its training program, config, and the inputs the stage script gives it (rewiring's
# neutral view is any other recording of the utterance: here the recording itself).
METHODS: Dict[str, tuple] = {
    "hubert": (hubert_train.main, hubert_config, lambda data: [
        *data_options([*speech(data), f"{data / 'text.km'},text,text"],
                      [data / "speech_shape", data / "text_shape.km"]),
        "--token_type", "word", "--token_list", str(data / "tokens.km.txt"), "--num_classes", str(CLUSTERS),
        "--fold_length", "80000", "--fold_length", "150"]),
    "score": (score_train.main, score_config, lambda data: data_options(speech(data), [data / "speech_shape"])),
    "rewire": (rewire_train.main, rewire_config, lambda data: data_options(
        [*speech(data), f"{data / 'wav.scp'},neutral_speech,sound"], [data / "speech_shape"])),
}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_tuning_killed_mid_epoch_resumes_to_the_uninterrupted_model(method, data, tmp_path):
    main, config, inputs = METHODS[method]
    (tmp_path / "conf.yaml").write_text(yaml.safe_dump(config()))

    def options(output_dir: Path) -> List[str]:
        return [*run_options(tmp_path / "conf.yaml", output_dir), "--num_iters_per_epoch", str(UPDATES_PER_EPOCH),
                *inputs(data)]

    check_killed_run_resumes(main, options, tmp_path, UPDATES_PER_EPOCH)
