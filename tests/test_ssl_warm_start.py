"""Warm start of a HuBERT iteration from the previous one's exported encoder (ssl.warm_start)."""

import torch
from espnet2.torch_utils.load_pretrained_model import load_pretrained_model
from test_upstream_checkpoints import tiny_hubert_pretrain_model

from espnet2_ext.ssl.warm_start import main
from espnet2_ext.upstream.architectures import ARCHITECTURES
from espnet2_ext.upstream.checkpoints import export_upstream, load_upstream


def test_the_encoder_is_carried_over_and_the_new_targets_head_is_not(tmp_path):
    torch.manual_seed(0)
    previous = load_upstream("random", "tiny", {"encoder_num_layers": 2})
    export_upstream(previous, dict(ARCHITECTURES["tiny"], encoder_num_layers=2), tmp_path / "up.pth", {})
    assert main([str(tmp_path / "up.pth"), str(tmp_path / "init.pth")]) == 0

    # The hubert task's model holds the torchaudio pretraining model at this path.
    model = torch.nn.Module()
    model.encoder = torch.nn.Module()
    model.encoder.hubert_pretrain_model = tiny_hubert_pretrain_model(num_layers=2)
    head_before = {k: v.clone() for k, v in model.encoder.hubert_pretrain_model.state_dict().items()
                   if not k.startswith("wav2vec2.")}  # projection and cluster embeddings
    load_pretrained_model(str(tmp_path / "init.pth"), model, ignore_init_mismatch=False)

    loaded = model.encoder.hubert_pretrain_model
    for name, value in previous.state_dict().items():
        torch.testing.assert_close(loaded.wav2vec2.state_dict()[name], value)
    head_after = {k: v for k, v in loaded.state_dict().items() if not k.startswith("wav2vec2.")}
    assert head_before and head_after.keys() == head_before.keys()
    for name, value in head_before.items():  # fresh for the new clusters
        torch.testing.assert_close(head_after[name], value)


def test_only_an_exported_upstream_is_accepted(tmp_path, capsys):
    torch.save({"x": torch.zeros(1)}, tmp_path / "other.pth")
    assert main([str(tmp_path / "other.pth"), str(tmp_path / "init.pth")]) == 1
    assert "other.pth: not an exported upstream" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.pth"), str(tmp_path / "init.pth")]) == 1
    assert not (tmp_path / "init.pth").exists()
