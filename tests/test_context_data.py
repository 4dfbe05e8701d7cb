"""Data files of the context systems (espnet2_ext.context.data)."""

from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml
from helpers import write_lines

from espnet2_ext.errors import DataError
from espnet2_ext.context.data import ContextSpec, inputs_for, spec_from_config
from espnet2_ext.kaldi_files import NEIGHBOUR_DIR
from espnet2_ext.recipe.data_inputs import main

# Recording A: a0 a1 a2 (a3 was filtered out); recording B: b0 alone. Lengths in samples.
LENGTHS = {"a0": 1000, "a1": 2000, "a2": 1500, "b0": 800}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "dump" / "train"
    data.mkdir(parents=True)
    for i, (utt, n) in enumerate(LENGTHS.items()):
        soundfile.write(data / f"{utt}.flac", np.full(n, (i + 1) / 10), 16000, subtype="PCM_16")
    write_lines(data / "wav.scp", [f"{u} {data / u}.flac" for u in LENGTHS])
    write_lines(data / "utt2rec", ["a0 A 0", "a1 A 1", "a2 A 2", "b0 B 0"])
    return data


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_spec_from_config():
    assert spec_from_config({"frontend": "ssl_upstream"}) == ContextSpec("standard")
    assert spec_from_config({"model": "ctx_aware"}) == ContextSpec("neighbours", (-1, 1))
    conf = {"model": "ctx_aware", "model_conf": {"context_source": "batch", "context_offsets": [-2, -1, 1, 2]}}
    assert spec_from_config(conf) == ContextSpec("batch", (-2, -1, 1, 2))
    assert spec_from_config({"model": "ctx_aware", "model_conf": {"context_source": "none"}}).kind == "standard"
    inject = {"frontend": "ssl_upstream_inject", "frontend_conf": {"context_offsets": [1, -1, -2]}}
    assert spec_from_config(inject) == ContextSpec("inject", (-2, -1, 1))
    with pytest.raises(DataError, match="contiguous"):
        spec_from_config({"frontend": "ssl_upstream_inject", "frontend_conf": {"context_offsets": [-2, 1]}})


def test_mode_a_neighbour_scps_use_the_segment_itself_where_the_neighbour_is_missing(data_dir, capsys):
    conf = write_config(data_dir.parent / "c.yaml", "model: ctx_aware\n")
    argv = ["--config", str(conf), "--data_dir", str(data_dir), "--option", "train_data_path_and_name_and_type"]
    assert main(argv + ["--training", "--write"]) == 0
    folder = data_dir / "context" / "neighbours_m1_p1"
    wav = lambda u: f"{data_dir / u}.flac"  # noqa: E731
    assert (folder / "speech_prev.scp").read_text().split("\n")[:4] == [
        f"a0 {wav('a0')}", f"a1 {wav('a0')}", f"a2 {wav('a1')}", f"b0 {wav('b0')}"]
    assert (folder / "speech_next.scp").read_text().split("\n")[2] == f"a2 {wav('a2')}"
    assert (folder / "ctx_mask").read_text() == "a0 0 1\na1 1 1\na2 1 0\nb0 0 0\n"
    assert capsys.readouterr().out.split() == [
        f"--train_data_path_and_name_and_type={data_dir}/wav.scp,speech,sound",
        f"--train_data_path_and_name_and_type={folder}/speech_prev.scp,speech_prev,sound",
        f"--train_data_path_and_name_and_type={folder}/speech_next.scp,speech_next,sound",
        f"--train_data_path_and_name_and_type={folder}/ctx_mask,ctx_mask,text_int",
        f"--train_data_path_and_name_and_type={data_dir}/context/utt2pos,utt2pos,text_int",
    ]
    assert (data_dir / "context" / "utt2pos").read_text() == "a0 0 0\na1 0 1\na2 0 2\nb0 1 0\n"
    # Validation and decoding read speech only.
    assert main(argv) == 0 and capsys.readouterr().out.split() == [
        f"--train_data_path_and_name_and_type={data_dir}/wav.scp,speech,sound"]


def test_mode_b_positions(data_dir, capsys):
    conf = write_config(data_dir.parent / "c.yaml", "model: ctx_aware\nmodel_conf:\n  context_source: batch\n")
    assert main(["--config", str(conf), "--data_dir", str(data_dir), "--option", "x", "--training", "--write"]) == 0
    assert (data_dir / "context" / "utt2pos").read_text() == "a0 0 0\na1 0 1\na2 0 2\nb0 1 0\n"
    assert capsys.readouterr().out.split()[-1] == f"--x={data_dir}/context/utt2pos,utt2pos,text_int"


def test_injected_audio_holds_contiguous_neighbours_and_the_segment_mask(data_dir):
    spec = ContextSpec("inject", (-2, -1, 1))
    conf = write_config(data_dir.parent / "c.yaml",
                        "frontend: ssl_upstream_inject\nfrontend_conf:\n  context_offsets: [-2, -1, 1]\n"
                        "  weights: random\n  arch: tiny\n")
    assert main(["--config", str(conf), "--data_dir", str(data_dir), "--option", "x", "--write"]) == 0
    (path, name, kind), = inputs_for(spec, data_dir, training=False)
    assert (name, kind) == ("speech", "sound")
    scp = dict(line.split() for line in Path(path).read_text().splitlines())
    for utt, (before, after) in {"a0": ([], ["a1"]), "a1": (["a0"], ["a2"]), "a2": (["a0", "a1"], []),
                                 "b0": ([], [])}.items():
        audio, rate = soundfile.read(scp[utt])
        assert rate == 16000 and audio.shape[1] == 2
        left = sum(LENGTHS[u] for u in before)
        left -= left % 320  # trimmed so that the segment starts on the frame grid
        inside = np.nonzero(audio[:, 1] > 0.5)[0]
        assert (inside[0], len(inside)) == (left, LENGTHS[utt])
        assert len(audio) == left + LENGTHS[utt] + sum(LENGTHS[u] for u in after)
        level = (list(LENGTHS).index(utt) + 1) / 10
        assert np.allclose(audio[inside, 0], level, atol=1e-4)


def add_neighbour_dir(data_dir: Path, lengths: dict, utt2rec: list) -> Path:
    """``data_dir/neighbours/``: segments that are only context (the corpus's split left them out)."""
    extra = data_dir / NEIGHBOUR_DIR
    extra.mkdir()
    for utt, n in lengths.items():
        soundfile.write(extra / f"{utt}.flac", np.full(n, -0.5), 16000, subtype="PCM_16")
    write_lines(extra / "wav.scp", [f"{u} {extra / u}.flac" for u in lengths])
    write_lines(extra / "utt2spk", [f"{u} {u}" for u in lengths])
    write_lines(extra / "utt2rec", utt2rec)
    return extra


def test_neighbour_only_segments_fill_the_gaps_but_are_no_training_items(data_dir, capsys):
    # a3 was filtered out of the split; the release has it, and b1 after b0.
    extra = add_neighbour_dir(data_dir, {"a3": 700, "b1": 900}, ["a3 A 3", "b1 B 1"])
    conf = write_config(data_dir.parent / "c.yaml", "model: ctx_aware\n")
    assert main(["--config", str(conf), "--data_dir", str(data_dir), "--option", "x", "--training", "--write"]) == 0
    folder = data_dir / "context" / "neighbours_m1_p1"
    assert (folder / "speech_next.scp").read_text() == (
        f"a0 {data_dir}/a1.flac\na1 {data_dir}/a2.flac\na2 {extra}/a3.flac\nb0 {extra}/b1.flac\n")
    assert (folder / "ctx_mask").read_text() == "a0 0 1\na1 1 1\na2 1 1\nb0 0 1\n"
    assert (data_dir / "context" / "utt2pos").read_text() == "a0 0 0\na1 0 1\na2 0 2\nb0 1 0\n"


def test_injected_audio_takes_neighbour_only_segments_but_writes_only_utterances(data_dir):
    add_neighbour_dir(data_dir, {"b1": 900}, ["b1 B 1"])
    conf = write_config(data_dir.parent / "c.yaml", "frontend: ssl_upstream_inject\nfrontend_conf:\n"
                        "  context_offsets: [-1, 1]\n  weights: random\n  arch: tiny\n")
    assert main(["--config", str(conf), "--data_dir", str(data_dir), "--option", "x", "--write"]) == 0
    (path, _, _), = inputs_for(ContextSpec("inject", (-1, 1)), data_dir, training=False)
    scp = dict(line.split() for line in Path(path).read_text().splitlines())
    assert sorted(scp) == ["a0", "a1", "a2", "b0"]
    audio, _ = soundfile.read(scp["b0"])
    assert len(audio) == 800 + 900 and np.allclose(audio[800:, 0], -0.5, atol=1e-4)


@pytest.mark.parametrize("utt2rec, message", [
    (["a1 A 5"], "neighbours/wav.scp: 'a1' is also an utterance of"),
    (["x9 A 1"], "neighbours/utt2rec:1: 'x9' has the same recording and index as 'a1'"),
])
def test_a_neighbour_only_segment_that_clashes_with_an_utterance_is_named(data_dir, utt2rec, message, capsys):
    add_neighbour_dir(data_dir, {utt2rec[0].split()[0]: 500}, utt2rec)
    conf = write_config(data_dir.parent / "c.yaml", "model: ctx_aware\n")
    assert main(["--config", str(conf), "--data_dir", str(data_dir), "--option", "x", "--training", "--write"]) == 1
    assert message in capsys.readouterr().err


def test_only_context_injection_gets_its_own_statistics_dir(tmp_path, capsys):
    # Its speech is the injected audio: its shapes must not replace those the other systems batch by.
    for text, suffix in [("frontend: ssl_upstream\n", ""), ("model: ctx_aware\n", ""),
                         ("frontend: ssl_upstream_inject\n", "_inject_m1_p1")]:
        conf = write_config(tmp_path / "c.yaml", text)
        assert main(["--config", str(conf), "--stats_suffix"]) == 0
        assert capsys.readouterr().out == suffix + "\n"
    with pytest.raises(SystemExit):
        main(["--config", str(conf)])
    assert "--data_dir and --option are required" in capsys.readouterr().err


def test_missing_files_and_unknown_utterances_are_reported(data_dir, tmp_path, capsys):
    conf = write_config(tmp_path / "c.yaml", "model: ctx_aware\n")
    assert main(["--config", str(conf), "--data_dir", str(data_dir), "--option", "x", "--training"]) == 1
    assert "speech_prev.scp: missing (written by stage 10" in capsys.readouterr().err
    write_lines(data_dir / "utt2rec", ["a0 A 0", "a1 A 1", "a2 A 2"])
    assert main(["--config", str(conf), "--data_dir", str(data_dir), "--option", "x", "--training", "--write"]) == 1
    assert "utt2rec: no entry for 'b0'" in capsys.readouterr().err


@pytest.mark.parametrize("name, kind", [
    ("mini_slue/train_asr_ctxaware_neighbours_ctc", "neighbours"),
    ("mini_slue/train_asr_ctxaware_batch_ctc", "batch"),
    ("mini_slue/train_asr_ctxinject_ctc", "inject"),
    ("mini_slue/train_sentiment_ctxaware_neighbours_meanpool", "neighbours"),
    ("mini_slue/train_sentiment_ctxaware_batch_meanpool", "batch"),
    ("mini_slue/train_sentiment_ctxinject_meanpool", "inject"),
    ("mini_slue/train_asr_ssl_tiny_pretrained_ctc", "standard"),
    ("fsdd_digits/train_asr_ctxaware_neighbours_ctc", "neighbours"),
    ("fsdd_digits/train_asr_ctxaware_batch_ctc", "batch"),
    ("fsdd_digits/train_asr_ctxinject_ctc", "inject"),
    ("fsdd_digits/train_asr_ssl_tiny_pretrained_ctc", "standard"),
])
def test_shipped_configs_name_their_data(name, kind):
    recipe, name = name.split("/")
    path = Path(__file__).resolve().parents[1] / f"egs2/{recipe}/asr1/conf/tuning" / f"{name}.yaml"
    conf = yaml.safe_load(path.read_text())
    assert spec_from_config(conf).kind == kind
    if kind == "batch":  # validation reads speech only, so it cannot batch by recording
        assert (conf["batch_type"], conf["valid_batch_type"]) == ("recording", "numel")
