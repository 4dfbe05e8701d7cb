"""CTC feasibility at reduced frame rates: token counts, frame counts and the CLI."""

import torch

from espnet2_ext.upstream.downsample import build_downsampler
from espnet2_ext.fastinf.feasibility import (
    Infeasible,
    ctc_min_frames,
    encoder_frames,
    infeasible_utterances,
    main,
)
from espnet2_ext.upstream.architectures import ARCHITECTURES, build_architecture

CNN = ARCHITECTURES["hubert_base"]["extractor_conv_layer_config"]


def test_repeats_need_a_blank_between_them():
    assert ctc_min_frames([]) == 0
    assert ctc_min_frames(list("abc")) == 3
    assert ctc_min_frames(list("aaa")) == 5  # a _ a _ a
    assert ctc_min_frames(list("hello")) == 6


def test_encoder_frames_by_hand_and_as_torchaudios_cnn_counts_them():
    # 1 s, AV x4: (16000 + 4 - 12) // 4 + 1 = 3999 samples; CNN: 798, 398, 198, 98, 48, 24, 12
    av4 = build_downsampler("av", 4)
    assert encoder_frames(torch.tensor([16000]), CNN, av4).tolist() == [12]
    assert encoder_frames(torch.tensor([16000]), CNN, av4, upsample=2).tolist() == [24]
    samples = torch.tensor([400, 399, 16000, 12345])
    cnn = build_architecture("tiny", encoder_num_layers=1).feature_extractor
    _, lengths = cnn(torch.zeros(4, 16000), samples)
    assert encoder_frames(samples, CNN).tolist() == lengths.tolist() == [1, 0, 49, 38]
    assert encoder_frames(torch.tensor([100]), CNN, build_downsampler("cl", 2)).tolist() == [0]


def test_infeasible_utterances_on_a_constructed_case():
    tokens = {"short": list("abba"), "fits": list("abc"), "tight": list("aab")}
    frames = {"short": 4, "fits": 10, "tight": 4}
    assert infeasible_utterances(frames, tokens) == [Infeasible("short", 4, 5)]


def test_cli_lists_the_utterances_without_enough_frames(tmp_path, capsys):
    # 1 s at AV x4 gives 12 frames; "hello world" needs 11 chars + 1 repeat (ll) = 12.
    (tmp_path / "utt2num_samples").write_text("a 16000\nb 16000\nc 32000\n")
    (tmp_path / "text").write_text("a hello world\nb hello worlds\nc hello worlds\n")
    args = ["--num_samples", str(tmp_path / "utt2num_samples"), "--text", str(tmp_path / "text"),
            "--downsample", "av", "--factor", "4"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert out == "b 12 13\n"
    assert "1 of 3 utterances are CTC-infeasible with downsample=av x4 upsample=1" in err
    assert main(args + ["--upsample", "2"]) == 0
    assert capsys.readouterr().out == ""


def test_cli_names_a_missing_length(tmp_path, capsys):
    (tmp_path / "utt2num_samples").write_text("a 16000\n")
    (tmp_path / "text").write_text("a hi\nb ho\n")
    assert main(["--num_samples", str(tmp_path / "utt2num_samples"), "--text", str(tmp_path / "text")]) == 1
    assert "utt2num_samples: no length for 1 utterances" in capsys.readouterr().err
