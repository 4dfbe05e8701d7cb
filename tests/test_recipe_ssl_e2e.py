"""End to end: the pretraining recipe (egs2/mini_slue/ssl1) on a tiny corpus, two HuBERT
iterations (MFCC k-means, continuing the committed upstream; then k-means of the first model's
layer, warm-started from the first), and the exported upstream feeding the fine-tuning frontend."""

import pytest
import torch
from helpers import copy_recipes, run

from espnet2_ext.upstream.architectures import ARCHITECTURES
from espnet2_ext.upstream.checkpoints import REGULARISATION_KEYS, read_checkpoint
from espnet2_ext.upstream.frontend import SSLUpstreamFrontend

TINY = [
    "--local_data_opts", "--train_recordings 4 --dev_recordings 2 --test_recordings 1",
    "--n_iter", "2", "--n_clusters", "8", "--feature_layer", "2",
    "--train_configs", "conf/pretrain_it1.yaml conf/pretrain_it1.yaml",
    "--train_args", "--max_epoch 1 --batch_size 4",
    "--iter_train_args", "--num_iters_per_epoch 3;--num_iters_per_epoch 2",
    "--warm_start", "true",
    "--init_upstream", "pretrained/upstream.pth",  # pretraining longer than one run, in steps
    "--hf_repo", "test/tiny-hubert",  # the last stage: a transformers directory, dry run
]


def shape(config: dict) -> dict:
    """The architecture without its dropouts/layer drop (which fine-tuning may override)."""
    shaped = {k: v for k, v in config.items() if k not in REGULARISATION_KEYS}
    return {**shaped, "extractor_conv_layer_config": [list(c) for c in config["extractor_conv_layer_config"]]}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    egs2, env = copy_recipes(tmp_path_factory.mktemp("ssl_e2e"))
    path = egs2 / "mini_slue" / "ssl1"
    proc = run(["./run.sh", *TINY], path, env)
    return path, proc, env


def test_both_iterations_train_on_their_own_labels(pretrained):
    path, proc, _ = pretrained
    for iteration in (1, 2):
        labels = (path / f"dump/raw/train/text.km8_it{iteration}").read_text().splitlines()
        assert labels and all(int(x) < 8 for line in labels for x in line.split()[1:])
        assert (path / f"exp/hubert_km8_it{iteration}/upstream.pth").is_file()
    assert "k-means on exp/hubert_km8_it1/upstream.pth:2" in proc.stdout + proc.stderr


def test_each_iteration_starts_from_the_previous_upstream_with_its_own_options(pretrained):
    path, _, _ = pretrained
    for iteration in (1, 2):  # iteration 1 from --init_upstream, 2 from iteration 1 (--warm_start)
        assert f"Loading pretrained params from exp/hubert_km8_it{iteration}/init.pth" in \
            (path / f"exp/hubert_km8_it{iteration}/train.log").read_text()
    assert "1 epochs, 3 updates" in (path / "exp/hubert_km8_it1/summary.md").read_text()
    assert "1 epochs, 2 updates" in (path / "exp/hubert_km8_it2/summary.md").read_text()


def test_exported_upstream_is_the_tiny_architecture_and_feeds_the_frontend(pretrained):
    path, _, _ = pretrained
    upstream = path / "exp/hubert_km8_it2/upstream.pth"
    config, _ = read_checkpoint(upstream)
    assert shape(config) == shape(ARCHITECTURES["tiny"])  # what fine-tuning configs call "tiny"
    frontend = SSLUpstreamFrontend(weights=str(upstream)).eval()
    feats, lens = frontend(torch.randn(1, 16000), torch.tensor([16000]))
    assert feats.shape == (1, 49, 256) and lens.tolist() == [49]
    summary = (path / "exp/hubert_km8_it2/summary.md").read_text()
    assert "valid masked accuracy" in summary


def test_the_last_stage_lists_the_transformers_directory_it_would_upload(pretrained):
    path, proc, _ = pretrained
    tree = path / "exp/hubert_km8_it2/hf_upload"
    assert f"Dry run: the repository test/tiny-hubert would hold exp/hubert_km8_it2/hf_upload:" in proc.stdout
    assert {"config.json", "model.safetensors", "README.md"} <= {p.name for p in tree.iterdir()}
    assert 'AutoModel.from_pretrained("test/tiny-hubert")' in (tree / "README.md").read_text()
