"""CTC output upsampling: a post-encoder giving r CTC frames per encoder frame."""

import espnet2.tasks.asr as asr_task
import pytest
import torch
import yaml

from espnet2_ext.fastinf.upsample import CTCUpsampler
from espnet2_ext.tasks import ASRTask


def test_shapes_lengths_and_an_untrained_upsampler_repeats_frames():
    up = CTCUpsampler(input_size=8, factor=3)
    x = torch.randn(2, 5, 8)
    y, lens = up(x, torch.tensor([5, 2]))
    assert y.shape == (2, 15, 8) and lens.tolist() == [15, 6] and up.output_size() == 8
    torch.testing.assert_close(y, x.repeat_interleave(3, dim=1))
    with pytest.raises(ValueError, match=">= 2"):
        CTCUpsampler(input_size=8, factor=1)


def test_sub_frames_come_from_their_own_rows():
    up = CTCUpsampler(input_size=2, factor=2)
    with torch.no_grad():
        up.proj.weight.copy_(torch.tensor([[1.0, 0], [0, 1], [2, 0], [0, 2]]))
    y, _ = up(torch.tensor([[[1.0, 2.0], [3.0, 4.0]]]), torch.tensor([2]))
    assert y.tolist() == [[[1, 2], [2, 4], [3, 4], [6, 8]]]  # frame 1, its double, frame 2, ...


def test_registered_for_asr():
    for task in (asr_task,):
        assert task.postencoder_choices.get_class("ctc_upsample") is CTCUpsampler


def test_asr_model_ctc_sees_r_frames_per_downsampled_frame(tmp_path):
    conf = {
        "frontend": "ssl_upstream",
        "frontend_conf": {"arch": "tiny", "arch_conf": {"encoder_num_layers": 1},
                          "downsample": "av", "downsample_factor": 4},
        "encoder": "linear",
        "encoder_conf": {"output_size": 256, "input_layer": None},
        "postencoder": "ctc_upsample",
        "postencoder_conf": {"factor": 2},
        "decoder": "none",
        "model_conf": {"ctc_weight": 1.0},
    }
    (tmp_path / "conf.yaml").write_text(yaml.safe_dump(conf))
    (tmp_path / "tokens.txt").write_text("<blank>\n<unk>\na\nb\n<sos/eos>\n")
    args = ASRTask.get_parser().parse_args(
        ["--config", str(tmp_path / "conf.yaml"), "--token_list", str(tmp_path / "tokens.txt"),
         "--output_dir", str(tmp_path / "exp")]
    )
    model = ASRTask.build_model(args).eval()
    speech, lengths = torch.randn(2, 16000), torch.tensor([16000, 12000])
    with torch.no_grad():
        frames, frame_lens = model.frontend(speech, lengths)
        out, out_lens = model.encode(speech, lengths)
    assert frame_lens.tolist() == [12, 9]  # 1 s at 12.5 Hz
    assert out.shape[:2] == (2, 24) and out_lens.tolist() == [24, 18]
    # 20 tokens fit in 24 upsampled frames but not in 12 frames
    text = torch.tensor([[2, 3] * 10, [3, 2] * 8 + [-1] * 4])
    loss, _, _ = model(speech=speech, speech_lengths=lengths, text=text, text_lengths=torch.tensor([20, 16]))
    assert torch.isfinite(loss)
