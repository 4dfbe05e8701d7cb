"""Re-estimating BatchNorm statistics of a trained model (espnet2_ext.bin.bn_recalibrate)."""

import pytest
import torch
from context_tiny import config
from test_context_programs import train

from espnet2_ext.errors import DataError
from espnet2_ext.bin.bn_recalibrate import main, padded, recalibrate, sorted_batches
from espnet2_ext.tasks import ASRTask

CONFORMER = {"output_size": 16, "attention_heads": 2, "linear_units": 32, "num_blocks": 1, "input_layer": "linear",
             "use_cnn_module": True, "cnn_module_kernel": 3, "dropout_rate": 0.0}


def test_statistics_are_the_average_of_the_batch_statistics_and_the_rest_is_unchanged(tmp_path, capsys):
    conf = config("asr", encoder="conformer", encoder_conf=CONFORMER, batch_type="numel", batch_bins=40000)
    exp = train(tmp_path, ASRTask, conf, capsys, [])
    wav_scp = tmp_path / "data" / "wav.scp"
    model, _ = ASRTask.build_model_from_file(exp / "config.yaml", exp / "1epoch.pth", "cpu")
    norm = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d))
    means = []  # each batch's mean over (batch, time), which momentum=None averages
    norm.register_forward_pre_hook(lambda module, inputs: means.append(inputs[0].mean((0, 2))))
    model.eval()
    norm.train()
    batches = sorted_batches(wav_scp, 12000)
    # Lengths 3 x 4000, 3 x 4800, 2 x 5600 samples, sorted, at most 12000 padded samples a batch.
    assert [len(b) for b in batches] == [3, 2, 2, 1] and len({u for b in batches for u, _ in b}) == 8
    with torch.no_grad():
        for batch in batches:
            model.encode(*padded(batch))
    assert main([str(exp), "--checkpoint", "1epoch.pth", "--wav_scp", str(wav_scp), "--out", "recal.pth",
                 "--batch_bins", "12000"]) == 0
    assert "1 BatchNorm layers re-estimated over 4 batches" in capsys.readouterr().out
    before, after = torch.load(exp / "1epoch.pth"), torch.load(exp / "recal.pth")
    key = next(k for k in after if k.endswith("running_mean"))
    torch.testing.assert_close(after[key], torch.stack(means).mean(0), atol=1e-5, rtol=1e-4)
    assert not torch.allclose(before[key], after[key])
    assert all(torch.equal(before[k], after[k]) for k in before if "running" not in k and "num_batches" not in k)


def test_a_model_without_batchnorm_and_a_missing_file_are_one_line(tmp_path, capsys):
    with pytest.raises(DataError, match="Linear has no BatchNorm layer to recalibrate"):
        recalibrate(torch.nn.Linear(2, 2), [])
    (tmp_path / "config.yaml").write_text("{}")
    argv = [str(tmp_path), "--wav_scp", str(tmp_path / "wav.scp"), "--out", "x.pth", "--checkpoint", "absent.pth"]
    assert main(argv) == 1
    assert capsys.readouterr().err.strip() == f"ERROR: {tmp_path / 'absent.pth'}: no such file"
