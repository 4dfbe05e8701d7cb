"""Rewiring's model, loss, twin view, task config, TTS positives and isotropy: NT-Xent against a
hand computation, the twin's span bounds, what trains, bad settings and inputs named."""

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from helpers import SMALL_UPSTREAM as SMALL, noise_batch as batch, small_frontend

from espnet2_ext.rewire import isotropy as iso
from espnet2_ext.rewire.model import RewireModel, nt_xent, pool, twin_view
from espnet2_ext.rewire.plugin import data_inputs
from espnet2_ext.rewire.task import _check_group_size
from espnet2_ext.rewire.tts import synthesize_dir
from espnet2_ext.tasks import RewireTask

RECIPE = Path(__file__).resolve().parents[1] / "egs2/mini_slue/rewire1"


def test_nt_xent_equals_a_hand_computation():
    anchors = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    positives = torch.tensor([[1.0, 1.0], [-1.0, 1.0]])
    tau = 0.5
    z = [torch.tensor(v) / math.hypot(*v) for v in ([1, 0], [0, 1], [1, 1], [-1, 1])]
    partner = {0: 2, 1: 3, 2: 0, 3: 1}
    expected = 0.0
    for i in range(4):  # -log softmax of the partner over every other vector
        logits = {j: float(z[i] @ z[j]) / tau for j in range(4) if j != i}
        expected -= logits[partner[i]] - math.log(sum(math.exp(v) for v in logits.values()))
    assert nt_xent(anchors, positives, tau).item() == pytest.approx(expected / 4, rel=1e-6)


def test_nt_xent_is_low_for_matching_pairs_and_high_for_swapped_ones():
    vectors = torch.eye(4)
    assert nt_xent(vectors, vectors, 0.04) < 1e-6
    assert nt_xent(vectors, vectors.roll(1, 0), 0.04) > 10


def test_the_twin_zeroes_one_span_of_a_fifth_inside_the_papers_bounds():
    lengths = torch.tensor([1000, 555, 10])
    wave = torch.ones(3, 1000)
    starts = set()
    for seed in range(200):
        twin, twin_lengths = twin_view(wave, lengths, torch.Generator().manual_seed(seed))
        assert torch.equal(twin_lengths, lengths)
        for b, n in enumerate(lengths.tolist()):
            zeros = (twin[b, :n] == 0).nonzero().flatten()
            span = n // 5
            assert len(zeros) == span and torch.equal(zeros, torch.arange(zeros[0], zeros[0] + span))
            assert 0 <= zeros[0] <= 4 * span - 2
            if b == 0:
                starts.add(int(zeros[0]))
    assert min(starts) < 50 and max(starts) > 700  # uniform over [0, 798]
    assert torch.equal(wave, torch.ones(3, 1000))  # the input is left alone


def test_pooling_averages_the_valid_frames_only():
    feats = torch.tensor([[[1.0], [3.0], [100.0]], [[2.0], [4.0], [6.0]]])
    assert torch.equal(pool(feats, torch.tensor([2, 3])), torch.tensor([[2.0], [4.0]]))


def test_the_whole_upstream_learns_and_the_loss_is_seeded():
    model = RewireModel(small_frontend()).train()
    torch.manual_seed(3)
    loss, stats, weight = model(*batch())
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    assert weight.item() == 3 and loss.item() > 0 and -1 <= stats["pos_cos"] <= 1
    model.eval()
    again = []
    for _ in range(2):
        torch.manual_seed(3)
        again.append(model(*batch())[0].item())
    assert again[0] == again[1]


def test_neutral_positives_are_read_and_required():
    model = RewireModel(small_frontend(), positive="neutral").eval()
    speech, lengths = batch()
    neutral, neutral_lengths = batch((8000, 14000, 10000))
    loss, _, _ = model(speech, lengths, neutral_speech=neutral, neutral_speech_lengths=neutral_lengths)
    assert loss.item() > 0
    with pytest.raises(ValueError, match="positive=neutral needs the neutral TTS speech"):
        model(speech, lengths)
    mixed = RewireModel(small_frontend(), positive="mixed").eval()
    assert mixed(speech, lengths, neutral_speech=neutral, neutral_speech_lengths=neutral_lengths)[0].item() > 0


@pytest.mark.parametrize("kwargs, frontend_kwargs, message", [
    ({"positive": "tts"}, {}, "model_conf.positive must be one of"),
    ({"temperature": 0.0}, {}, "model_conf.temperature must be positive"),
    ({}, {"weighted_sum": True}, "drop frontend_conf layer/weighted_sum"),
    ({}, {"freeze_cnn": True}, "trains the whole upstream: drop frontend_conf"),
])
def test_settings_that_do_not_fit_name_themselves(kwargs, frontend_kwargs, message):
    with pytest.raises(ValueError, match=message.replace("/", ".")):
        RewireModel(small_frontend(**frontend_kwargs), **kwargs)


def test_a_group_of_one_and_a_group_larger_than_the_data_are_named(tmp_path):
    with pytest.raises(ValueError, match="at least 2 utterances per batch"):
        RewireModel(small_frontend())(*batch((16000,)))
    shapes = tmp_path / "speech_shape"
    shapes.write_text("a 16000\nb 12000\nc 9000\n")
    with pytest.raises(ValueError, match=f"batch_size 4 .* larger than the 3 training utterances of {shapes}"):
        _check_group_size(str(shapes), 4)
    _check_group_size(str(shapes), 3)


def test_the_task_builds_the_shipped_cpu_config(tmp_path, monkeypatch):
    monkeypatch.chdir(RECIPE)
    args = RewireTask.get_parser().parse_args(["--config", "conf/train_rewire.yaml", "--output_dir", str(tmp_path)])
    model = RewireTask.build_model(args)
    assert isinstance(model, RewireModel) and (model.positive, model.temperature, args.batch_size) == ("twin", 0.04, 4)
    assert all(p.requires_grad for p in model.parameters())
    assert "neutral_speech" in RewireTask.optional_data_names()


def write_text(data_dir: Path, lines: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "text").write_text(lines, encoding="utf-8")


def test_tts_positives_match_their_transcripts_ids_and_a_rerun_resumes(tmp_path):
    data = tmp_path / "train"
    write_text(data, "u1 the vote was a success\nu2 hello there\n")
    scp = synthesize_dir(data)
    entries = dict(line.split() for line in scp.read_text().splitlines())
    assert list(entries) == ["u1", "u2"]
    audio = {u: soundfile.read(p) for u, p in entries.items()}
    assert all(rate == 16000 and len(samples) > 8000 for samples, rate in audio.values())
    assert len(audio["u1"][0]) > len(audio["u2"][0])  # the longer sentence takes longer to say
    mtime = Path(entries["u1"]).stat().st_mtime_ns
    synthesize_dir(data)
    assert Path(entries["u1"]).stat().st_mtime_ns == mtime  # not synthesised again


@pytest.mark.parametrize("text, message", [
    ("u1 hello\nu2\n", r"text:2: empty transcript for 'u2'"),
    ("u1 hello\nu2 ...\n", r"text:2: eSpeak NG rendered '\.\.\.' as \d+ samples"),
])
def test_transcripts_espeak_cannot_render_are_named(tmp_path, text, message):
    write_text(tmp_path / "d", text)
    with pytest.raises(ValueError, match=message):
        synthesize_dir(tmp_path / "d")


def test_the_plugin_adds_tts_inputs_only_for_the_positives_that_read_them(tmp_path):
    data = tmp_path / "train"
    write_text(data, "u1 hello there\n")
    twin = {"model": "rewire", "model_conf": {"positive": "twin"}}
    assert data_inputs(twin, data, True, True) is None
    assert data_inputs({"model": "espnet"}, data, True, True) is None
    neutral = {"model": "rewire", "model_conf": {"positive": "mixed"}}
    assert data_inputs(neutral, data, True, True) == [
        (str(data / "wav.scp"), "speech", "sound"), (str(data / "neutral.scp"), "neutral_speech", "sound")]
    assert (data / "neutral.scp").is_file()


def test_isotropy_and_average_cosine_against_hand_computed_values():
    spread = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 3.0], [0.0, -3.0]])  # normalised: +-e1, +-e2
    assert iso.isotropy(spread) == pytest.approx(1.0)
    assert iso.average_cosine(spread) == pytest.approx(-1 / 3)  # 4 pairs of -1, 8 of 0, over 12
    one_direction = torch.tensor([[2.0, 0.0]] * 5)
    # eigenvectors +-e1, +-e2: Z(e1) = 5e, Z(-e1) = 5/e, Z(+-e2) = 5, so I = (5/e) / (5e)
    assert iso.isotropy(one_direction) == pytest.approx(math.exp(-2))
    assert iso.average_cosine(one_direction) == pytest.approx(1.0)
    assert iso.isotropy(1e4 * torch.randn(50, 8)) > 0  # no overflow: computed in the log domain


def test_isotropy_of_an_upstream_on_a_data_dir_and_its_bad_input(tmp_path, capsys):
    from espnet2_ext.upstream.checkpoints import export_upstream, upstream_config
    upstream = tmp_path / "u.pth"
    export_upstream(small_frontend().upstream, upstream_config("random", "tiny", SMALL), upstream, {"source": "test"})
    data = tmp_path / "test"
    data.mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for i in range(3):
        soundfile.write(data / f"u{i}.wav", 0.1 * rng.standard_normal(8000 + 1000 * i), 16000)
        lines.append(f"u{i} {data / f'u{i}.wav'}\n")
    (data / "wav.scp").write_text("".join(lines))
    out = tmp_path / "iso.json"
    assert iso.main(["--upstream", str(upstream), "--data_dir", str(data), "--out", str(out)]) == 0
    result = __import__("json").loads(out.read_text())
    assert result["num_utterances"] == 3 and 0 < result["pooled"]["isotropy"] <= 1
    soundfile.write(data / "u1.wav", np.zeros(8000), 8000)
    assert iso.main(["--upstream", str(upstream), "--data_dir", str(data), "--out", str(out)]) == 1
    assert capsys.readouterr().err.strip() == \
        f"ERROR: {data}/wav.scp:2: 8000 Hz audio: the upstreams take 16000 Hz (format the data dir first)"
