import numpy as np
import pytest
import soundfile
import torch
from helpers import write_lines, write_sine

from espnet2_ext.errors import DataError
from espnet2_ext.ssl import labels
from espnet2_ext.upstream.architectures import ARCHITECTURES, build_architecture
from espnet2_ext.upstream.checkpoints import export_upstream


@pytest.mark.parametrize("n", [400, 401, 719, 720, 16000, 16319, 16320, 33333])
def test_mfcc_frames_are_the_cnn_frames(n):
    cnn = build_architecture("tiny", encoder_num_layers=1).feature_extractor
    _, cnn_len = cnn(torch.zeros(1, n), torch.tensor([n]))
    feats = labels.mfcc_features(np.random.default_rng(0).normal(size=n).astype(np.float32))
    assert feats.shape == (labels.cnn_frames(n), 39) == (int(cnn_len), 39)


def corpus(tmp_path, fs=16000):
    rng = np.random.default_rng(0)
    lines = []
    for i, n in enumerate([16000, 12000, 20000]):
        path = tmp_path / f"u{i}.flac"
        soundfile.write(path, 0.1 * rng.normal(size=n) * np.sin(np.arange(n) / 300.0), fs)
        lines.append(f"u{i} {path}")
    return write_lines(tmp_path / "wav.scp", lines)


def test_fit_apply_and_tokens_through_the_cli(tmp_path):
    scp = corpus(tmp_path)
    assert labels.main(["fit", "--n_clusters", "8", str(scp), str(tmp_path / "km.pkl")]) == 0
    assert labels.main(["apply", str(tmp_path / "km.pkl"), str(scp), str(tmp_path / "text")]) == 0
    rows = [line.split() for line in (tmp_path / "text").read_text().splitlines()]
    assert [r[0] for r in rows] == ["u0", "u1", "u2"]
    assert [len(r) - 1 for r in rows] == [labels.cnn_frames(n) for n in (16000, 12000, 20000)]
    assert {int(x) for r in rows for x in r[1:]} <= set(range(8))
    assert len({x for r in rows for x in r[1:]}) > 2
    assert labels.main(["tokens", "--n_clusters", "3", str(tmp_path / "tokens.txt")]) == 0
    assert (tmp_path / "tokens.txt").read_text().split() == ["0", "1", "2", "<unk>"]


def test_upstream_layer_features_for_the_second_iteration(tmp_path):
    scp = corpus(tmp_path)
    conf = dict(ARCHITECTURES["tiny"], encoder_num_layers=2)
    export_upstream(build_architecture("tiny", encoder_num_layers=2), conf, tmp_path / "up.pth", {})
    featurize = labels.make_featurizer(f"{tmp_path / 'up.pth'}:1")
    kmeans = labels.fit(scp, featurize, n_clusters=4, portion=1.0, seed=0)
    assert kmeans.cluster_centers_.shape == (4, 256)
    assert labels.apply(scp, featurize, kmeans, tmp_path / "text") == 3
    with pytest.raises(ValueError, match="--feature"):
        labels.make_featurizer("up.pth")


def test_wrong_rate_and_too_little_audio_name_the_file(tmp_path):
    write_sine(tmp_path / "a.wav", 16000)
    write_sine(tmp_path / "b.wav", 8000, fs=8000)
    scp = write_lines(tmp_path / "wav.scp", [f"a {tmp_path / 'a.wav'}", f"b {tmp_path / 'b.wav'}"])
    with pytest.raises(DataError, match=r"wav.scp:2: 'b' must be mono 16000 Hz, got 8000 Hz"):
        labels.fit(scp, labels.mfcc_features, n_clusters=2, portion=1.0, seed=0)
    one = write_lines(tmp_path / "one.scp", [f"a {tmp_path / 'a.wav'}"])
    with pytest.raises(DataError, match="too few for 100 clusters"):
        labels.fit(one, labels.mfcc_features, n_clusters=100, portion=1.0, seed=0)
